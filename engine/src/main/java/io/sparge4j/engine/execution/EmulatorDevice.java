package io.sparge4j.engine.execution;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.DeviceKernel;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelParameter;
import io.sparge4j.engine.kernel.KernelEmulator;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.WorkerGrid3D;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.ByteArray;
import io.sparge4j.kernels.types.arrays.DoubleArray;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;
import io.sparge4j.kernels.types.arrays.LongArray;
import io.sparge4j.kernels.types.arrays.NativeArray;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A {@link ComputeDevice} in host memory whose launches run on the {@link KernelEmulator}: the "emulator" backend.
 * Buffers are separate host allocations, so data moves exactly as on a GPU: a result that is not transferred
 * back is not seen. Loop-style kernels are called once as plain Java. Kernels are loaded with the
 * {@link EmulatorCompiler}'s output.
 */
public final class EmulatorDevice implements ComputeDevice {
    private final KernelEmulator emulator;
    private final List<HostBuffer> buffers = new ArrayList<>();
    private boolean closed;

    /** An emulator device with the default {@link KernelEmulator}. */
    public EmulatorDevice() {
        this(new KernelEmulator());
    }

    /**
     * @param emulator runs the work-groups
     */
    public EmulatorDevice(KernelEmulator emulator) {
        this.emulator = emulator;
    }

    @Override
    public String backendName() {
        return "emulator";
    }

    @Override
    public String deviceName() {
        return "CPU kernel emulator (" + emulator.parallelism() + " groups at once, " + emulator.subGroupSize()
                + "-wide sub-groups)";
    }

    @Override
    public DeviceFeatures features() {
        return new DeviceFeatures(emulator.subGroupSize(), true, true, true, 1024, 64 * 1024, "emulator");
    }

    /** The emulator reads no source; OpenCL is reported only because the contract needs a dialect. */
    @Override
    public Dialect dialect() {
        return Dialect.OPENCL;
    }

    @Override
    public synchronized DeviceBuffer allocate(long bytes) {
        checkOpen("allocate");
        if (bytes < 1) {
            throw new IllegalArgumentException("EmulatorDevice.allocate: bytes is " + bytes + ", expected >= 1");
        }
        HostBuffer b = new HostBuffer(this, bytes);
        buffers.add(b);
        return b;
    }

    @Override
    public void copyToDevice(MemorySegment host, DeviceBuffer dst, long dstOffset) {
        checkOpen("copyToDevice");
        MemorySegment.copy(host, 0, buffer(dst, "copyToDevice").segment(), dstOffset, host.byteSize());
    }

    @Override
    public void copyToHost(DeviceBuffer src, long srcOffset, MemorySegment host) {
        checkOpen("copyToHost");
        MemorySegment.copy(buffer(src, "copyToHost").segment(), srcOffset, host, 0, host.byteSize());
    }

    @Override
    public DeviceKernel load(GeneratedKernel kernel) {
        checkOpen("load");
        if (!kernel.source().startsWith(EmulatorCompiler.SOURCE_PREFIX)) {
            throw new IllegalArgumentException("EmulatorDevice.load: kernel " + kernel.javaName()
                    + " was not produced by the EmulatorCompiler (its source is device code)");
        }
        return new EmulatedKernel(kernel, method(kernel));
    }

    @Override
    public void launch(DeviceKernel kernel, long[] globalSize, int[] localSize, List<Object> arguments) {
        checkOpen("launch");
        if (!(kernel instanceof EmulatedKernel k)) {
            throw new IllegalArgumentException("EmulatorDevice.launch: kernel " + kernel.generated().javaName()
                    + " was not loaded on this device");
        }
        Object[] javaArgs = javaArguments(k, arguments);
        if (!k.generated().contextKernel()) {
            invoke(k.handle, javaArgs);
            return;
        }
        WorkerGrid3D grid = new WorkerGrid3D(globalSize[0], globalSize[1], globalSize[2]);
        grid.setLocalWork(localSize[0], localSize[1], localSize[2]);
        emulator.execute(grid, ctx -> {
            Object[] own = javaArgs.clone();
            own[0] = ctx;
            invoke(k.handle, own);
        });
    }

    @Override
    public void synchronize() {
        checkOpen("synchronize");
    }

    @Override
    public long timeNanos(Runnable work) {
        long start = System.nanoTime();
        work.run();
        return System.nanoTime() - start;
    }

    @Override
    public synchronized void close() {
        closed = true;
        for (HostBuffer b : buffers) {
            b.close();
        }
        buffers.clear();
    }

    private void checkOpen(String op) {
        if (closed) {
            throw new IllegalStateException("EmulatorDevice." + op + ": the device is closed");
        }
    }

    private HostBuffer buffer(DeviceBuffer b, String op) {
        if (!(b instanceof HostBuffer h) || h.device != this) {
            throw new IllegalArgumentException("EmulatorDevice." + op + ": the buffer belongs to another device");
        }
        return h;
    }

