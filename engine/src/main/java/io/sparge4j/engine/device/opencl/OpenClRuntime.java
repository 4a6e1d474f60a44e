package io.sparge4j.engine.device.opencl;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.JvmSignalHandlers;
import io.sparge4j.engine.device.NativeLibrary;
import io.sparge4j.engine.device.OpenCl;
import io.sparge4j.engine.device.OpenClErrors;
import io.sparge4j.engine.device.OpenClException;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Optional;
import java.util.function.Supplier;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Bindings to the OpenCL runtime calls (contexts, queues, buffers, programs, kernels, events) on top of the
 * discovery bindings in {@link OpenCl}, which own the library. Handles ({@code cl_context}, {@code cl_mem}, ...)
 * are opaque pointers; {@code size_t} and bit fields are 64-bit. Every call checks its status and throws
 * {@link OpenClException} naming the call.
 */
final class OpenClRuntime {
    /** {@code CL_CONTEXT_PLATFORM}. */
    static final long CONTEXT_PLATFORM = 0x1084;
    /** {@code CL_QUEUE_PROPERTIES}. */
    static final long QUEUE_PROPERTIES = 0x1093;
    /** {@code CL_QUEUE_PROFILING_ENABLE}. */
    static final long QUEUE_PROFILING_ENABLE = 1L << 1;
    /** {@code CL_MEM_READ_WRITE}. */
    static final long MEM_READ_WRITE = 1L;
    /** {@code CL_TRUE}. */
    static final int TRUE = 1;
    /** {@code CL_PROGRAM_BINARY_SIZES}. */
    static final int PROGRAM_BINARY_SIZES = 0x1165;
    /** {@code CL_PROGRAM_BINARIES}. */
    static final int PROGRAM_BINARIES = 0x1166;
    /** {@code CL_PROGRAM_BUILD_LOG}. */
    static final int PROGRAM_BUILD_LOG = 0x1183;
    /** {@code CL_KERNEL_WORK_GROUP_SIZE}. */
    static final int KERNEL_WORK_GROUP_SIZE = 0x11B0;
    /** {@code CL_PROFILING_COMMAND_START}. */
    static final int PROFILING_COMMAND_START = 0x1282;
    /** {@code CL_PROFILING_COMMAND_END}. */
    static final int PROFILING_COMMAND_END = 0x1283;

    private final OpenCl discovery;
    private final MethodHandle clCreateContext;
    private final MethodHandle clReleaseContext;
    private final MethodHandle clCreateCommandQueue;
    private final Optional<MethodHandle> clCreateCommandQueueWithProperties;
    private final MethodHandle clReleaseCommandQueue;
    private final MethodHandle clCreateBuffer;
    private final MethodHandle clReleaseMemObject;
    private final MethodHandle clEnqueueWriteBuffer;
    private final MethodHandle clEnqueueReadBuffer;
    private final MethodHandle clCreateProgramWithSource;
    private final MethodHandle clCreateProgramWithBinary;
    private final MethodHandle clBuildProgram;
    private final MethodHandle clGetProgramBuildInfo;
    private final MethodHandle clGetProgramInfo;
    private final MethodHandle clReleaseProgram;
    private final MethodHandle clCreateKernel;
    private final MethodHandle clReleaseKernel;
    private final MethodHandle clGetKernelWorkGroupInfo;
    private final MethodHandle clSetKernelArg;
    private final MethodHandle clEnqueueNDRangeKernel;
    private final MethodHandle clFinish;
    private final MethodHandle clWaitForEvents;
    private final MethodHandle clGetEventProfilingInfo;
    private final MethodHandle clReleaseEvent;

