package io.sparge4j.engine.device.opencl;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.DeviceKernel;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelCache;
import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.OpenCl;
import io.sparge4j.engine.device.SharedMemoryLimit;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

import static java.lang.foreign.ValueLayout.ADDRESS;

/**
 * An OpenCL device with one in-order, profiling command queue, driven through {@code java.lang.foreign}.
 * Copies are blocking; launches are asynchronous until {@link #synchronize()} or a copy to the host. Methods are
 * synchronized: kernel arguments are set on a shared {@code cl_kernel}, which OpenCL does not make thread-safe.
 */
public final class OpenClDevice implements ComputeDevice {
    private final OpenClRuntime cl;
    private final OpenClDeviceRef ref;
    private final MemorySegment deviceId;
    private final MemorySegment context;
    private final MemorySegment queue;
    private final DeviceFeatures features;
    private final long[] maxWorkItemSizes;
    private final OpenClProgramBuilder builder;
    private final Set<OpenClBuffer> buffers = new LinkedHashSet<>();
    private final Map<String, OpenClKernel> kernels = new HashMap<>();
    /** Events of the commands enqueued inside {@link #timeNanos}, or {@code null} outside it. */
    private List<MemorySegment> timedEvents;
    private boolean closed;

    private OpenClDevice(OpenClRuntime cl, OpenClDeviceRef ref, MemorySegment platformId, MemorySegment deviceId,
            KernelCache cache) {
        this.cl = cl;
        this.ref = ref;
        this.deviceId = deviceId;
        OpenCl info = cl.discovery();
        this.features = readFeatures(info, ref, deviceId);
        this.maxWorkItemSizes = info.deviceLongs(deviceId, OpenCl.DEVICE_MAX_WORK_ITEM_SIZES);
        this.context = cl.createContext(platformId, deviceId);
        MemorySegment created;
        try {
            created = cl.createProfilingQueue(context, deviceId, majorVersion(ref.version()) >= 2);
        } catch (RuntimeException e) {
            cl.releaseContext(context);
            throw e;
        }
        this.queue = created;
        this.builder = new OpenClProgramBuilder(cl, context, deviceId, features.identity(), cache);
    }

    /**
     * @return every device of every platform, in platform order; empty when there is no OpenCL library or no
     *     platform. A platform whose driver fails is left out.
     */
    public static List<OpenClDeviceRef> list() {
        OpenCl info;
        List<MemorySegment> platforms;
        try {
            info = OpenCl.load();
            platforms = info.platforms();
        } catch (RuntimeException e) {
            return List.of(); // listing never throws: a missing or broken loader is no device
        }
        List<OpenClDeviceRef> out = new ArrayList<>();
        for (int p = 0; p < platforms.size(); p++) {
            try {
                out.addAll(describe(info, p, platforms.get(p)));
            } catch (RuntimeException e) {
                // One broken vendor driver must not hide the other platforms' devices.
            }
        }
        return List.copyOf(out);
    }

    /**
     * Opens a device with the standard kernel cache.
     *
     * @param platform {@code null} or {@code ""} for any, a platform index such as {@code "1"}, or a
     *     case-insensitive part of the platform's name
     * @param device {@code null} or {@code ""} for the first GPU (else the first device), an index within the
     *     chosen platform (the first platform when {@code platform} is empty), or a case-insensitive part of the
     *     device's name
     * @return the opened device
     * @throws BackendException when OpenCL is missing or nothing matches; the message lists the devices there are
     */
    public static OpenClDevice open(String platform, String device) {
        return open(platform, device, KernelCache.standard());
    }

