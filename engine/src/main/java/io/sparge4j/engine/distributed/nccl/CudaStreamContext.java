package io.sparge4j.engine.distributed.nccl;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.CudaDriver;
import io.sparge4j.engine.device.CudaException;
import io.sparge4j.engine.device.NativeLibrary;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * One GPU's primary context (the one the CUDA runtime, NCCL and the engine's {@code CudaDevice} share, so device
 * pointers from any of them are valid here) and a non-blocking stream for NCCL's work, with the driver calls that
 * staging host tensors needs. The engine's own CUDA bindings keep theirs package-private, hence these few.
 *
 * <p>Not thread-safe: {@link NcclCommunicator} calls it under its lock, after {@link #makeCurrent()}.
 */
final class CudaStreamContext implements AutoCloseable {
    /** {@code CU_STREAM_NON_BLOCKING}. */
    private static final int STREAM_NON_BLOCKING = 0x1;

    private final CudaDriver driver;
    private final int ordinal;
    private final int device;
    private final MethodHandle primaryCtxRetain;
    private final MethodHandle primaryCtxRelease;
    private final MethodHandle ctxSetCurrent;
    private final MethodHandle ctxSynchronize;
    private final MethodHandle streamCreate;
    private final MethodHandle streamSynchronize;
    private final MethodHandle streamDestroy;
    private final MethodHandle memAlloc;
    private final MethodHandle memFree;
    private final MethodHandle memcpyHtoDAsync;
    private final MethodHandle memcpyDtoHAsync;
    private final MemorySegment context;
    private final MemorySegment stream;

    private CudaStreamContext(CudaDriver driver, int ordinal) {
        this.driver = driver;
        this.ordinal = ordinal;
        NativeLibrary lib = driver.library();
        FunctionDescriptor handleIn = FunctionDescriptor.of(JAVA_INT, ADDRESS);
        primaryCtxRetain = lib.function("cuDevicePrimaryCtxRetain", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        primaryCtxRelease = lib.function("cuDevicePrimaryCtxRelease_v2", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
        ctxSetCurrent = lib.function("cuCtxSetCurrent", handleIn);
        ctxSynchronize = lib.function("cuCtxSynchronize", FunctionDescriptor.of(JAVA_INT));
        streamCreate = lib.function("cuStreamCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        streamSynchronize = lib.function("cuStreamSynchronize", handleIn);
        streamDestroy = lib.function("cuStreamDestroy_v2", handleIn);
        memAlloc = lib.function("cuMemAlloc_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
        memFree = lib.function("cuMemFree_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
        memcpyHtoDAsync = lib.function("cuMemcpyHtoDAsync_v2",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS));
        memcpyDtoHAsync = lib.function("cuMemcpyDtoHAsync_v2",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS));
        device = driver.device(ordinal);
        context = pointerOut("cuDevicePrimaryCtxRetain", primaryCtxRetain, device);
        MemorySegment created;
        try {
            makeCurrent();
            created = pointerOut("cuStreamCreate", streamCreate, STREAM_NON_BLOCKING);
        } catch (RuntimeException e) {
            call("cuDevicePrimaryCtxRelease_v2", () -> (int) primaryCtxRelease.invokeExact(device));
            throw e;
        }
        stream = created;
    }

    /**
     * @param ordinal the CUDA device's index (the rank's {@code LOCAL_RANK})
     * @return its primary context, current on this thread, with a new stream
     * @throws BackendException without a driver or with no such device, saying what to do
     */
    static CudaStreamContext open(int ordinal) {
        CudaDriver driver;
        try {
            driver = CudaDriver.load();
            driver.init();
        } catch (BackendException e) {
            throw new BackendException("NCCL needs a CUDA GPU: " + e.getMessage(), e);
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

    int ordinal() {
        return ordinal;
    }

    String deviceName() {
        return driver.deviceName(device);
    }

    MemorySegment stream() {
        return stream;
    }

    /** Makes the context current on this thread: CUDA binds contexts per OS thread, and callers may move. */
    void makeCurrent() {
        call("cuCtxSetCurrent", () -> (int) ctxSetCurrent.invokeExact(context));
    }

    long allocate(long bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            call("cuMemAlloc_v2", () -> (int) memAlloc.invokeExact(out, bytes));
            return out.get(JAVA_LONG, 0);
        }
    }

    void free(long pointer) {
        call("cuMemFree_v2", () -> (int) memFree.invokeExact(pointer));
    }

    /** Copies host memory to the device and waits, so the host memory may be reused at once. */
    void copyToDevice(MemorySegment host, long pointer) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment source = host.isNative() ? host : arena.allocate(host.byteSize()).copyFrom(host);
            call("cuMemcpyHtoDAsync_v2",
                    () -> (int) memcpyHtoDAsync.invokeExact(pointer, source, source.byteSize(), stream));
            synchronize();
        }
    }

    /** Copies device memory to the host and waits. */
    void copyToHost(long pointer, MemorySegment host) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment target = host.isNative() ? host : arena.allocate(host.byteSize());
            call("cuMemcpyDtoHAsync_v2",
                    () -> (int) memcpyDtoHAsync.invokeExact(target, pointer, target.byteSize(), stream));
            synchronize();
            if (target != host) {
                host.copyFrom(target);
            }
        }
    }

    /** Waits for this stream's work (NCCL's). */
    void synchronize() {
        call("cuStreamSynchronize", () -> (int) streamSynchronize.invokeExact(stream));
    }

    /** Waits for every stream of the context: work another stream (the engine's) queued on buffers NCCL reads. */
    void synchronizeContext() {
        call("cuCtxSynchronize", () -> (int) ctxSynchronize.invokeExact());
    }

    @Override
    public void close() {
        RuntimeException failure = null;
        String[] names = {"cuCtxSetCurrent", "cuStreamSynchronize", "cuStreamDestroy_v2",
            "cuDevicePrimaryCtxRelease_v2"};
        NativeCall[] steps = {() -> (int) ctxSetCurrent.invokeExact(context),
            () -> (int) streamSynchronize.invokeExact(stream), () -> (int) streamDestroy.invokeExact(stream),
            () -> (int) primaryCtxRelease.invokeExact(device)};
        for (int i = 0; i < steps.length; i++) {
            try {
                call(names[i], steps[i]);
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

    /** A driver call returning its {@code CUresult}. */
    @FunctionalInterface
    private interface NativeCall {
        int invoke() throws Throwable;
    }

    private void call(String function, NativeCall call) {
        int result;
        try {
            result = call.invoke();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new BackendException(function + ": the downcall failed: " + t, t);
        }
        if (result != CudaDriver.SUCCESS) {
            throw new CudaException(function, result, driver.errorName(result), driver.errorDescription(result));
        }
    }

    private MemorySegment pointerOut(String function, MethodHandle handle, int argument) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            call(function, () -> (int) handle.invokeExact(out, argument));
            return out.get(ADDRESS, 0);
        }
    }
}