    private OpenClRuntime(OpenCl discovery) {
        this.discovery = discovery;
        NativeLibrary lib = discovery.library();
        FunctionDescriptor release = FunctionDescriptor.of(JAVA_INT, ADDRESS);
        // (object, object2, param, size, value, size_ret) and (object, param, size, value, size_ret)
        FunctionDescriptor info2 = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS,
                ADDRESS);
        FunctionDescriptor info1 = FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS);
        FunctionDescriptor transfer = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG,
                JAVA_LONG, ADDRESS, JAVA_INT, ADDRESS, ADDRESS);
        clCreateContext = lib.function("clCreateContext",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        clReleaseContext = lib.function("clReleaseContext", release);
        clCreateCommandQueue = lib.function("clCreateCommandQueue",
                FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
        clCreateCommandQueueWithProperties = lib.optionalFunction("clCreateCommandQueueWithProperties",
                FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        clReleaseCommandQueue = lib.function("clReleaseCommandQueue", release);
        clCreateBuffer = lib.function("clCreateBuffer",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS));
        clReleaseMemObject = lib.function("clReleaseMemObject", release);
        clEnqueueWriteBuffer = lib.function("clEnqueueWriteBuffer", transfer);
        clEnqueueReadBuffer = lib.function("clEnqueueReadBuffer", transfer);
        clCreateProgramWithSource = lib.function("clCreateProgramWithSource",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        clCreateProgramWithBinary = lib.function("clCreateProgramWithBinary",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        clBuildProgram = lib.function("clBuildProgram",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        clGetProgramBuildInfo = lib.function("clGetProgramBuildInfo", info2);
        clGetProgramInfo = lib.function("clGetProgramInfo", info1);
        clReleaseProgram = lib.function("clReleaseProgram", release);
        clCreateKernel = lib.function("clCreateKernel", FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        clReleaseKernel = lib.function("clReleaseKernel", release);
        clGetKernelWorkGroupInfo = lib.function("clGetKernelWorkGroupInfo", info2);
        clSetKernelArg = lib.function("clSetKernelArg",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS));
        clEnqueueNDRangeKernel = lib.function("clEnqueueNDRangeKernel", FunctionDescriptor.of(JAVA_INT, ADDRESS,
                ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
        clFinish = lib.function("clFinish", release);
        clWaitForEvents = lib.function("clWaitForEvents", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
        clGetEventProfilingInfo = lib.function("clGetEventProfilingInfo", info1);
        clReleaseEvent = lib.function("clReleaseEvent", release);
    }

    /**
     * @return the bindings, opened once per process
     * @throws BackendException when there is no OpenCL library or it lacks a runtime call
     */
    static OpenClRuntime load() {
        return Loaded.get();
    }

    /** @return the discovery bindings (platforms, devices, device info) */
    OpenCl discovery() {
        return discovery;
    }

    MemorySegment createContext(MemorySegment platform, MemorySegment device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment properties = arena.allocate(JAVA_LONG, 3);
            properties.setAtIndex(JAVA_LONG, 0, CONTEXT_PLATFORM);
            properties.setAtIndex(JAVA_LONG, 1, platform.address());
            properties.setAtIndex(JAVA_LONG, 2, 0L);
            MemorySegment devices = arena.allocate(ADDRESS);
            devices.set(ADDRESS, 0, device);
            MemorySegment status = arena.allocate(JAVA_INT);
            MemorySegment context = (MemorySegment) clCreateContext.invokeExact(properties, 1, devices,
                    MemorySegment.NULL, MemorySegment.NULL, status);
            check("clCreateContext", status);
            return context;
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw OpenCl.downcallFailed("clCreateContext", t);
        }
    }

    /**
     * An in-order queue with profiling; through {@code clCreateCommandQueueWithProperties} on OpenCL 2.0+
     * devices when the loader has it, else the 1.x call every driver still exports.
     */
    MemorySegment createProfilingQueue(MemorySegment context, MemorySegment device, boolean openCl2) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment status = arena.allocate(JAVA_INT);
            MemorySegment queue;
            if (openCl2 && clCreateCommandQueueWithProperties.isPresent()) {
                MemorySegment properties = arena.allocate(JAVA_LONG, 3);
                properties.setAtIndex(JAVA_LONG, 0, QUEUE_PROPERTIES);
                properties.setAtIndex(JAVA_LONG, 1, QUEUE_PROFILING_ENABLE);
                properties.setAtIndex(JAVA_LONG, 2, 0L);
                queue = (MemorySegment) clCreateCommandQueueWithProperties.get().invokeExact(context, device,
                        properties, status);
                check("clCreateCommandQueueWithProperties", status);
            } else {
                queue = (MemorySegment) clCreateCommandQueue.invokeExact(context, device, QUEUE_PROFILING_ENABLE,
                        status);
                check("clCreateCommandQueue", status);
            }
            return queue;
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw OpenCl.downcallFailed("clCreateCommandQueue", t);
        }
    }

    MemorySegment createBuffer(MemorySegment context, long bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment status = arena.allocate(JAVA_INT);
            MemorySegment buffer = (MemorySegment) clCreateBuffer.invokeExact(context, MEM_READ_WRITE, bytes,
                    MemorySegment.NULL, status);
            check("clCreateBuffer", status, "allocating " + bytes + " bytes");
            return buffer;
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw OpenCl.downcallFailed("clCreateBuffer", t);
        }
    }

    /**
     * Blocking write of {@code host} (native memory) to {@code buffer} at {@code offset}.
     *
     * @param event where the command's {@code cl_event} goes, or {@code NULL}
     */
    void write(MemorySegment queue, MemorySegment buffer, long offset, MemorySegment host, MemorySegment event) {
        try {
            check("clEnqueueWriteBuffer", (int) clEnqueueWriteBuffer.invokeExact(queue, buffer, TRUE, offset,
                    host.byteSize(), host, 0, MemorySegment.NULL, event));
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw OpenCl.downcallFailed("clEnqueueWriteBuffer", t);
        }
    }

    /** Blocking read of {@code host.byteSize()} bytes at {@code offset} of {@code buffer}. */
    void read(MemorySegment queue, MemorySegment buffer, long offset, MemorySegment host, MemorySegment event) {
        try {
            check("clEnqueueReadBuffer", (int) clEnqueueReadBuffer.invokeExact(queue, buffer, TRUE, offset,
                    host.byteSize(), host, 0, MemorySegment.NULL, event));
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw OpenCl.downcallFailed("clEnqueueReadBuffer", t);
        }
    }

    MemorySegment programFromSource(MemorySegment context, String source) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment text = arena.allocateFrom(source);
            MemorySegment strings = arena.allocate(ADDRESS);
            strings.set(ADDRESS, 0, text);
            MemorySegment status = arena.allocate(JAVA_INT);
            // NULL lengths: the string is NUL-terminated
            MemorySegment program = (MemorySegment) clCreateProgramWithSource.invokeExact(context, 1, strings,
                    MemorySegment.NULL, status);
            check("clCreateProgramWithSource", status);
            return program;
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw OpenCl.downcallFailed("clCreateProgramWithSource", t);
        }
    }

    MemorySegment programFromBinary(MemorySegment context, MemorySegment device, byte[] binary) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment devices = arena.allocate(ADDRESS);
            devices.set(ADDRESS, 0, device);
            MemorySegment lengths = arena.allocate(JAVA_LONG);
            lengths.set(JAVA_LONG, 0, binary.length);
            MemorySegment bytes = arena.allocate(Math.max(1, binary.length));
            MemorySegment.copy(binary, 0, bytes, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, binary.length);
            MemorySegment binaries = arena.allocate(ADDRESS);
            binaries.set(ADDRESS, 0, bytes);
            MemorySegment binaryStatus = arena.allocate(JAVA_INT);
            MemorySegment status = arena.allocate(JAVA_INT);
            MemorySegment program = (MemorySegment) clCreateProgramWithBinary.invokeExact(context, 1, devices,
                    lengths, binaries, binaryStatus, status);
            check("clCreateProgramWithBinary", status);
            check("clCreateProgramWithBinary", binaryStatus.get(JAVA_INT, 0));
            return program;
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw OpenCl.downcallFailed("clCreateProgramWithBinary", t);
        }
    }

    /** @return {@code clBuildProgram}'s status, unchecked: the caller adds the build log on failure */
    int build(MemorySegment program, MemorySegment device, String options) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment devices = arena.allocate(ADDRESS);
            devices.set(ADDRESS, 0, device);
            int status = (int) clBuildProgram.invokeExact(program, 1, devices, arena.allocateFrom(options),
                    MemorySegment.NULL, MemorySegment.NULL);
            JvmSignalHandlers.warnIfTakenOver(); // PoCL's LLVM installs its handlers on its first build
            return status;
        } catch (Throwable t) {
            throw OpenCl.downcallFailed("clBuildProgram", t);
        }
    }

    String buildLog(MemorySegment program, MemorySegment device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment size = arena.allocate(JAVA_LONG);
            check("clGetProgramBuildInfo", (int) clGetProgramBuildInfo.invokeExact(program, device,
                    PROGRAM_BUILD_LOG, 0L, MemorySegment.NULL, size));
            long bytes = size.get(JAVA_LONG, 0);
            if (bytes <= 1) {
                return "";
            }
            MemorySegment log = arena.allocate(bytes + 1);
            check("clGetProgramBuildInfo", (int) clGetProgramBuildInfo.invokeExact(program, device,
                    PROGRAM_BUILD_LOG, bytes, log, MemorySegment.NULL));
            return log.getString(0).strip();
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw OpenCl.downcallFailed("clGetProgramBuildInfo", t);
        }
    }

    /** @return the built program's binary for its one device */
    byte[] binary(MemorySegment program) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment sizes = arena.allocate(JAVA_LONG);
            check("clGetProgramInfo", (int) clGetProgramInfo.invokeExact(program, PROGRAM_BINARY_SIZES,
                    JAVA_LONG.byteSize(), sizes, MemorySegment.NULL));
            long bytes = sizes.get(JAVA_LONG, 0);
            if (bytes <= 0) {
                return new byte[0];
            }
            MemorySegment binary = arena.allocate(bytes);
            MemorySegment pointers = arena.allocate(ADDRESS);
            pointers.set(ADDRESS, 0, binary);
            check("clGetProgramInfo", (int) clGetProgramInfo.invokeExact(program, PROGRAM_BINARIES,
                    ADDRESS.byteSize(), pointers, MemorySegment.NULL));
            return binary.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw OpenCl.downcallFailed("clGetProgramInfo", t);
        }
    }

    MemorySegment createKernel(MemorySegment program, String entryName, String javaName) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment status = arena.allocate(JAVA_INT);
            MemorySegment kernel = (MemorySegment) clCreateKernel.invokeExact(program, arena.allocateFrom(entryName),
                    status);
            check("clCreateKernel", status, "Kernel " + javaName + ", entry point \"" + entryName + "\"");
            return kernel;
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw OpenCl.downcallFailed("clCreateKernel", t);
        }
    }

    /** @return the largest work-group this kernel can run with on {@code device} */
    long kernelWorkGroupSize(MemorySegment kernel, MemorySegment device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            check("clGetKernelWorkGroupInfo", (int) clGetKernelWorkGroupInfo.invokeExact(kernel, device,
                    KERNEL_WORK_GROUP_SIZE, JAVA_LONG.byteSize(), out, MemorySegment.NULL));
            return out.get(JAVA_LONG, 0);
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw OpenCl.downcallFailed("clGetKernelWorkGroupInfo", t);
        }
    }

    /** Sets argument {@code index} to the bytes of {@code value}. */
    void setArg(MemorySegment kernel, int index, MemorySegment value, Supplier<String> what) {
        try {
            check("clSetKernelArg", (int) clSetKernelArg.invokeExact(kernel, index, value.byteSize(), value));
        } catch (OpenClException e) {
            throw new OpenClException(e.function(), e.code(), what.get());
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw OpenCl.downcallFailed("clSetKernelArg", t);
        }
    }

    void enqueueKernel(MemorySegment queue, MemorySegment kernel, long[] global, long[] local, MemorySegment event,
            Supplier<String> what) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment globalSizes = arena.allocateFrom(JAVA_LONG, global);
            MemorySegment localSizes = arena.allocateFrom(JAVA_LONG, local);
            int status = (int) clEnqueueNDRangeKernel.invokeExact(queue, kernel, global.length, MemorySegment.NULL,
                    globalSizes, localSizes, 0, MemorySegment.NULL, event);
            if (status != OpenClErrors.SUCCESS) {
                throw new OpenClException("clEnqueueNDRangeKernel", status, what.get());
            }
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw OpenCl.downcallFailed("clEnqueueNDRangeKernel", t);
        }
    }

    void finish(MemorySegment queue) {
        try {
            check("clFinish", (int) clFinish.invokeExact(queue));
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw OpenCl.downcallFailed("clFinish", t);
        }
    }

    void waitFor(MemorySegment event) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment events = arena.allocate(ADDRESS);
            events.set(ADDRESS, 0, event);
            check("clWaitForEvents", (int) clWaitForEvents.invokeExact(1, events));
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw OpenCl.downcallFailed("clWaitForEvents", t);
        }
    }

    /** @return a profiling time stamp of a finished command, in device nanoseconds */
    long profilingTime(MemorySegment event, int param) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            check("clGetEventProfilingInfo", (int) clGetEventProfilingInfo.invokeExact(event, param,
                    JAVA_LONG.byteSize(), out, MemorySegment.NULL));
            return out.get(JAVA_LONG, 0);
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw OpenCl.downcallFailed("clGetEventProfilingInfo", t);
        }
    }

    void releaseContext(MemorySegment handle) {
        release("clReleaseContext", clReleaseContext, handle);
    }

    void releaseQueue(MemorySegment handle) {
        release("clReleaseCommandQueue", clReleaseCommandQueue, handle);
    }

    void releaseBuffer(MemorySegment handle) {
        release("clReleaseMemObject", clReleaseMemObject, handle);
    }

    void releaseProgram(MemorySegment handle) {
        release("clReleaseProgram", clReleaseProgram, handle);
    }

    void releaseKernel(MemorySegment handle) {
        release("clReleaseKernel", clReleaseKernel, handle);
    }

    void releaseEvent(MemorySegment handle) {
        release("clReleaseEvent", clReleaseEvent, handle);
    }

    private static void release(String function, MethodHandle handle, MemorySegment object) {
        try {
            check(function, (int) handle.invokeExact(object));
        } catch (BackendException e) {
            throw e;
        } catch (Throwable t) {
            throw OpenCl.downcallFailed(function, t);
        }
    }

    /** Like {@link OpenCl#check}, with advice on what to do in the message. */
    static void check(String function, int status) {
        if (status != OpenClErrors.SUCCESS) {
            throw new OpenClException(function, status, "");
        }
    }

    private static void check(String function, MemorySegment status) {
        check(function, status.get(JAVA_INT, 0));
    }

    private static void check(String function, MemorySegment status, String what) {
        int code = status.get(JAVA_INT, 0);
        if (code != OpenClErrors.SUCCESS) {
            throw new OpenClException(function, code, what);
        }
    }

    /** Binds once and remembers the outcome, failure included. */
    private static final class Loaded {
        private static final Object OUTCOME = open();

        private static Object open() {
            try {
                return new OpenClRuntime(OpenCl.load());
            } catch (BackendException e) {
                return e;
            }
        }

        static OpenClRuntime get() {
            if (OUTCOME instanceof BackendException e) {
                throw new BackendException(e.getMessage(), e);
            }
            return (OpenClRuntime) OUTCOME;
        }
    }
}