    /**
     * Opens a device with the given kernel cache.
     *
     * @param platform as in {@link #open(String, String)}
     * @param device as in {@link #open(String, String)}
     * @param cache where program binaries are kept
     * @return the opened device
     */
    public static OpenClDevice open(String platform, String device, KernelCache cache) {
        Objects.requireNonNull(cache, "cache");
        OpenClRuntime cl = OpenClRuntime.load();
        OpenCl info = cl.discovery();
        List<MemorySegment> platforms = info.platforms();
        List<OpenClDeviceRef> all = list();
        OpenClDeviceRef chosen = OpenClSelector.select(all, platform, device);
        MemorySegment platformId = platforms.get(chosen.platformIndex());
        MemorySegment deviceId = info.devices(platformId, OpenCl.DEVICE_TYPE_ALL).get(chosen.deviceIndex());
        return new OpenClDevice(cl, chosen, platformId, deviceId, cache);
    }

    private static List<OpenClDeviceRef> describe(OpenCl info, int p, MemorySegment platform) {
        String platformName = info.platformString(platform, OpenCl.PLATFORM_NAME);
        List<MemorySegment> devices = info.devices(platform, OpenCl.DEVICE_TYPE_ALL);
        List<OpenClDeviceRef> out = new ArrayList<>();
        for (int d = 0; d < devices.size(); d++) {
            MemorySegment id = devices.get(d);
            out.add(new OpenClDeviceRef(p, platformName, d, info.deviceString(id, OpenCl.DEVICE_NAME),
                    info.deviceString(id, OpenCl.DEVICE_VENDOR), info.deviceString(id, OpenCl.DEVICE_VERSION),
                    info.deviceLong(id, OpenCl.DEVICE_TYPE)));
        }
        return out;
    }

    private static DeviceFeatures readFeatures(OpenCl info, OpenClDeviceRef ref, MemorySegment id) {
        Set<String> extensions = Set.copyOf(Arrays.asList(
                info.deviceString(id, OpenCl.DEVICE_EXTENSIONS).split("\\s+")));
        long doubleConfig;
        try {
            doubleConfig = info.deviceLong(id, OpenCl.DEVICE_DOUBLE_FP_CONFIG);
        } catch (BackendException e) {
            doubleConfig = 0; // OpenCL 1.0/1.1 devices without fp64 may reject the query
        }
        long maxGroup = info.deviceLong(id, OpenCl.DEVICE_MAX_WORK_GROUP_SIZE);
        String identity = "opencl|" + ref.platformName() + "|" + ref.deviceName() + "|" + ref.version() + "|"
                + info.deviceString(id, OpenCl.DRIVER_VERSION);
        // Sub-groups stay off: cl_khr_subgroups has no shuffle, and the JIT's local-memory fallback is portable.
        return new DeviceFeatures(0, extensions.contains("cl_khr_fp16"), false,
                extensions.contains("cl_khr_fp64") || doubleConfig != 0,
                (int) Math.min(Integer.MAX_VALUE, maxGroup),
                info.deviceLong(id, OpenCl.DEVICE_LOCAL_MEM_SIZE), identity);
    }

    /** @return the major version of {@code "OpenCL <major>.<minor> ..."}, or 1 when unreadable */
    static int majorVersion(String version) {
        String[] words = version.strip().split("\\s+");
        if (words.length < 2) {
            return 1;
        }
        int dot = words[1].indexOf('.');
        try {
            return Integer.parseInt(dot < 0 ? words[1] : words[1].substring(0, dot));
        } catch (NumberFormatException e) {
            return 1;
        }
    }

    /** @return the program builder, for tests of the binary cache */
    OpenClProgramBuilder programBuilder() {
        return builder;
    }

    /** @return where this device was found: platform, device, version */
    public OpenClDeviceRef ref() {
        return ref;
    }

    @Override
    public String backendName() {
        return "opencl";
    }

    @Override
    public String deviceName() {
        return ref.deviceName();
    }

    @Override
    public DeviceFeatures features() {
        return features;
    }

    @Override
    public Dialect dialect() {
        return Dialect.OPENCL;
    }

    @Override
    public synchronized DeviceBuffer allocate(long bytes) {
        ensureOpen();
        if (bytes < 1) {
            throw new IllegalArgumentException("allocate: bytes is " + bytes + ", expected >= 1");
        }
        OpenClBuffer buffer = new OpenClBuffer(this, cl.createBuffer(context, bytes), bytes);
        buffers.add(buffer);
        return buffer;
    }

