package io.sparge4j.engine.jit;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.NativeLibrary;
import io.sparge4j.engine.device.OpenCl;
import io.sparge4j.engine.device.OpenClErrors;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Just enough OpenCL, through java.lang.foreign, to build generated kernels, run them on the first OpenCL device
 * (e.g. PoCL) and read the results back. Test scaffolding only, adapted from the device library's test helper
 * (scalar float arguments added); the real runtime lives elsewhere.
 */
final class ClRunner implements AutoCloseable {
    private static final long MEM_READ_WRITE = 1L;
    private static final long MEM_COPY_HOST_PTR = 1L << 5;
    private static final int PROGRAM_BUILD_LOG = 0x1183;

    private final Arena arena = Arena.ofConfined();
    private final MethodHandle createContext;
    private final MethodHandle createQueue;
    private final MethodHandle createProgram;
    private final MethodHandle buildProgram;
    private final MethodHandle buildInfo;
    private final MethodHandle createKernel;
    private final MethodHandle createBuffer;
    private final MethodHandle setKernelArg;
    private final MethodHandle enqueueNdRange;
    private final MethodHandle readBuffer;
    private final MethodHandle finish;
    private final MethodHandle releaseMem;
    private final List<MemorySegment> buffers = new ArrayList<>();
    private final MemorySegment device;
    private final String deviceName;
    private final MemorySegment context;
    private final MemorySegment queue;

