package io.sparge4j.engine.gpu;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.types.arrays.NativeArray;

import java.util.Arrays;

/**
 * A tensor whose elements live in device memory of one {@link DeviceSession}: row-major, contiguous, f32 (the op
 * layer's type), bf16, f16 or i32. It is read only through {@link #toHost}; {@link #close} frees its memory (a reshaped
 * view shares the memory, which is freed when the last of them is closed).
 */
public final class DeviceTensor implements AutoCloseable {
    private final DeviceSession session;
    private final DeviceStorage storage;
    private final int[] shape;
    private boolean closed;

    DeviceTensor(DeviceSession session, DeviceStorage storage, int[] shape) {
        this.session = session;
        this.storage = storage;
        this.shape = shape;
    }

    /** @return the session the tensor lives in */
    public DeviceSession session() {
        return session;
    }

    /** @return the element type */
    public DType dtype() {
        return storage.dtype;
    }

    /** @return a copy of the shape */
    public int[] shape() {
        return shape.clone();
    }

    /** @return the number of dimensions */
    public int rank() {
        return shape.length;
    }

    /**
     * @param axis a dimension, negative counting from the end
     * @return its extent
     */
    public int dim(int axis) {
        int a = axis < 0 ? axis + shape.length : axis;
        if (a < 0 || a >= shape.length) {
            throw new IllegalArgumentException("axis: got " + axis + ", expected -" + shape.length + ".."
                    + (shape.length - 1) + " for shape " + Arrays.toString(shape));
        }
        return shape[a];
    }

    /** @return the element count */
    public long numel() {
        return storage.elements;
    }

    /**
     * Copies the tensor to the host, after every op enqueued before (the only place where ops wait).
     *
     * @return a new host tensor of the same dtype and shape, owned by the caller
     */
    public Tensor toHost() {
        check("toHost");
        return session.toHost(this);
    }

    /**
     * @param newShape the new shape, with the same element count
     * @return a view sharing this tensor's memory (close it too; the memory is freed with the last view)
     */
    public DeviceTensor reshape(int... newShape) {
        check("reshape");
        long n = 1;
        for (int s : newShape) {
            if (s < 0) {
                throw new IllegalArgumentException("reshape: new shape " + Arrays.toString(newShape)
                        + " has a negative dimension, expected dimensions >= 0");
            }
            n *= s;
        }
        if (n != storage.elements) {
            throw new IllegalArgumentException("reshape: new shape " + Arrays.toString(newShape) + " has " + n
                    + " elements, expected " + storage.elements + " as " + Arrays.toString(shape));
        }
        storage.retain();
        return new DeviceTensor(session, storage, newShape.clone());
    }

    /** Frees the device memory once no view uses it; closing twice is harmless. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (session.isOpen()) {
            session.release(storage);
        }
    }

    /** @return whether {@link #close} was called */
    public boolean isClosed() {
        return closed;
    }

    /** @return e.g. {@code DeviceTensor[F32 [24, 32] on opencl]} */
    @Override
    public String toString() {
        return "DeviceTensor[" + storage.dtype + " " + Arrays.toString(shape) + " on " + session.backendName()
                + (closed ? ", closed" : "") + "]";
    }

    DeviceStorage storage() {
        return storage;
    }

    /** @return the kernel array standing for this tensor in task arguments */
    NativeArray array() {
        check("use");
        return storage.handle;
    }

    private void check(String op) {
        if (closed) {
            throw new IllegalStateException(op + ": " + this + " is closed, expected an open tensor");
        }
        if (!session.isOpen()) {
            throw new IllegalStateException(op + ": the session of " + this + " is closed, expected an open one");
        }
    }
}
