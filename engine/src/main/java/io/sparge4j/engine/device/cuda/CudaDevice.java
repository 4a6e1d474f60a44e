package io.sparge4j.engine.device.cuda;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.DeviceKernel;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelCache;
import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.CudaDriver;
import io.sparge4j.engine.device.CudaException;
import io.sparge4j.engine.device.SharedMemoryLimit;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * One CUDA GPU through the driver API ({@code libcuda}) and NVRTC, bound with {@code java.lang.foreign}: the
 * device's primary context, one non-blocking stream on which every copy and launch is ordered, kernels compiled by
 * NVRTC to a cubin for the device's architecture (PTX when NVRTC is older than the device) and kept in the
 * {@link KernelCache}.
 *
 * <p>Thread-safe: every public method takes the device's lock and makes the context current on the calling
 * thread first, since a CUDA context is bound per OS thread and callers (virtual threads included) may move.
 * NVRTC is optional until the first {@link #load}: without it memory and copies still work. NVRTC is found through
 * {@code SPARGE_NVRTC=/full/path/libnvrtc.so} if set, else as {@code libnvrtc.so.13}, {@code .12} or {@code .so}
 * on the loader path.
 *
 * <p>{@link #copyToDevice} waits for the stream (so the host memory may be reused at once); launches do not.
 */
public final class CudaDevice implements ComputeDevice {
    private final CudaCalls cuda;
    private final int ordinal;
    private final int handle;
    private final String name;
    private final int architecture;
    private final LaunchGeometry.Limits limits;
    private final DeviceFeatures features;
    private final MemorySegment context;
    private final MemorySegment stream;
    private final KernelCache cache;
    private final ReentrantLock lock = new ReentrantLock();
    /** The start event of a running {@link #timeNanos}, until the first enqueue records it; guarded by the lock. */
    private MemorySegment pendingStart;
    private boolean timing;
    private final Set<CudaBuffer> buffers = ConcurrentHashMap.newKeySet();
    private final Map<String, CudaKernel> kernels = new ConcurrentHashMap<>();
    private volatile boolean closed;

    private CudaDevice(CudaCalls cuda, int ordinal, KernelCache cache) {
        this.cuda = cuda;
        this.ordinal = ordinal;
        this.cache = cache;
        CudaDriver driver = cuda.driver();
        handle = driver.device(ordinal);
        name = driver.deviceName(handle);
        int major = driver.attribute(handle, CudaDriver.ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        int minor = driver.attribute(handle, CudaDriver.ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        architecture = 10 * major + minor;
        limits = new LaunchGeometry.Limits(attribute(Attribute.MAX_THREADS_PER_BLOCK),
                new int[] {attribute(Attribute.MAX_BLOCK_DIM_X), attribute(Attribute.MAX_BLOCK_DIM_Y),
                        attribute(Attribute.MAX_BLOCK_DIM_Z)},
                new int[] {attribute(Attribute.MAX_GRID_DIM_X), attribute(Attribute.MAX_GRID_DIM_Y),
                        attribute(Attribute.MAX_GRID_DIM_Z)});
        features = new DeviceFeatures(attribute(Attribute.WARP_SIZE), architecture >= 53, architecture >= 80, true,
                limits.maxThreadsPerBlock(), sharedMemoryPerBlock(),
                identity(name, architecture, driver.driverVersion(), nvrtcVersion()));
        context = cuda.primaryContextRetain(handle);
        MemorySegment created;
        try {
            cuda.setCurrent(context);
            created = cuda.streamCreate(CudaCalls.STREAM_NON_BLOCKING);
        } catch (RuntimeException e) {
            cuda.primaryContextRelease(handle);
            throw e;
        }
        stream = created;
    }

    /** {@code CUdevice_attribute} numbers, checked against CUDA 13's {@code cuda.h}. */
    static final class Attribute {
        static final int MAX_THREADS_PER_BLOCK = 1;
        static final int MAX_BLOCK_DIM_X = 2;
        static final int MAX_BLOCK_DIM_Y = 3;
        static final int MAX_BLOCK_DIM_Z = 4;
        static final int MAX_GRID_DIM_X = 5;
        static final int MAX_GRID_DIM_Y = 6;
        static final int MAX_GRID_DIM_Z = 7;
        static final int MAX_SHARED_MEMORY_PER_BLOCK = 8;
        static final int WARP_SIZE = 10;
        static final int MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;

        private Attribute() {
        }
    }

    /**
     * Opens a CUDA device with the standard {@link KernelCache}.
     *
     * @param ordinal the device's index, from 0 to {@link #deviceCount()} - 1
     * @return the device, ready for use
     * @throws BackendException when there is no driver, no device, or no device with that ordinal, saying what to do
     */
    public static CudaDevice open(int ordinal) {
        return open(ordinal, KernelCache.standard());
    }

    /**
     * @param ordinal the device's index
     * @param cache where compiled kernels are kept
     * @return the device
     * @throws BackendException as {@link #open(int)}
     */
    public static CudaDevice open(int ordinal, KernelCache cache) {
        CudaDriver driver;
        try {
            driver = CudaDriver.load();
        } catch (BackendException e) {
            throw new BackendException("no CUDA device: " + e.getMessage()
                    + ". Install the NVIDIA driver (it provides libcuda.so.1), or use --backend cpu or opencl", e);
        }
        int count = initialisedCount(driver);
        if (count == 0) {
            throw new BackendException("no CUDA device: the CUDA driver (" + driver.libraryName() + ") is installed "
                    + "but sees no GPU. Check nvidia-smi and CUDA_VISIBLE_DEVICES, or use --backend cpu or opencl");
        }
        if (ordinal < 0 || ordinal >= count) {
            throw new BackendException("no CUDA device " + ordinal + ": the driver sees " + count + " device"
                    + (count == 1 ? "" : "s") + ", numbered 0 to " + (count - 1) + ". Pass --device between 0 and "
                    + (count - 1) + " (`sparge info` lists them)");
        }
        return new CudaDevice(new CudaCalls(driver), ordinal, cache);
    }

    /** @return how many CUDA devices the driver sees; 0 when there is no driver or it cannot initialise */
    public static int deviceCount() {
        try {
            return initialisedCount(CudaDriver.load());
        } catch (BackendException e) {
            return 0;
        }
    }

    private static int initialisedCount(CudaDriver driver) {
        try {
            driver.init();
            return driver.deviceCount();
        } catch (CudaException e) {
            if (e.code() == CudaDriver.ERROR_NO_DEVICE) {
                return 0;
            }
            String advice = CudaErrors.advice(e.errorName());
            throw new BackendException("no CUDA device: " + e.getMessage() + (advice.isEmpty() ? "" : ". " + advice),
                    e);
        }
    }

    /**
     * @return the cache identity, e.g. {@code cuda|NVIDIA H200|sm_90|driver 13000|nvrtc 13.0}
     */
    static String identity(String deviceName, int architecture, int driverVersion, Optional<int[]> nvrtcVersion) {
        return "cuda|" + deviceName + "|sm_" + architecture + "|driver " + driverVersion + "|nvrtc "
                + nvrtcVersion.map(v -> v[0] + "." + v[1]).orElse("none");
    }

    /**
     * For {@code sparge info}: which NVRTC this backend would use, found as {@link #load} finds it.
     *
     * @return e.g. {@code "NVRTC 13.0 (libnvrtc.so.13)"}, or why it is missing and how to point at it
     */
    public static String nvrtcDescription() {
        try {
            Nvrtc nvrtc = Nvrtc.load();
            int[] version = nvrtc.version();
            return "NVRTC " + version[0] + "." + version[1] + " (" + nvrtc.libraryName() + ")";
        } catch (BackendException e) {
            return e.getMessage();
        }
    }

    private static Optional<int[]> nvrtcVersion() {
        try {
            return Optional.of(Nvrtc.load().version());
        } catch (BackendException e) {
            return Optional.empty();
        }
    }

    /**
     * The most shared memory one block can have: the opt-in maximum (sm_70+, e.g. 227 KiB on an H200), which the JIT
     * reaches through dynamic shared memory, else the default 48 KiB.
     */
    private int sharedMemoryPerBlock() {
        int standard = attribute(Attribute.MAX_SHARED_MEMORY_PER_BLOCK);
        return Math.max(standard, attribute(Attribute.MAX_SHARED_MEMORY_PER_BLOCK_OPTIN));
    }

    private int attribute(int attribute) {
        return cuda.driver().attribute(handle, attribute);
    }

    /** @return the ordinal it was opened with */
    public int ordinal() {
        return ordinal;
    }

    /** @return the compute capability as {@code 10 * major + minor}, e.g. 90 */
    public int computeCapability() {
        return architecture;
    }

    @Override
    public String backendName() {
        return "cuda";
    }

    @Override
    public String deviceName() {
        return name;
    }

    @Override
    public DeviceFeatures features() {
        return features;
    }

    @Override
    public Dialect dialect() {
        return Dialect.CUDA;
    }

    @Override
    public DeviceBuffer allocate(long bytes) {
        if (bytes < 1) {
            throw new IllegalArgumentException("allocate: bytes is " + bytes + ", expected >= 1");
        }
        enter();
        try {
            CudaBuffer buffer = new CudaBuffer(this, cuda.memAlloc(bytes), bytes);
            buffers.add(buffer);
            return buffer;
        } finally {
            lock.unlock();
        }
    }

    /** Frees a buffer; harmless when it is already freed or the device is closed. */
    void free(CudaBuffer buffer) {
        lock.lock();
        try {
            if (closed || buffer.freed()) {
                return;
            }
            cuda.setCurrent(context);
            buffers.remove(buffer);
            buffer.markFreed();
            // Work on the stream may still use the memory; cuMemFree does not wait for a non-blocking stream.
            cuda.streamSynchronize(stream);
            cuda.memFree(buffer.rawPointer());
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void copyToDevice(MemorySegment host, DeviceBuffer dst, long dstOffset) {
        CudaBuffer buffer = own(dst, "dst");
        checkRange("copyToDevice", "dstOffset", dstOffset, host.byteSize(), buffer);
        if (host.byteSize() == 0) {
            return;
        }
        enter();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment source = host.isNative() ? host : arena.allocate(host.byteSize()).copyFrom(host);
            startPendingTiming();
            cuda.memcpyHtoDAsync(buffer.pointer() + dstOffset, source, host.byteSize(), stream);
            // The caller may reuse host as soon as this returns, and a pinned source would still be in flight.
            cuda.streamSynchronize(stream);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void copyToHost(DeviceBuffer src, long srcOffset, MemorySegment host) {
        CudaBuffer buffer = own(src, "src");
        checkRange("copyToHost", "srcOffset", srcOffset, host.byteSize(), buffer);
        if (host.isReadOnly()) {
            throw new IllegalArgumentException("copyToHost: host is a read-only segment, expected a writable one");
        }
        if (host.byteSize() == 0) {
            return;
        }
        enter();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment target = host.isNative() ? host : arena.allocate(host.byteSize());
            // Async on our stream (a plain cuMemcpyDtoH would not wait for a non-blocking stream), then wait.
            startPendingTiming();
            cuda.memcpyDtoHAsync(target, buffer.pointer() + srcOffset, host.byteSize(), stream);
            cuda.streamSynchronize(stream);
            if (target != host) {
                host.copyFrom(target);
            }
        } finally {
            lock.unlock();
        }
    }

    @Override
    public DeviceKernel load(GeneratedKernel kernel) {
        if (kernel.dialect() != Dialect.CUDA) {
            throw new IllegalArgumentException("load: kernel " + kernel.javaName() + " is in dialect "
                    + kernel.dialect() + ", expected CUDA for a CUDA device");
        }
        CudaKernel loaded = kernels.get(kernel.cacheKey());
        if (loaded != null) {
            checkOpen();
            return loaded;
        }
        Nvrtc nvrtc = Nvrtc.load();
        CompileTarget target = CompileTarget.choose(architecture, nvrtc.supportedArchitectures(), nvrtc.emitsCubin());
        long started = System.nanoTime();
        Optional<byte[]> cached = cache.get(kernel.cacheKey(), target.cacheKind());
        byte[] binary = cached.orElseGet(() -> compile(nvrtc, kernel, target));
        double millis = (System.nanoTime() - started) / 1e6;
        enter();
        try {
            loaded = kernels.get(kernel.cacheKey());
            if (loaded != null) {
                return loaded;
            }
            MemorySegment module;
            boolean fromCache = cached.isPresent();
            try {
                module = loadModule(binary, target);
            } catch (CudaException e) {
                if (!fromCache || CudaErrors.sticky(e.errorName())) {
                    throw e;
                }
                // A cached binary the driver refuses (e.g. written by another driver): compile afresh once.
                binary = compile(nvrtc, kernel, target);
                fromCache = false;
                module = loadModule(binary, target);
            }
            MemorySegment function;
            try {
                function = cuda.moduleGetFunction(module, kernel.entryName());
            } catch (RuntimeException e) {
                cuda.moduleUnload(module);
                throw new BackendException("kernel " + kernel.javaName() + ": the compiled module has no entry "
                        + kernel.entryName() + " (is it declared extern \"C\" __global__?): " + e.getMessage(), e);
            }
            try {
                allowDynamicShared(kernel, function);
            } catch (RuntimeException e) {
                cuda.moduleUnload(module);
                throw e;
            }
            loaded = new CudaKernel(kernel, millis, fromCache, target.binaryKind(), this, module, function);
            kernels.put(kernel.cacheKey(), loaded);
            return loaded;
        } finally {
            lock.unlock();
        }
    }

    /**
     * A kernel whose local arrays live in dynamic shared memory: checks static plus dynamic bytes against the
     * device's opt-in maximum and raises the function's dynamic limit (48 KiB by default) to what it needs.
     */
    private void allowDynamicShared(GeneratedKernel kernel, MemorySegment function) {
        int dynamic = kernel.dynamicLocalBytes();
        if (dynamic == 0) {
            return;
        }
        int staticBytes = cuda.funcGetAttribute(function, CudaCalls.FUNC_SHARED_SIZE_BYTES);
        int optIn = attribute(Attribute.MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
        SharedMemoryLimit.check(kernel.javaName(), (long) dynamic + staticBytes, optIn, name + " #" + ordinal,
                "CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN; " + dynamic + " dynamic + " + staticBytes
                        + " static asked");
        cuda.funcSetAttribute(function, CudaCalls.FUNC_MAX_DYNAMIC_SHARED_SIZE_BYTES, dynamic);
    }

    private byte[] compile(Nvrtc nvrtc, GeneratedKernel kernel, CompileTarget target) {
        Nvrtc.Output output = nvrtc.compile(kernel.source(), kernel.javaName() + ".cu", target.options(),
                target.cubin());
        if (!output.succeeded()) {
            throw new BackendException(CompileFailure.message(kernel, target, nvrtc.errorString(output.result()),
                    output.log()));
        }
        cache.put(kernel.cacheKey(), target.cacheKind(), output.binary());
        return output.binary();
    }

    private MemorySegment loadModule(byte[] binary, CompileTarget target) {
        try (Arena arena = Arena.ofConfined()) {
            // PTX must be NUL-terminated; a cubin is an ELF image and the extra byte is ignored.
            MemorySegment image = arena.allocate(binary.length + 1L);
            MemorySegment.copy(binary, 0, image, JAVA_BYTE, 0, binary.length);
            return cuda.moduleLoadData(image);
        }
    }

    @Override
    public void launch(DeviceKernel kernel, long[] globalSize, int[] localSize, List<Object> arguments) {
        if (!(kernel instanceof CudaKernel cudaKernel) || cudaKernel.device() != this) {
            throw new IllegalArgumentException("launch: kernel " + kernel + " was not loaded on this device ("
                    + name + " #" + ordinal + "); load it with this device's load()");
        }
        LaunchGeometry geometry = LaunchGeometry.of(globalSize, localSize, limits);
        enter();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment parameters = KernelArguments.pack(arena, cudaKernel.generated(), arguments,
                    buffer -> own(buffer, "argument").pointer());
            startPendingTiming();
            cuda.launchKernel(cudaKernel.function(), geometry.grid(), geometry.block(),
                    cudaKernel.generated().dynamicLocalBytes(), stream, parameters);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void synchronize() {
        enter();
        try {
            cuda.streamSynchronize(stream);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public long timeNanos(Runnable work) {
        MemorySegment start;
        MemorySegment end;
        enter();
        try {
            if (timing) {
                throw new IllegalStateException("timeNanos: already timing on this device; timings do not nest");
            }
            timing = true;
            start = cuda.eventCreate();
            end = cuda.eventCreate();
            // The start is recorded by the first enqueue, right before it: the host's time preparing the first
            // launch (argument packing, and the interpreter on a cold JVM) is not device time.
            pendingStart = start;
        } finally {
            lock.unlock();
        }
        try {
            // Not under the lock: the work may hand launches to other threads.
            work.run();
            enter();
            try {
                startPendingTiming();
                cuda.eventRecord(end, stream);
                cuda.eventSynchronize(end);
                return Math.round(cuda.eventElapsedMillis(start, end) * 1e6);
            } finally {
                lock.unlock();
            }
        } finally {
            lock.lock();
            timing = false;
            pendingStart = null;
            lock.unlock();
            if (!closed) {
                enter();
                try {
                    cuda.eventDestroy(start);
                    cuda.eventDestroy(end);
                } finally {
                    lock.unlock();
                }
            }
        }
    }

    /** Records the start event of a {@link #timeNanos} waiting for its first enqueue; call under the lock. */
    private void startPendingTiming() {
        if (pendingStart != null) {
            cuda.eventRecord(pendingStart, stream);
            pendingStart = null;
        }
    }

    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            List<RuntimeException> failures = new ArrayList<>();
            run(failures, () -> cuda.setCurrent(context));
            run(failures, () -> cuda.streamSynchronize(stream));
            for (CudaBuffer buffer : buffers) {
                buffer.markFreed();
                run(failures, () -> cuda.memFree(buffer.rawPointer()));
            }
            buffers.clear();
            for (CudaKernel kernel : kernels.values()) {
                run(failures, () -> cuda.moduleUnload(kernel.module()));
            }
            kernels.clear();
            run(failures, () -> cuda.streamDestroy(stream));
            run(failures, () -> cuda.primaryContextRelease(handle));
            if (!failures.isEmpty()) {
                BackendException e = new BackendException("closing CUDA device " + name + " #" + ordinal + ": "
                        + failures.getFirst().getMessage(), failures.getFirst());
                failures.stream().skip(1).forEach(e::addSuppressed);
                throw e;
            }
        } finally {
            lock.unlock();
        }
    }

    private static void run(List<RuntimeException> failures, Runnable step) {
        try {
            step.run();
        } catch (RuntimeException e) {
            failures.add(e);
        }
    }

    /** Takes the lock and makes the context current on this thread; the caller unlocks. */
    private void enter() {
        lock.lock();
        try {
            checkOpen();
            cuda.setCurrent(context);
        } catch (RuntimeException e) {
            lock.unlock();
            throw e;
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("CUDA device " + name + " #" + ordinal + " is used after close()");
        }
    }

    private CudaBuffer own(DeviceBuffer buffer, String argument) {
        if (!(buffer instanceof CudaBuffer cudaBuffer) || cudaBuffer.device() != this) {
            throw new IllegalArgumentException(argument + " is " + buffer + ", expected a buffer allocated on this "
                    + "CUDA device (" + name + " #" + ordinal + ")");
        }
        cudaBuffer.pointer(); // throws IllegalStateException when closed
        return cudaBuffer;
    }

    private static void checkRange(String call, String offsetName, long offset, long bytes, CudaBuffer buffer) {
        if (offset < 0 || offset > buffer.byteSize() - bytes) {
            throw new IllegalArgumentException(call + ": " + offsetName + " " + offset + " + " + bytes + " bytes "
                    + "exceeds the buffer's " + buffer.byteSize() + " bytes; expected " + offsetName + " from 0 to "
                    + (buffer.byteSize() - bytes));
        }
    }

    @Override
    public String toString() {
        return "CudaDevice[" + name + " #" + ordinal + ", sm_" + architecture + (closed ? ", closed" : "") + "]";
    }
}
