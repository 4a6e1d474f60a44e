package io.sparge4j.engine.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/**
 * An n-dimensional array in off-heap memory, row-major and contiguous.
 *
 * <p>Memory is aligned to 64 bytes. A tensor made by {@code allocate} or the factories owns its memory:
 * {@link #close()} frees it at once, and a cleaner frees it if the tensor is dropped unclosed. Views
 * ({@link #reshape}, {@link #select}, {@link #narrow}) share memory with their base and never own it,
 * so closing a view does nothing. A tensor allocated in a caller's {@link Arena}, or wrapping a
 * caller's segment, lives as long as that arena.
 *
 * <p>Elements are addressed by a flat row-major index. {@link #getFloat(long)} and
 * {@link #setFloat(long, float)} convert to and from any floating-point or integer dtype.
 */
public final class Tensor implements AutoCloseable {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT;
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG;

    private final Storage storage;
    private final MemorySegment data;
    private final DType dtype;
    private final int[] shape;
    private final long numel;
    private final boolean view;

    private Tensor(Storage storage, MemorySegment data, DType dtype, int[] shape, boolean view) {
        this.storage = storage;
        this.data = data;
        this.dtype = dtype;
        this.shape = shape;
        this.numel = numelOf(shape);
        this.view = view;
    }

    // ---------------------------------------------------------------- creation

    /**
     * Allocates a zero-filled tensor that owns its memory.
     *
     * @param dtype element type
     * @param shape dimensions, each at least 0
     * @return the tensor
     */
    public static Tensor allocate(DType dtype, int... shape) {
        int[] s = checkShape("allocate", shape);
        long bytes = numelOf(s) * Objects.requireNonNull(dtype, "dtype").byteSize();
        Storage st = Storage.allocateOwned(bytes);
        return new Tensor(st, st.segment().asSlice(0, bytes), dtype, s, false);
    }

    /**
     * Allocates a zero-filled tensor in a caller's arena; the arena frees it.
     *
     * @param arena the owner of the memory
     * @param dtype element type
     * @param shape dimensions
     * @return the tensor
     */
    public static Tensor allocate(Arena arena, DType dtype, int... shape) {
        int[] s = checkShape("allocate", shape);
        long bytes = numelOf(s) * dtype.byteSize();
        Storage st = Storage.allocateIn(arena, bytes);
        return new Tensor(st, st.segment().asSlice(0, bytes), dtype, s, false);
    }

    /**
     * Wraps existing memory without copying (for example a memory-mapped file). The caller keeps
     * ownership of the segment.
     *
     * @param segment memory holding exactly {@code numel * dtype.byteSize()} bytes
     * @param dtype element type
     * @param shape dimensions
     * @return a tensor over the segment
     * @throws IllegalArgumentException if the segment's size does not match the shape
     */
    public static Tensor wrap(MemorySegment segment, DType dtype, int... shape) {
        int[] s = checkShape("wrap", shape);
        long bytes = numelOf(s) * dtype.byteSize();
        if (segment.byteSize() != bytes) {
            throw new IllegalArgumentException("Tensor.wrap: segment has " + segment.byteSize() + " bytes, expected "
                    + bytes + " for " + dtype + " " + Arrays.toString(s));
        }
        return new Tensor(Storage.borrow(segment), segment, dtype, s, true);
    }

    /**
     * Wraps existing memory without copying and takes charge of it: {@code release} runs once, when the tensor is
     * closed or collected (for example a slice of a shared file mapping whose holder counts its users).
     *
     * @param segment memory holding exactly {@code numel * dtype.byteSize()} bytes
     * @param release what closing the tensor does, at most once; it must not refer to the tensor
     * @param dtype element type
     * @param shape dimensions
     * @return a tensor over the segment
     * @throws IllegalArgumentException if the segment's size does not match the shape or release is null
     */
    public static Tensor adopt(MemorySegment segment, Runnable release, DType dtype, int... shape) {
        int[] s = checkShape("adopt", shape);
        long bytes = numelOf(s) * dtype.byteSize();
        if (segment.byteSize() != bytes || release == null) {
            throw new IllegalArgumentException("Tensor.adopt: segment has " + segment.byteSize() + " bytes and release"
                    + " is " + release + ", expected " + bytes + " bytes for " + dtype + " " + Arrays.toString(s)
                    + " and a release action");
        }
        return new Tensor(Storage.adopt(segment, release), segment, dtype, s, false);
    }

