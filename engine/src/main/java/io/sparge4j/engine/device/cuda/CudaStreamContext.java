package io.sparge4j.engine.device.cuda;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.CudaDriver;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * One GPU's primary context (the one the CUDA runtime, NCCL and {@link CudaDevice} share, so device pointers from any
 * of them are valid here) and a non-blocking stream of its own, with the memory calls that staging host data needs:
 * what a library driving the GPU beside the engine (NCCL) works with. Built on the engine's {@link CudaCalls}.
 *
 * <p>Not thread-safe; call {@link #makeCurrent()} on the calling thread first (CUDA binds contexts per OS thread).
 */
public final class CudaStreamContext implements AutoCloseable {
    private final CudaCalls cuda;
    private final int ordinal;
    private final int device;
    private final MemorySegment context;
    private final MemorySegment stream;

    private CudaStreamContext(CudaDriver driver, int ordinal) {
        this.cuda = new CudaCalls(driver);
        this.ordinal = ordinal;
        this.device = driver.device(ordinal);
        this.context = cuda.primaryContextRetain(device);
        MemorySegment created;
        try {
            makeCurrent();
            created = cuda.streamCreate(CudaCalls.STREAM_NON_BLOCKING);
        } catch (RuntimeException e) {
            cuda.primaryContextRelease(device);
            throw e;
        }
        this.stream = created;
    }

    /**
     * @param ordinal the CUDA device's index (a rank's {@code LOCAL_RANK})
     * @param purpose who needs the GPU, for the messages (e.g. "NCCL")
     * @return its primary context, current on this thread, with a new stream
     * @throws BackendException without a driver or with no such device, saying what to do
     */
    public static CudaStreamContext open(int ordinal, String purpose) {
        CudaDriver driver;
        try {
            driver = CudaDriver.load();
            driver.init();
        } catch (BackendException e) {
            throw new BackendException(purpose + " needs a CUDA GPU: " + e.getMessage(), e);
        }
        int count = driver.deviceCount();
        if (ordinal < 0 || ordinal >= count) {
            throw new BackendException("CUDA device: got ordinal " + ordinal + " (the rank's LOCAL_RANK), expected 0 to "
                    + (count - 1) + ": the driver sees " + count + " GPU" + (count == 1 ? "" : "s")
                    + ". Start at most that many ranks per host (sparge launch --gpus " + Math.max(count, 1)
                    + "), or check CUDA_VISIBLE_DEVICES");
        }
        return new CudaStreamContext(driver, ordinal);
    }

    /** @return the device's index */
    public int ordinal() {
        return ordinal;
    }

    /** @return the device's name */
    public String deviceName() {
        return cuda.driver().deviceName(device);
    }

    /** @return this context's stream ({@code CUstream}, which is also a {@code cudaStream_t}) */
    public MemorySegment stream() {
        return stream;
    }

    /** Makes the context current on this thread: CUDA binds contexts per OS thread, and callers may move. */
    public void makeCurrent() {
        cuda.setCurrent(context);
    }

    /** @return a new device allocation of {@code bytes} ({@code CUdeviceptr}) */
    public long allocate(long bytes) {
        return cuda.memAlloc(bytes);
    }

    /** Frees what {@link #allocate} returned. */
    public void free(long pointer) {
        cuda.memFree(pointer);
    }

    /** Copies host memory to the device and waits, so the host memory may be reused at once. */
    public void copyToDevice(MemorySegment host, long pointer) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment source = host.isNative() ? host : arena.allocate(host.byteSize()).copyFrom(host);
            cuda.memcpyHtoDAsync(pointer, source, source.byteSize(), stream);
            synchronize();
        }
    }

    /** Copies device memory to the host and waits. */
    public void copyToHost(long pointer, MemorySegment host) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment target = host.isNative() ? host : arena.allocate(host.byteSize());
            cuda.memcpyDtoHAsync(target, pointer, target.byteSize(), stream);
            synchronize();
            if (target != host) {
                host.copyFrom(target);
            }
        }
    }

    /** Waits for this stream's work. */
    public void synchronize() {
        cuda.streamSynchronize(stream);
    }

    /** Waits for every stream of the context: work another stream (the engine's) queued on shared buffers. */
    public void synchronizeContext() {
        cuda.ctxSynchronize();
    }

    /** Finishes the stream's work, destroys it and releases the context; every step is tried, the first failure is thrown. */
    @Override
    public void close() {
        RuntimeException failure = null;
        Runnable[] steps = {this::makeCurrent, this::synchronize, () -> cuda.streamDestroy(stream),
            () -> cuda.primaryContextRelease(device)};
        for (Runnable step : steps) {
            try {
                step.run();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }
}