    private ClRunner(OpenCl cl, MemorySegment platform, MemorySegment device) {
        NativeLibrary lib = NativeLibrary.open("OpenCL (libOpenCL)", cl.libraryName());
        createContext = lib.function("clCreateContext",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        createQueue = lib.function("clCreateCommandQueue",
                FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
        createProgram = lib.function("clCreateProgramWithSource",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        buildProgram = lib.function("clBuildProgram",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        buildInfo = lib.function("clGetProgramBuildInfo",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS));
        createKernel = lib.function("clCreateKernel", FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        createBuffer = lib.function("clCreateBuffer",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS));
        setKernelArg = lib.function("clSetKernelArg",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS));
        enqueueNdRange = lib.function("clEnqueueNDRangeKernel", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS,
                JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
        readBuffer = lib.function("clEnqueueReadBuffer", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT,
                JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
        finish = lib.function("clFinish", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        releaseMem = lib.function("clReleaseMemObject", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        this.device = device;
        this.deviceName = cl.deviceString(device, OpenCl.DEVICE_NAME);
        MemorySegment devices = arena.allocateFrom(ADDRESS, device);
        this.context = handle("clCreateContext", err -> (MemorySegment) createContext.invokeExact(
                MemorySegment.NULL, 1, devices, MemorySegment.NULL, MemorySegment.NULL, err));
        this.queue = handle("clCreateCommandQueue",
                err -> (MemorySegment) createQueue.invokeExact(context, device, 0L, err));
    }

    /**
     * @return a runtime on the first device of the first platform that has one
     * @throws BackendException when there is no OpenCL library or no device (the message says which)
     */
    static ClRunner open() {
        OpenCl cl = OpenCl.load();
        for (MemorySegment platform : cl.platforms()) {
            List<MemorySegment> devices = cl.devices(platform, OpenCl.DEVICE_TYPE_ALL);
            if (!devices.isEmpty()) {
                return new ClRunner(cl, platform, devices.getFirst());
            }
        }
        throw new BackendException("no OpenCL platform with a device (" + cl.libraryName() + ")");
    }

    String deviceName() {
        return deviceName;
    }

    /** Builds {@code source}; a failure names the build log. @return the kernel {@code name} of it */
    MemorySegment kernel(String source, String name) {
        MemorySegment text = arena.allocateFrom(source);
        MemorySegment strings = arena.allocateFrom(ADDRESS, text);
        MemorySegment program = handle("clCreateProgramWithSource", err -> (MemorySegment) createProgram.invokeExact(
                context, 1, strings, MemorySegment.NULL, err));
        MemorySegment devices = arena.allocateFrom(ADDRESS, device);
        int status = call(() -> (int) buildProgram.invokeExact(program, 1, devices, arena.allocateFrom(""),
                MemorySegment.NULL, MemorySegment.NULL));
        if (status != OpenClErrors.SUCCESS) {
            throw new AssertionError("clBuildProgram: " + OpenClErrors.name(status) + "\nlog:\n" + buildLog(program)
                    + "\nsource:\n" + numbered(source));
        }
        return handle("clCreateKernel", err -> (MemorySegment) createKernel.invokeExact(program,
                arena.allocateFrom(name), err));
    }

    private String buildLog(MemorySegment program) {
        MemorySegment size = arena.allocate(JAVA_LONG);
        OpenCl.check("clGetProgramBuildInfo", call(() -> (int) buildInfo.invokeExact(program, device,
                PROGRAM_BUILD_LOG, 0L, MemorySegment.NULL, size)));
        MemorySegment log = arena.allocate(size.get(JAVA_LONG, 0) + 1);
        OpenCl.check("clGetProgramBuildInfo", call(() -> (int) buildInfo.invokeExact(program, device,
                PROGRAM_BUILD_LOG, log.byteSize() - 1, log, MemorySegment.NULL)));
        return log.getString(0);
    }

    private static String numbered(String source) {
        StringBuilder out = new StringBuilder();
        String[] lines = source.split("\n");
        for (int i = 0; i < lines.length; i++) {
            out.append(i + 1).append(": ").append(lines[i]).append('\n');
        }
        return out.toString();
    }

    /** @return a device buffer holding a copy of {@code host} */
    MemorySegment buffer(MemorySegment host) {
        MemorySegment native_ = arena.allocate(host.byteSize(), 16);
        native_.copyFrom(host);
        MemorySegment mem = handle("clCreateBuffer", err -> (MemorySegment) createBuffer.invokeExact(context,
                MEM_READ_WRITE | MEM_COPY_HOST_PTR, host.byteSize(), native_, err));
        buffers.add(mem);
        return mem;
    }

    /** Runs {@code kernel} over a 1D range; {@code args} are buffers (MemorySegment), Integers or Floats. */
    void run(MemorySegment kernel, long global, long local, Object... args) {
        run(kernel, new long[] {global}, new long[] {local}, args);
    }

    /** Runs {@code kernel} over a 1D to 3D range. */
    void run(MemorySegment kernel, long[] global, long[] local, Object... args) {
        for (int i = 0; i < args.length; i++) {
            MemorySegment value;
            long size;
            if (args[i] instanceof MemorySegment mem) {
                value = arena.allocateFrom(ADDRESS, mem);
                size = ADDRESS.byteSize();
            } else if (args[i] instanceof Integer n) {
                value = arena.allocateFrom(JAVA_INT, n);
                size = 4;
            } else if (args[i] instanceof Float x) {
                value = arena.allocateFrom(java.lang.foreign.ValueLayout.JAVA_FLOAT, x);
                size = 4;
            } else {
                throw new IllegalArgumentException("run: argument " + i + " is " + args[i]
                        + ", expected a buffer, an Integer or a Float");
            }
            int index = i;
            OpenCl.check("clSetKernelArg", call(() -> (int) setKernelArg.invokeExact(kernel, index, size, value)));
        }
        MemorySegment g = arena.allocateFrom(JAVA_LONG, global);
        MemorySegment l = arena.allocateFrom(JAVA_LONG, local);
        int dims = global.length;
        OpenCl.check("clEnqueueNDRangeKernel", call(() -> (int) enqueueNdRange.invokeExact(queue, kernel, dims,
                MemorySegment.NULL, g, l, 0, MemorySegment.NULL, MemorySegment.NULL)));
        OpenCl.check("clFinish", call(() -> (int) finish.invokeExact(queue)));
    }

    /** Copies {@code buffer} into {@code host} (blocking). */
    void read(MemorySegment buffer, MemorySegment host) {
        MemorySegment native_ = arena.allocate(host.byteSize(), 16);
        OpenCl.check("clEnqueueReadBuffer", call(() -> (int) readBuffer.invokeExact(queue, buffer, 1, 0L,
                host.byteSize(), native_, 0, MemorySegment.NULL, MemorySegment.NULL)));
        host.copyFrom(native_);
    }

    @Override
    public void close() {
        for (MemorySegment mem : buffers) {
            call(() -> (int) releaseMem.invokeExact(mem));
        }
        arena.close();
    }

    private interface Downcall<T> {
        T invoke() throws Throwable;
    }

    private interface Creating {
        MemorySegment invoke(MemorySegment errorCode) throws Throwable;
    }

    private <T> T call(Downcall<T> downcall) {
        try {
            return downcall.invoke();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new BackendException("OpenCL downcall failed: " + t, t);
        }
    }

    /** Calls a clCreate* function and checks its error-code out-parameter. */
    private MemorySegment handle(String function, Creating create) {
        MemorySegment err = arena.allocate(JAVA_INT);
        MemorySegment h = call(() -> create.invoke(err));
        OpenCl.check(function, err.get(JAVA_INT, 0));
        return h;
    }
}