    /** @return a new f32 tensor holding a copy of {@code values}, with the given shape */
    public static Tensor of(float[] values, int... shape) {
        return of(DType.F32, values, shape);
    }

    /**
     * Creates a floating-point tensor from a Java array, rounding to the dtype.
     *
     * @param dtype F32, BF16 or F16
     * @param values row-major values; length must equal the shape's element count
     * @param shape dimensions
     * @return the tensor
     */
    public static Tensor of(DType dtype, float[] values, int... shape) {
        int[] s = checkShape("of", shape);
        if (values.length != numelOf(s)) {
            throw new IllegalArgumentException("Tensor.of: values has " + values.length + " elements, expected "
                    + numelOf(s) + " for shape " + Arrays.toString(s));
        }
        Tensor t = allocate(dtype, s);
        if (dtype == DType.F32) {
            MemorySegment.copy(values, 0, t.data, F32, 0, values.length);
        } else {
            for (int i = 0; i < values.length; i++) {
                t.setFloat(i, values[i]);
            }
        }
        return t;
    }

    /** @return a new i32 tensor holding a copy of {@code values} */
    public static Tensor ofInts(int[] values, int... shape) {
        int[] s = checkShape("ofInts", shape);
        if (values.length != numelOf(s)) {
            throw new IllegalArgumentException("Tensor.ofInts: values has " + values.length + " elements, expected "
                    + numelOf(s) + " for shape " + Arrays.toString(s));
        }
        Tensor t = allocate(DType.I32, s);
        MemorySegment.copy(values, 0, t.data, I32, 0, values.length);
        return t;
    }

    /** @return an f32 tensor filled with {@code value} */
    public static Tensor full(float value, int... shape) {
        Tensor t = allocate(DType.F32, shape);
        t.fill(value);
        return t;
    }

    /** @return a zero-filled f32 tensor */
    public static Tensor zeros(int... shape) {
        return allocate(DType.F32, shape);
    }

    /** @return an f32 tensor of standard normal samples from a generator seeded with {@code seed} */
    public static Tensor randn(long seed, int... shape) {
        return randn(new SplittableRandom(seed), DType.F32, shape);
    }

    /**
     * Fills a new tensor with standard normal samples, drawn in row-major order.
     *
     * @param rng the generator (its state advances)
     * @param dtype F32, BF16 or F16 (samples are rounded)
     * @param shape dimensions
     * @return the tensor
     */
    public static Tensor randn(RandomGenerator rng, DType dtype, int... shape) {
        Tensor t = allocate(checkFloat("randn", dtype), shape);
        for (long i = 0; i < t.numel; i++) {
            t.setFloat(i, (float) rng.nextGaussian());
        }
        return t;
    }

    /** @return an f32 tensor of uniform samples in [lo, hi) from a generator seeded with {@code seed} */
    public static Tensor rand(long seed, float lo, float hi, int... shape) {
        return rand(new SplittableRandom(seed), DType.F32, lo, hi, shape);
    }

    /**
     * Fills a new tensor with uniform samples in [lo, hi), drawn in row-major order.
     *
     * @param rng the generator (its state advances)
     * @param dtype F32, BF16 or F16
     * @param lo lower bound (inclusive)
     * @param hi upper bound (exclusive), greater than lo
     * @param shape dimensions
     * @return the tensor
     */
    public static Tensor rand(RandomGenerator rng, DType dtype, float lo, float hi, int... shape) {
        if (!(hi > lo)) {
            throw new IllegalArgumentException("Tensor.rand: hi must be greater than lo, got lo=" + lo + " hi=" + hi);
        }
        Tensor t = allocate(checkFloat("rand", dtype), shape);
        for (long i = 0; i < t.numel; i++) {
            t.setFloat(i, (float) rng.nextDouble(lo, hi));
        }
        return t;
    }

