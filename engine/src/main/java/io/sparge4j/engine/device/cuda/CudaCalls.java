package io.sparge4j.engine.device.cuda;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.CudaDriver;
import io.sparge4j.engine.device.NativeLibrary;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The driver calls the device runtime needs beyond {@link CudaDriver}'s (which {@code sparge info} uses): contexts,
 * streams, memory, modules, launches and events. Function names are the ABI symbols that {@code cuda.h} (CUDA 13)
 * maps the API names to, e.g. {@code cuMemAlloc} to {@code cuMemAlloc_v2}. Handles ({@code CUcontext},
 * {@code CUstream}, ...) are pointers; a {@code CUdeviceptr} is a 64-bit integer.
 *
 * <p>Every call checks its {@code CUresult} and throws a {@link io.sparge4j.engine.device.CudaException} with the
 * driver's error name and text and advice from {@link CudaErrors}.
 */
final class CudaCalls {
    /** {@code CU_STREAM_NON_BLOCKING}: the stream does not synchronise with the legacy default stream. */
    static final int STREAM_NON_BLOCKING = 0x1;
    /** {@code CU_EVENT_DEFAULT}: an event that records timing. */
    static final int EVENT_DEFAULT = 0x0;

    private final CudaDriver driver;
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
    private final MethodHandle moduleLoadData;
    private final MethodHandle moduleUnload;
    private final MethodHandle moduleGetFunction;
    private final MethodHandle launchKernel;
    private final MethodHandle funcGetAttribute;
    private final MethodHandle funcSetAttribute;
    private final MethodHandle eventCreate;
    private final MethodHandle eventRecord;
    private final MethodHandle eventSynchronize;
    private final MethodHandle eventDestroy;
    private final MethodHandle eventElapsedTime;
    private final String eventElapsedTimeName;