    private Object[] javaArguments(EmulatedKernel k, List<Object> arguments) {
        List<KernelParameter> params = k.generated().parameters();
        if (arguments.size() != params.size()) {
            throw new IllegalArgumentException("EmulatorDevice.launch: " + arguments.size() + " arguments for "
                    + k.generated().javaName() + ", expected " + params.size());
        }
        Class<?>[] types = k.method.getParameterTypes();
        Object[] javaArgs = new Object[types.length];
        for (int i = 0; i < params.size(); i++) {
            KernelParameter p = params.get(i);
            Class<?> t = types[p.javaIndex()];
            Object a = arguments.get(i);
            javaArgs[p.javaIndex()] = switch (p.role()) {
                case BUFFER -> view(buffer((DeviceBuffer) a, "launch").segment(), t);
                case BUFFER_SIZE -> javaArgs[p.javaIndex()];
                case SCALAR -> scalar(a, t);
            };
        }
        return javaArgs;
    }

    /** The device passes booleans and small integers as ints; the Java method wants its own types back. */
    private static Object scalar(Object a, Class<?> t) {
        if (t == boolean.class) {
            return ((Number) a).intValue() != 0;
        } else if (t == byte.class) {
            return ((Number) a).byteValue();
        } else if (t == short.class) {
            return ((Number) a).shortValue();
        } else if (t == char.class) {
            return (char) ((Number) a).intValue();
        }
        return a;
    }

    /** A kernel array over the buffer's memory (trailing bytes of a 1-byte buffer for an empty array dropped). */
    private static NativeArray view(MemorySegment segment, Class<?> type) {
        int element = type == ByteArray.class ? 1 : type == FloatArray.class || type == IntArray.class ? 4
                : type == LongArray.class || type == DoubleArray.class ? 8 : 2;
        MemorySegment data = segment.asSlice(0, segment.byteSize() - segment.byteSize() % element);
        if (type == FloatArray.class) {
            return FloatArray.fromSegmentShallow(data);
        } else if (type == IntArray.class) {
            return IntArray.fromSegmentShallow(data);
        } else if (type == HalfFloatArray.class) {
            return HalfFloatArray.fromSegmentShallow(data);
        } else if (type == BFloat16Array.class) {
            return BFloat16Array.fromSegmentShallow(data);
        } else if (type == ByteArray.class) {
            return ByteArray.fromSegmentShallow(data);
        } else if (type == LongArray.class) {
            return LongArray.fromSegmentShallow(data);
        } else if (type == DoubleArray.class) {
            return DoubleArray.fromSegmentShallow(data);
        }
        throw new IllegalArgumentException("EmulatorDevice: cannot pass a buffer as " + type.getName());
    }

    private static void invoke(MethodHandle spread, Object[] args) {
        try {
            spread.invokeExact(args);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("kernel threw " + t, t);
        }
    }

    private static Method method(GeneratedKernel kernel) {
        String[] parts = kernel.source().substring(EmulatorCompiler.SOURCE_PREFIX.length()).split(" ");
        ClassLoader loader = Thread.currentThread().getContextClassLoader();
        if (loader == null) {
            loader = EmulatorDevice.class.getClassLoader();
        }
        try {
            Class<?> owner = Class.forName(parts[0], false, loader);
            MethodType type = MethodType.fromMethodDescriptorString(parts[2], owner.getClassLoader());
            Method m = owner.getDeclaredMethod(parts[1], type.parameterArray());
            m.setAccessible(true);
            return m;
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalArgumentException("EmulatorDevice.load: cannot find " + kernel.javaName() + ": " + e, e);
        }
    }

    /** A loaded kernel: the method and a handle taking all arguments as one {@code Object[]}. */
    private static final class EmulatedKernel implements DeviceKernel {
        private final GeneratedKernel generated;
        private final Method method;
        private final MethodHandle handle;

        EmulatedKernel(GeneratedKernel generated, Method method) {
            this.generated = generated;
            this.method = method;
            try {
                MethodHandle h = MethodHandles.lookup().unreflect(method);
                this.handle = h.asSpreader(Object[].class, method.getParameterCount())
                        .asType(MethodType.methodType(void.class, Object[].class));
            } catch (IllegalAccessException e) {
                throw new IllegalArgumentException("EmulatorDevice.load: " + generated.javaName()
                        + " is not accessible: " + e.getMessage(), e);
            }
        }

        @Override
        public GeneratedKernel generated() {
            return generated;
        }

        @Override
        public double compileMillis() {
            return 0;
        }

        @Override
        public boolean fromDiskCache() {
            return false;
        }

        @Override
        public String binaryKind() {
            return "emulated";
        }
    }

    /** Host memory standing in for device memory. */
    private static final class HostBuffer implements DeviceBuffer {
        private final EmulatorDevice device;
        private final Arena arena = Arena.ofShared();
        private final MemorySegment segment;
        private final AtomicBoolean freed = new AtomicBoolean();

        HostBuffer(EmulatorDevice device, long bytes) {
            this.device = device;
            this.segment = arena.allocate(bytes, 64);
        }

        MemorySegment segment() {
            if (freed.get()) {
                throw new IllegalStateException("EmulatorDevice: buffer of " + segment.byteSize() + " bytes used after close");
            }
            return segment;
        }

        @Override
        public long byteSize() {
            return segment.byteSize();
        }

        @Override
        public ComputeDevice device() {
            return device;
        }

        @Override
        public void close() {
            if (freed.compareAndSet(false, true)) {
                arena.close();
            }
        }
    }
}