    // ---------------------------------------------------------------- metadata

    /** @return the element type */
    public DType dtype() {
        return dtype;
    }

    /** @return a copy of the dimensions */
    public int[] shape() {
        return shape.clone();
    }

    /** @return the number of dimensions */
    public int rank() {
        return shape.length;
    }

    /**
     * @param axis a dimension index; negative counts from the end
     * @return the size of that dimension
     */
    public int dim(int axis) {
        int a = axis < 0 ? axis + shape.length : axis;
        if (a < 0 || a >= shape.length) {
            throw new IllegalArgumentException("Tensor.dim: axis " + axis + " out of range for rank " + shape.length);
        }
        return shape[a];
    }

    /** @return the number of elements */
    public long numel() {
        return numel;
    }

    /** @return the size of the data in bytes */
    public long byteSize() {
        return numel * dtype.byteSize();
    }

    /** @return the memory holding exactly this tensor's elements, row-major */
    public MemorySegment segment() {
        return data;
    }

    /** @return true if this tensor shares memory with another tensor it does not own */
    public boolean isView() {
        return view;
    }

    /** @return true if {@code other} has the same shape (dtype aside) */
    public boolean sameShape(Tensor other) {
        return Arrays.equals(shape, other.shape);
    }

    // ---------------------------------------------------------------- element access

    /** @return element {@code i} (flat row-major index) as a float, converting from the dtype */
    public float getFloat(long i) {
        return switch (dtype) {
            case F32 -> data.getAtIndex(F32, i);
            case BF16 -> HalfFloats.bf16ToFloat(data.getAtIndex(I16, i));
            case F16 -> Float.float16ToFloat(data.getAtIndex(I16, i));
            case I32 -> data.getAtIndex(I32, i);
            case I64 -> data.getAtIndex(I64, i);
            case U8, BOOL -> data.get(ValueLayout.JAVA_BYTE, i) & 0xff;
        };
    }

    /** Stores {@code v} at flat index {@code i}, rounding or truncating to the dtype. */
    public void setFloat(long i, float v) {
        switch (dtype) {
            case F32 -> data.setAtIndex(F32, i, v);
            case BF16 -> data.setAtIndex(I16, i, HalfFloats.floatToBf16(v));
            case F16 -> data.setAtIndex(I16, i, Float.floatToFloat16(v));
            case I32 -> data.setAtIndex(I32, i, (int) v);
            case I64 -> data.setAtIndex(I64, i, (long) v);
            case U8 -> data.set(ValueLayout.JAVA_BYTE, i, (byte) (int) v);
            case BOOL -> data.set(ValueLayout.JAVA_BYTE, i, (byte) (v != 0 ? 1 : 0));
        }
    }

    /** @return element {@code i} of an integer tensor (i32, i64, u8, bool) */
    public long getLong(long i) {
        return switch (dtype) {
            case I32 -> data.getAtIndex(I32, i);
            case I64 -> data.getAtIndex(I64, i);
            case U8, BOOL -> data.get(ValueLayout.JAVA_BYTE, i) & 0xff;
            default -> (long) getFloat(i);
        };
    }

    /** Stores an integer at flat index {@code i}. */
    public void setLong(long i, long v) {
        switch (dtype) {
            case I32 -> data.setAtIndex(I32, i, (int) v);
            case I64 -> data.setAtIndex(I64, i, v);
            case U8 -> data.set(ValueLayout.JAVA_BYTE, i, (byte) v);
            case BOOL -> data.set(ValueLayout.JAVA_BYTE, i, (byte) (v != 0 ? 1 : 0));
            default -> setFloat(i, v);
        }
    }

    /** @return the element at a multi-dimensional index, as a float */
    public float get(int... index) {
        return getFloat(flatIndex(index));
    }

    /** Stores {@code value} at a multi-dimensional index. */
    public void set(float value, int... index) {
        setFloat(flatIndex(index), value);
    }