    CudaCalls(CudaDriver driver) {
        this.driver = driver;
        NativeLibrary lib = driver.library();
        FunctionDescriptor handleIn = FunctionDescriptor.of(JAVA_INT, ADDRESS);
        FunctionDescriptor handleOutFlags = FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT);
        primaryCtxRetain = lib.function("cuDevicePrimaryCtxRetain", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        primaryCtxRelease = lib.function("cuDevicePrimaryCtxRelease_v2", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
        ctxSetCurrent = lib.function("cuCtxSetCurrent", handleIn);
        ctxSynchronize = lib.function("cuCtxSynchronize", FunctionDescriptor.of(JAVA_INT));
        streamCreate = lib.function("cuStreamCreate", handleOutFlags);
        streamSynchronize = lib.function("cuStreamSynchronize", handleIn);
        streamDestroy = lib.function("cuStreamDestroy_v2", handleIn);
        memAlloc = lib.function("cuMemAlloc_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
        memFree = lib.function("cuMemFree_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
        memcpyHtoDAsync = lib.function("cuMemcpyHtoDAsync_v2",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS));
        memcpyDtoHAsync = lib.function("cuMemcpyDtoHAsync_v2",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS));
        moduleLoadData = lib.function("cuModuleLoadData", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        moduleUnload = lib.function("cuModuleUnload", handleIn);
        moduleGetFunction = lib.function("cuModuleGetFunction",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        launchKernel = lib.function("cuLaunchKernel", FunctionDescriptor.of(JAVA_INT, ADDRESS,
                JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        funcGetAttribute = lib.function("cuFuncGetAttribute",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
        funcSetAttribute = lib.function("cuFuncSetAttribute",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        eventCreate = lib.function("cuEventCreate", handleOutFlags);
        eventRecord = lib.function("cuEventRecord", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        eventSynchronize = lib.function("cuEventSynchronize", handleIn);
        eventDestroy = lib.function("cuEventDestroy_v2", handleIn);
        // CUDA 12.8 added _v2 and CUDA 13 maps cuEventElapsedTime to it; older drivers only have the original.
        FunctionDescriptor elapsed = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
        var v2 = lib.optionalFunction("cuEventElapsedTime_v2", elapsed);
        eventElapsedTimeName = v2.isPresent() ? "cuEventElapsedTime_v2" : "cuEventElapsedTime";
        eventElapsedTime = v2.orElseGet(() -> lib.function("cuEventElapsedTime", elapsed));
    }

    /** @return the driver bindings these extend */
    CudaDriver driver() {
        return driver;
    }

    MemorySegment primaryContextRetain(int device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check("cuDevicePrimaryCtxRetain", (int) primaryCtxRetain.invokeExact(out, device));
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw BackendException.fromDowncall("cuDevicePrimaryCtxRetain", t);
        }
    }

    void primaryContextRelease(int device) {
        try {
            check("cuDevicePrimaryCtxRelease_v2", (int) primaryCtxRelease.invokeExact(device));
        } catch (Throwable t) {
            throw BackendException.fromDowncall("cuDevicePrimaryCtxRelease_v2", t);
        }
    }

    void setCurrent(MemorySegment context) {
        try {
            check("cuCtxSetCurrent", (int) ctxSetCurrent.invokeExact(context));
        } catch (Throwable t) {
            throw BackendException.fromDowncall("cuCtxSetCurrent", t);
        }
    }

    /** Waits for every stream of the current context. */
    void ctxSynchronize() {
        try {
            check("cuCtxSynchronize", (int) ctxSynchronize.invokeExact());
        } catch (Throwable t) {
            throw BackendException.fromDowncall("cuCtxSynchronize", t);
        }
    }

    MemorySegment streamCreate(int flags) {
        return handleOut("cuStreamCreate", streamCreate, flags);
    }

    void streamSynchronize(MemorySegment stream) {
        handleIn("cuStreamSynchronize", streamSynchronize, stream);
    }

    void streamDestroy(MemorySegment stream) {
        handleIn("cuStreamDestroy_v2", streamDestroy, stream);
    }

    long memAlloc(long bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            check("cuMemAlloc_v2", (int) memAlloc.invokeExact(out, bytes));
            return out.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw BackendException.fromDowncall("cuMemAlloc_v2", t);
        }
    }

    void memFree(long pointer) {
        try {
            check("cuMemFree_v2", (int) memFree.invokeExact(pointer));
        } catch (Throwable t) {
            throw BackendException.fromDowncall("cuMemFree_v2", t);
        }
    }

    void memcpyHtoDAsync(long dst, MemorySegment src, long bytes, MemorySegment stream) {
        try {
            check("cuMemcpyHtoDAsync_v2", (int) memcpyHtoDAsync.invokeExact(dst, src, bytes, stream));
        } catch (Throwable t) {
            throw BackendException.fromDowncall("cuMemcpyHtoDAsync_v2", t);
        }
    }

    void memcpyDtoHAsync(MemorySegment dst, long src, long bytes, MemorySegment stream) {
        try {
            check("cuMemcpyDtoHAsync_v2", (int) memcpyDtoHAsync.invokeExact(dst, src, bytes, stream));
        } catch (Throwable t) {
            throw BackendException.fromDowncall("cuMemcpyDtoHAsync_v2", t);
        }
    }

    /** @param image a cubin, or NUL-terminated PTX, in native memory; the driver copies it */
    MemorySegment moduleLoadData(MemorySegment image) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check("cuModuleLoadData", (int) moduleLoadData.invokeExact(out, image));
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw BackendException.fromDowncall("cuModuleLoadData", t);
        }
    }

    void moduleUnload(MemorySegment module) {
        handleIn("cuModuleUnload", moduleUnload, module);
    }

    MemorySegment moduleGetFunction(MemorySegment module, String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check("cuModuleGetFunction", (int) moduleGetFunction.invokeExact(out, module, arena.allocateFrom(name)));
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw BackendException.fromDowncall("cuModuleGetFunction", t);
        }
    }

    /** {@code CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES}: the function's static shared memory. */
    static final int FUNC_SHARED_SIZE_BYTES = 1;
    /** {@code CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES}: the most dynamic shared memory a launch may ask. */
    static final int FUNC_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;

    int funcGetAttribute(MemorySegment function, int attribute) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check("cuFuncGetAttribute", (int) funcGetAttribute.invokeExact(out, attribute, function));
            return out.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw BackendException.fromDowncall("cuFuncGetAttribute", t);
        }
    }

    void funcSetAttribute(MemorySegment function, int attribute, int value) {
        try {
            check("cuFuncSetAttribute", (int) funcSetAttribute.invokeExact(function, attribute, value));
        } catch (Throwable t) {
            throw BackendException.fromDowncall("cuFuncSetAttribute", t);
        }
    }

    /**
     * @param grid blocks in x, y, z
     * @param block threads per block in x, y, z
     * @param sharedBytes dynamic shared memory per block
     * @param kernelParams {@code void**}: one pointer per kernel parameter to its value
     */
    void launchKernel(MemorySegment function, int[] grid, int[] block, int sharedBytes, MemorySegment stream,
            MemorySegment kernelParams) {
        try {
            check("cuLaunchKernel", (int) launchKernel.invokeExact(function, grid[0], grid[1], grid[2],
                    block[0], block[1], block[2], sharedBytes, stream, kernelParams, MemorySegment.NULL));
        } catch (Throwable t) {
            throw BackendException.fromDowncall("cuLaunchKernel", t);
        }
    }

    MemorySegment eventCreate() {
        return handleOut("cuEventCreate", eventCreate, EVENT_DEFAULT);
    }

    void eventRecord(MemorySegment event, MemorySegment stream) {
        try {
            check("cuEventRecord", (int) eventRecord.invokeExact(event, stream));
        } catch (Throwable t) {
            throw BackendException.fromDowncall("cuEventRecord", t);
        }
    }

    void eventSynchronize(MemorySegment event) {
        handleIn("cuEventSynchronize", eventSynchronize, event);
    }

    void eventDestroy(MemorySegment event) {
        handleIn("cuEventDestroy_v2", eventDestroy, event);
    }

    /** @return milliseconds between two completed events (about half a microsecond of resolution) */
    float eventElapsedMillis(MemorySegment start, MemorySegment end) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_FLOAT);
            check(eventElapsedTimeName, (int) eventElapsedTime.invokeExact(out, start, end));
            return out.get(JAVA_FLOAT, 0);
        } catch (Throwable t) {
            throw BackendException.fromDowncall(eventElapsedTimeName, t);
        }
    }

    /**
     * @param call the function that returned {@code result}
     * @param result its {@code CUresult}
     */
    void check(String call, int result) {
        if (result != CudaDriver.SUCCESS) {
            throw CudaErrors.exception(call, result, driver.errorName(result), driver.errorDescription(result));
        }
    }

    private MemorySegment handleOut(String call, MethodHandle handle, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check(call, (int) handle.invokeExact(out, flags));
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw BackendException.fromDowncall(call, t);
        }
    }

    private void handleIn(String call, MethodHandle handle, MemorySegment argument) {
        try {
            check(call, (int) handle.invokeExact(argument));
        } catch (Throwable t) {
            throw BackendException.fromDowncall(call, t);
        }
    }

}