    @Override
    public synchronized void copyToDevice(MemorySegment host, DeviceBuffer dst, long dstOffset) {
        ensureOpen();
        Objects.requireNonNull(host, "host");
        OpenClBuffer buffer = own(dst, "dst");
        checkRange("copyToDevice", buffer, dstOffset, host.byteSize());
        if (host.byteSize() == 0) {
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            // Downcalls take native memory only: stage a heap segment's bytes.
            MemorySegment source = host.isNative() ? host : arena.allocate(host.byteSize()).copyFrom(host);
            MemorySegment event = eventSlot(arena);
            cl.write(queue, buffer.handle(), dstOffset, source, event);
            record(event);
        }
    }

    @Override
    public synchronized void copyToHost(DeviceBuffer src, long srcOffset, MemorySegment host) {
        ensureOpen();
        Objects.requireNonNull(host, "host");
        OpenClBuffer buffer = own(src, "src");
        checkRange("copyToHost", buffer, srcOffset, host.byteSize());
        if (host.byteSize() == 0) {
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment target = host.isNative() ? host : arena.allocate(host.byteSize());
            MemorySegment event = eventSlot(arena);
            cl.read(queue, buffer.handle(), srcOffset, target, event);
            record(event);
            if (target != host) {
                host.copyFrom(target);
            }
        }
    }

    @Override
    public synchronized DeviceKernel load(GeneratedKernel kernel) {
        ensureOpen();
        Objects.requireNonNull(kernel, "kernel");
        if (kernel.dialect() != Dialect.OPENCL) {
            throw new IllegalArgumentException("load: kernel " + kernel.javaName() + " is in dialect "
                    + kernel.dialect() + ", expected OPENCL for OpenCL device " + deviceName());
        }
        OpenClKernel loaded = kernels.get(kernel.cacheKey());
        if (loaded != null) {
            return loaded;
        }
        // before building: the build would pass and the launch fail with a bare CL_OUT_OF_RESOURCES
        SharedMemoryLimit.check(kernel.javaName(), kernel.localBytes(), features.localMemoryBytes(), deviceName(),
                "CL_DEVICE_LOCAL_MEM_SIZE");
        OpenClProgramBuilder.Built built = builder.build(kernel);
        MemorySegment handle;
        long maxGroup;
        try {
            handle = cl.createKernel(built.program(), kernel.entryName(), kernel.javaName());
        } catch (RuntimeException e) {
            cl.releaseProgram(built.program());
            throw e;
        }
        try {
            maxGroup = cl.kernelWorkGroupSize(handle, deviceId);
        } catch (RuntimeException e) {
            cl.releaseKernel(handle);
            cl.releaseProgram(built.program());
            throw e;
        }
        loaded = new OpenClKernel(kernel, built.program(), handle, maxGroup, built.millis(), built.fromCache(),
                built.fromCache() ? "binary" : "source", this);
        kernels.put(kernel.cacheKey(), loaded);
        return loaded;
    }