    /**
     * @param index one index per dimension
     * @return the row-major flat index
     */
    public long flatIndex(int... index) {
        if (index.length != shape.length) {
            throw new IllegalArgumentException("Tensor index: got " + index.length + " indices, expected " + shape.length);
        }
        long flat = 0;
        for (int d = 0; d < shape.length; d++) {
            if (index[d] < 0 || index[d] >= shape[d]) {
                throw new IndexOutOfBoundsException("Tensor index " + Arrays.toString(index) + " out of bounds for shape "
                        + Arrays.toString(shape));
            }
            flat = flat * shape[d] + index[d];
        }
        return flat;
    }

    /** Sets every element to {@code value}. */
    public void fill(float value) {
        if (dtype == DType.F32) {
            if (value == 0f) {
                data.fill((byte) 0);
            } else {
                for (long i = 0; i < numel; i++) {
                    data.setAtIndex(F32, i, value);
                }
            }
        } else {
            for (long i = 0; i < numel; i++) {
                setFloat(i, value);
            }
        }
    }

    /** @return all elements as floats, row-major (the tensor must have fewer than 2^31 elements) */
    public float[] toFloatArray() {
        float[] out = new float[checkArraySize()];
        if (dtype == DType.F32) {
            MemorySegment.copy(data, F32, 0, out, 0, out.length);
        } else {
            for (int i = 0; i < out.length; i++) {
                out[i] = getFloat(i);
            }
        }
        return out;
    }

    /** @return all elements as doubles, row-major (handy for float64 references) */
    public double[] toDoubleArray() {
        double[] out = new double[checkArraySize()];
        for (int i = 0; i < out.length; i++) {
            out[i] = getFloat(i);
        }
        return out;
    }

    /** @return all elements of an integer tensor as ints */
    public int[] toIntArray() {
        int[] out = new int[checkArraySize()];
        if (dtype == DType.I32) {
            MemorySegment.copy(data, I32, 0, out, 0, out.length);
        } else {
            for (int i = 0; i < out.length; i++) {
                out[i] = (int) getLong(i);
            }
        }
        return out;
    }

    /** Copies {@code values} (row-major, one per element) into this tensor, rounding to the dtype. */
    public void copyFrom(float[] values) {
        if (values.length != numel) {
            throw new IllegalArgumentException("Tensor.copyFrom: values has " + values.length + " elements, expected " + numel);
        }
        if (dtype == DType.F32) {
            MemorySegment.copy(values, 0, data, F32, 0, values.length);
        } else {
            for (int i = 0; i < values.length; i++) {
                setFloat(i, values[i]);
            }
        }
    }

    /** Copies another tensor's elements into this one, converting dtypes; shapes must match. */
    public void copyFrom(Tensor src) {
        if (!Arrays.equals(shape, src.shape)) {
            throw new IllegalArgumentException("Tensor.copyFrom: src has shape " + Arrays.toString(src.shape)
                    + ", expected " + Arrays.toString(shape));
        }
        if (dtype == src.dtype) {
            MemorySegment.copy(src.data, 0, data, 0, byteSize());
        } else if (dtype.isFloatingPoint() || src.dtype.isFloatingPoint()) {
            for (long i = 0; i < numel; i++) {
                setFloat(i, src.getFloat(i));
            }
        } else {
            for (long i = 0; i < numel; i++) {
                setLong(i, src.getLong(i));
            }
        }
    }

    // ---------------------------------------------------------------- copies and views

    /** @return a new tensor that owns a copy of this one's data */
    public Tensor copy() {
        return to(dtype);
    }

    /** @return a new tensor holding this one's values converted to {@code target} */
    public Tensor to(DType target) {
        Tensor out = allocate(target, shape);
        out.copyFrom(this);
        return out;
    }

    /**
     * A view with a new shape and the same elements. One dimension may be -1 and is inferred.
     *
     * @param newShape the new dimensions
     * @return a view sharing this tensor's memory
     */
    public Tensor reshape(int... newShape) {
        int[] s = newShape.clone();
        int infer = -1;
        long known = 1;
        for (int d = 0; d < s.length; d++) {
            if (s[d] == -1) {
                if (infer >= 0) {
                    throw new IllegalArgumentException("Tensor.reshape: only one -1 allowed, got " + Arrays.toString(newShape));
                }
                infer = d;
            } else if (s[d] < 0) {
                throw new IllegalArgumentException("Tensor.reshape: negative size in " + Arrays.toString(newShape));
            } else {
                known *= s[d];
            }
        }
        if (infer >= 0) {
            if (known == 0 || numel % known != 0) {
                throw new IllegalArgumentException("Tensor.reshape: cannot infer -1 in " + Arrays.toString(newShape)
                        + " for " + numel + " elements of shape " + Arrays.toString(shape));
            }
            s[infer] = Math.toIntExact(numel / known);
        }
        if (numelOf(s) != numel) {
            throw new IllegalArgumentException("Tensor.reshape: " + Arrays.toString(newShape) + " holds " + numelOf(s)
                    + " elements, expected " + numel + " (shape " + Arrays.toString(shape) + ")");
        }
        return new Tensor(storage, data, dtype, s, true);
    }

    /**
     * A view of the sub-tensor at {@code index} along dimension 0 (rank drops by one).
     *
     * @param index position along dimension 0
     * @return the view
     */
    public Tensor select(int index) {
        if (shape.length == 0 || index < 0 || index >= shape[0]) {
            throw new IllegalArgumentException("Tensor.select: index " + index + " out of range for shape " + Arrays.toString(shape));
        }
        int[] s = Arrays.copyOfRange(shape, 1, shape.length);
        long bytes = numelOf(s) * dtype.byteSize();
        return new Tensor(storage, data.asSlice(index * bytes, bytes), dtype, s, true);
    }

    /**
     * A view of rows {@code [start, start + length)} along dimension 0.
     *
     * @param start first index along dimension 0
     * @param length number of indices
     * @return the view
     */
    public Tensor narrow(int start, int length) {
        if (shape.length == 0 || start < 0 || length < 0 || start + length > shape[0]) {
            throw new IllegalArgumentException("Tensor.narrow: [" + start + ", " + (start + length) + ") out of range for shape "
                    + Arrays.toString(shape));
        }
        int[] s = shape.clone();
        s[0] = length;
        long rowBytes = numel / Math.max(1, shape[0]) * dtype.byteSize();
        return new Tensor(storage, data.asSlice(start * rowBytes, length * rowBytes), dtype, s, true);
    }

    /** Frees owned memory now. Views and borrowed tensors are left to their owners. */
    @Override
    public void close() {
        if (!view) {
            storage.close();
        }
    }

    // ---------------------------------------------------------------- text

    /** @return dtype, shape and the first few values, e.g. {@code Tensor[f32 (2, 3)] [0.1, -1.2, ...]} */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("Tensor[").append(dtype).append(" (");
        for (int d = 0; d < shape.length; d++) {
            sb.append(d == 0 ? "" : ", ").append(shape[d]);
        }
        sb.append(")] [");
        long shown = Math.min(numel, 6);
        for (long i = 0; i < shown; i++) {
            sb.append(i == 0 ? "" : ", ");
            if (dtype.isFloatingPoint()) {
                sb.append(String.format(java.util.Locale.ROOT, "%.4g", getFloat(i)));
            } else {
                sb.append(getLong(i));
            }
        }
        return sb.append(numel > shown ? ", ...]" : "]").toString();
    }

    // ---------------------------------------------------------------- helpers

    /** @return the element count of a shape */
    public static long numelOf(int... shape) {
        long n = 1;
        for (int s : shape) {
            n *= s;
        }
        return n;
    }

    private static int[] checkShape(String op, int[] shape) {
        Objects.requireNonNull(shape, "shape");
        for (int s : shape) {
            if (s < 0) {
                throw new IllegalArgumentException("Tensor." + op + ": shape " + Arrays.toString(shape)
                        + " has a negative dimension, expected sizes >= 0");
            }
        }
        return shape.clone();
    }

    private static DType checkFloat(String op, DType dtype) {
        if (!dtype.isFloatingPoint()) {
            throw new IllegalArgumentException("Tensor." + op + ": dtype " + dtype + ", expected f32, bf16 or f16");
        }
        return dtype;
    }

    private int checkArraySize() {
        if (numel > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("tensor of " + numel + " elements does not fit a Java array");
        }
        return (int) numel;
    }
}