    @Override
    public synchronized void launch(DeviceKernel kernel, long[] globalSize, int[] localSize, List<Object> arguments) {
        ensureOpen();
        if (!(kernel instanceof OpenClKernel k) || k.owner() != this) {
            throw new IllegalArgumentException("launch: kernel " + kernel + " was not loaded on OpenCL device "
                    + deviceName() + "; load it with this device's load()");
        }
        long[] local = OpenClLaunchCheck.check(k.generated()::javaName, globalSize, localSize, maxWorkItemSizes,
                Math.min(features.maxWorkGroupSize(), k.maxWorkGroupSize()));
        OpenClArguments.set(cl, k, arguments, this);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment event = eventSlot(arena);
            cl.enqueueKernel(queue, k.kernel(), globalSize.clone(), local, event, () -> "kernel "
                    + k.generated().javaName() + ", global " + Arrays.toString(globalSize) + ", local "
                    + Arrays.toString(localSize) + " (kernel limit " + k.maxWorkGroupSize() + " work-items per group)");
            record(event);
        }
    }

    @Override
    public synchronized void synchronize() {
        ensureOpen();
        cl.finish(queue);
    }

    @Override
    public synchronized long timeNanos(Runnable work) {
        ensureOpen();
        Objects.requireNonNull(work, "work");
        if (timedEvents != null) {
            throw new IllegalStateException("timeNanos: already timing on " + deviceName() + "; do not nest it");
        }
        timedEvents = new ArrayList<>();
        try {
            work.run();
            if (timedEvents.isEmpty()) {
                return 0;
            }
            cl.waitFor(timedEvents.getLast());
            long start = Long.MAX_VALUE;
            long end = Long.MIN_VALUE;
            for (MemorySegment event : timedEvents) {
                start = Math.min(start, cl.profilingTime(event, OpenClRuntime.PROFILING_COMMAND_START));
                end = Math.max(end, cl.profilingTime(event, OpenClRuntime.PROFILING_COMMAND_END));
            }
            return end - start;
        } finally {
            List<MemorySegment> events = timedEvents;
            timedEvents = null;
            events.forEach(cl::releaseEvent);
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        RuntimeException first = null;
        try {
            cl.finish(queue);
        } catch (RuntimeException e) {
            first = e;
        }
        List<Runnable> releases = new ArrayList<>();
        for (OpenClKernel k : kernels.values()) {
            releases.add(() -> cl.releaseKernel(k.kernel()));
            releases.add(() -> cl.releaseProgram(k.program()));
        }
        for (OpenClBuffer b : buffers) {
            if (b.markClosed()) {
                releases.add(() -> cl.releaseBuffer(b.rawHandle()));
            }
        }
        releases.add(() -> cl.releaseQueue(queue));
        releases.add(() -> cl.releaseContext(context));
        kernels.clear();
        buffers.clear();
        // Release everything even when one release fails; report the first failure.
        for (Runnable release : releases) {
            try {
                release.run();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /** Frees one buffer (from {@link OpenClBuffer#close()}); harmless when it or the device is closed. */
    synchronized void free(OpenClBuffer buffer) {
        if (buffer.markClosed()) {
            buffers.remove(buffer);
            cl.releaseBuffer(buffer.rawHandle());
        }
    }

    /** @return the buffer as this device's, or an exception naming {@code what} */
    OpenClBuffer own(Object buffer, String what) {
        if (!(buffer instanceof OpenClBuffer b) || b.device() != this) {
            throw new IllegalArgumentException(what + ": " + buffer + " is not a buffer of OpenCL device "
                    + deviceName());
        }
        if (b.closed()) {
            throw new IllegalArgumentException(what + ": " + b + " is closed");
        }
        return b;
    }

    private static void checkRange(String call, OpenClBuffer buffer, long offset, long bytes) {
        if (offset < 0 || offset > buffer.byteSize() || bytes > buffer.byteSize() - offset) {
            throw new IndexOutOfBoundsException(call + ": offset " + offset + " + " + bytes + " bytes is outside "
                    + buffer + "; expected 0 <= offset and offset + bytes <= " + buffer.byteSize());
        }
    }

    /** @return where the next command's event goes: a slot while timing, else {@code NULL} (no event) */
    private MemorySegment eventSlot(Arena arena) {
        return timedEvents == null ? MemorySegment.NULL : arena.allocate(ADDRESS);
    }

    /** Keeps the event a command wrote into its slot, while timing. */
    private void record(MemorySegment slot) {
        if (timedEvents != null && !slot.equals(MemorySegment.NULL)) {
            timedEvents.add(slot.get(ADDRESS, 0));
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("OpenCL device " + deviceName() + " is closed");
        }
    }

    @Override
    public String toString() {
        return "OpenClDevice[" + ref + "]";
    }
}
