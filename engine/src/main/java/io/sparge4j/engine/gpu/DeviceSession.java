package io.sparge4j.engine.gpu;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.execution.ExecutionBackends;
import io.sparge4j.engine.execution.KernelCompiler;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.MemoryStats;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.types.arrays.IntArray;
import io.sparge4j.kernels.types.arrays.NativeArray;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * One device (CUDA, OpenCL or the CPU kernel emulator) on which {@link DeviceTensor}s live and the device ops
 * ({@link DeviceLinear}, {@link DeviceNorms}, {@link DeviceActivations}, {@link DeviceElementwise},
 * {@link DeviceRope}, {@link DeviceAttention}, {@link DeviceAdamW}) run.
 *
 * <p>Data crosses between host and device only in {@link #upload} and {@link DeviceTensor#toHost}: every op enqueues
 * its kernels on the device's one in-order queue and returns at once, with its result left on the device, so a
 * whole model runs with no host round trip between ops. Kernels are compiled on first use and cached per kernel and
 * work-group size, so repeated calls (with new tensors of any shape) compile nothing.
 *
 * <p>Not thread-safe: one session, one thread. Closing the session frees every tensor still open on it.
 *
 * <p>With {@code SPARGE_PROFILE=1} in the environment every launch is timed on the device and the session prints
 * the device time per kernel to stderr when it closes ({@link KernelProfile}; launches then wait for the device).
 */
public final class DeviceSession implements AutoCloseable {
    private final ComputeDevice device;
    private final KernelLauncher launcher;
    private final Map<NativeArray, DeviceBuffer> buffers = new IdentityHashMap<>();
    private final Set<DeviceStorage> live = Collections.newSetFromMap(new IdentityHashMap<>());
    /**
     * Freed buffers by byte size, handed to the next allocation of that size, as PyTorch's caching allocator does
     * (exact sizes only: a model repeats the same shapes every layer and step). Allocating costs a driver call and
     * freeing waits for the queue on CUDA, so without this every op's output would cost both. Reuse is safe because
     * each session has one in-order queue: the new owner's writes come after the old owner's last use.
     */
    private final Map<Long, ArrayDeque<DeviceBuffer>> cache = new HashMap<>();
    private long cachedBytes;
    private final Map<String, DeviceTensor> constants = new HashMap<>();
    private final Map<String, Object> scratch = new HashMap<>();
    private final Map<String, ArrayDeque<Object>> recycled = new HashMap<>();
    private final MemoryStats memory = new MemoryStats();
    private boolean closed;


    private DeviceSession(ComputeDevice device, KernelCompiler compiler, KernelProfile profile) {
        this.device = device;
        this.launcher = new KernelLauncher(device, compiler, profile);
    }

    /** A session on a device the caller opened (tests wrap a device to watch its traffic); the session owns it. */
    static DeviceSession on(ComputeDevice device, KernelCompiler compiler) {
        return new DeviceSession(device, compiler, KernelProfile.fromEnvironment());
    }

    /** As {@link #on(ComputeDevice, KernelCompiler)}, timing every launch into {@code profile}. */
    static DeviceSession profiled(ComputeDevice device, KernelCompiler compiler, KernelProfile profile) {
        return new DeviceSession(device, compiler, profile);
    }

    /**
     * @param selection the backend ({@code cuda}, {@code opencl} or {@code emulator}) and device
     * @return a session owning the opened device
     * @throws BackendException when the backend's library or the device cannot be opened (the message says why and
     *     what to install or select)
     */
    public static DeviceSession open(BackendSelection selection) {
        if (selection == null) {
            throw new IllegalArgumentException("selection: got null, expected a BackendSelection such as"
                    + " new BackendSelection(\"cuda\", null)");
        }
        return new DeviceSession(ExecutionBackends.openDevice(selection), ExecutionBackends.compiler(selection),
                KernelProfile.fromEnvironment());
    }

    /**
     * @param backend {@code "cuda"}, {@code "opencl"}, {@code "emulator"} (or {@code "cpu"}, the emulator)
     * @return a session on the backend's first device
     */
    public static DeviceSession open(String backend) {
        return open(BackendSelection.withOpenClDeviceFromEnvironment(backend));
    }

    /** @return {@code "cuda"}, {@code "opencl"} or {@code "emulator"} */
    public String backendName() {
        return device.backendName();
    }

    /** @return the device's name, e.g. {@code "NVIDIA H200"} */
    public String deviceName() {
        return device.deviceName();
    }

    /**
     * Copies a host tensor to the device.
     *
     * @param tensor f32, bf16, f16 or i32, any shape
     * @return a new device tensor of the same dtype and shape, owned by the caller
     */
    public DeviceTensor upload(Tensor tensor) {
        checkOpen("upload");
        if (tensor == null) {
            throw new IllegalArgumentException("upload: tensor is null, expected a host tensor");
        }
        DeviceTensor t = allocate(tensor.dtype(), tensor.shape());
        if (tensor.byteSize() > 0) {
            guard("upload", () -> device.copyToDevice(tensor.segment(), t.storage().buffer, 0));
        }
        return t;
    }

    /**
     * A tensor whose values are whatever the memory held (as {@code torch.empty}): for outputs that are overwritten
     * whole, such as a collective's receive buffer, without the host copy {@link #zeros} makes.
     *
     * @param dtype f32, bf16, f16 or i32
     * @param shape the shape
     * @return a new device tensor, owned by the caller
     */
    public DeviceTensor empty(DType dtype, int... shape) {
        checkOpen("empty");
        if (dtype == null) {
            throw new IllegalArgumentException("empty: dtype is null, expected f32, bf16, f16 or i32");
        }
        return allocate(dtype, shape);
    }

    /**
     * @param shape the shape
     * @return a new f32 device tensor of zeros (filled on the device: training steps make these every step, and a
     *     host copy each time would stall the queue), owned by the caller
     */
    public DeviceTensor zeros(int... shape) {
        checkOpen("zeros");
        DeviceTensor t = allocate(DType.F32, shape);
        try {
            if (t.numel() > 0) {
                DeviceElementwise.fill(t, 0f);
            }
            return t;
        } catch (RuntimeException e) {
            t.close();   // a failed launch must not leak the buffer
            throw e;
        }
    }

    /**
     * @return this session's device memory: bytes of open tensors and scratch, and their high-water mark (as
     *     {@code torch.cuda.max_memory_allocated}; freed buffers kept for reuse are {@link #cachedBytes()})
     */
    public MemoryStats memory() {
        return memory;
    }

    /** @return what the session's device offers (local memory per work-group, tensor cores, ...) */
    public DeviceFeatures features() {
        return device.features();
    }

    /** Waits until every enqueued op has finished (a device error of an earlier op surfaces here). */
    public void synchronize() {
        checkOpen("synchronize");
        guard("synchronize", device::synchronize);
    }

    /**
     * @return how many device allocations the caller's tensors hold (a tensor and its views share one); the
     *     session's own constants (RoPE tables, dense attention lists) are not counted
     */
    public int liveAllocations() {
        return live.size() - constants.size();
    }

    /** Frees every tensor still open and releases the device. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        KernelProfile profile = launcher.profile();
        if (profile != null && !profile.entries().isEmpty()) {
            System.err.print(profile.report(device.deviceName()));
        }
        try {
            cache.values().forEach(q -> q.forEach(DeviceBuffer::close));
            cache.clear();
            cachedBytes = 0;
            for (DeviceStorage s : live) {
                s.buffer.close();
            }
            live.clear();
            buffers.clear();
        } finally {
            device.close();
        }
    }

    // ---------------------------------------------------------------- for the ops of this package

    /** A new uninitialised device tensor. */
    DeviceTensor allocate(DType dtype, int... shape) {
        checkOpen("allocate");
        int[] s = shape.clone();
        long elements = 1;
        for (int i = 0; i < s.length; i++) {
            if (s[i] < 0) {
                throw new IllegalArgumentException("shape: dimension " + i + " is " + s[i] + " in " + Arrays.toString(s)
                        + ", expected >= 0");
            }
            elements *= s[i];
        }
        if (elements > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("shape: " + Arrays.toString(s) + " has " + elements + " elements, expected"
                    + " at most " + Integer.MAX_VALUE + " (the kernels' indices are 32-bit); split the tensor");
        }
        NativeArray handle = Handles.of(dtype, (int) elements);
        long bytes = Math.max(1, elements * dtype.byteSize());
        DeviceBuffer buffer = obtain(bytes);
        DeviceStorage storage = new DeviceStorage(dtype, elements, handle, buffer);
        buffers.put(handle, buffer);
        live.add(storage);
        return new DeviceTensor(this, storage, s);
    }

    /**
     * A tensor the session keeps (uploaded once, freed when the session closes), such as a RoPE angle table.
     *
     * @param key names the constant, including everything its values depend on
     * @param values makes the host values on first use (the tensor is closed after the upload)
     */
    DeviceTensor constant(String key, Supplier<Tensor> values) {
        checkOpen("constant");
        DeviceTensor t = constants.get(key);
        if (t == null) {
            try (Tensor host = values.get()) {
                t = upload(host);
            }
            constants.put(key, t);
        }
        return t;
    }

    /**
     * Scratch of a kernels-java task helper that the session keeps for its life (device buffers given by
     * {@link #adopt} to each of {@code arrays(helper)}), so repeated ops of one shape allocate nothing.
     *
     * @param key names the helper and its sizes
     * @param make makes the helper on first use
     * @param arrays its arrays that need device buffers
     * @return the helper
     */
    <T> T scratch(String key, Supplier<T> make,
            Function<T, List<? extends NativeArray>> arrays) {
        checkOpen("scratch");
        @SuppressWarnings("unchecked")
        T helper = (T) scratch.get(key);
        if (helper == null) {
            helper = make.get();
            arrays.apply(helper).forEach(this::adopt);
            scratch.put(key, helper);
        }
        return helper;
    }

    /** Helpers kept per key by {@link #recycle}: enough for an op whose result is closed before the next is made. */
    static final int MAX_RECYCLED = 2;

    /**
     * @param key names the helper kind and its sizes
     * @return a helper {@link #recycle}d under {@code key}, its device buffers still adopted, or null
     */
    @SuppressWarnings("unchecked")
    <T> T takeRecycled(String key) {
        checkOpen("takeRecycled");
        ArrayDeque<Object> q = recycled.get(key);
        return q == null ? null : (T) q.pollFirst();
    }

    /**
     * Keeps a closed result's helper with its device buffers for the next op of the same sizes (a model builds one
     * mask per layer: without this, each costs host and device allocations of tens of megabytes and the frees'
     * waits), or frees its buffers when {@value #MAX_RECYCLED} are kept already. Later work on the device queue may
     * still read the old contents; the queue is in order, so the next op's writes come after it.
     */
    void recycle(String key, Object helper, List<? extends NativeArray> arrays) {
        if (closed) {
            return;
        }
        ArrayDeque<Object> q = recycled.computeIfAbsent(key, x -> new ArrayDeque<>());
        if (q.size() < MAX_RECYCLED) {
            q.addLast(helper);
        } else {
            arrays.forEach(this::disown);
        }
    }

    /** Gives a host-allocated kernel array (scratch of a kernels-java task helper) a device buffer of its own. */
    void adopt(NativeArray array) {
        checkOpen("adopt");
        if (!buffers.containsKey(array)) {
            long bytes = Math.max(1, array.getNumBytesOfSegment());
            buffers.put(array, obtain(bytes));
        }
    }

    /** Frees what {@link #adopt} allocated for {@code array}. */
    void disown(NativeArray array) {
        DeviceBuffer b = buffers.remove(array);
        if (b != null && !closed) {
            deferFree(b);
        }
    }

    /** Copies a host array (adopted) to its device buffer. */
    void copyIn(String op, NativeArray array) {
        checkOpen(op);
        DeviceBuffer b = buffer(array);
        if (array.getNumBytesOfSegment() > 0) {
            guard(op, () -> device.copyToDevice(array.getSegment(), b, 0));
        }
    }

    /** Copies an adopted array's device buffer back to its host memory, after all earlier work. */
    void copyOut(String op, NativeArray array) {
        checkOpen(op);
        DeviceBuffer b = buffer(array);
        if (array.getNumBytesOfSegment() > 0) {
            guard(op, () -> device.copyToHost(b, 0, array.getSegment()));
        }
    }

    /**
     * @return the int-pair view of a bf16 or f16 tensor's bytes, for the pair GEMM and the tensor-core attention
     *     (its element count must be even)
     */
    IntArray intPairs(DeviceTensor half) {
        DeviceStorage s = half.storage();
        for (NativeArray v : s.views) {
            if (v instanceof IntArray ints) {
                return ints;
            }
        }
        IntArray ints = Handles.intPairs((int) s.elements);
        s.views.add(ints);
        buffers.put(ints, s.buffer);
        return ints;
    }

    /** Enqueues a graph's tasks; a device failure becomes a {@link BackendException} naming the op. */
    void run(String op, TaskGraph graph, GridScheduler grids) {
        checkOpen(op);
        guard(op, () -> launcher.enqueue(graph, grids, this::buffer));
    }

    /** Overwrites a device tensor in place with a host tensor of its dtype and element count (any dtype). */
    void write(Tensor host, DeviceTensor dst) {
        checkOpen("write");
        if (host.byteSize() > 0) {
            guard("write", () -> device.copyToDevice(host.segment(), dst.storage().buffer, 0));
        }
    }

    Tensor toHost(DeviceTensor t) {
        checkOpen("toHost");
        Tensor host = Tensor.allocate(t.dtype(), t.shape());
        if (host.byteSize() > 0) {
            guard("toHost", () -> device.copyToHost(t.storage().buffer, 0, host.segment()));
        }
        return host;
    }

    void release(DeviceStorage storage) {
        if (!storage.release()) {
            return;
        }
        buffers.remove(storage.handle);
        storage.views.forEach(buffers::remove);
        if (live.remove(storage) && !closed) {
            deferFree(storage.buffer);
        }
    }

    /** A cached buffer of exactly {@code bytes}, or a new one; when the device is full, the cache is emptied first. */
    private DeviceBuffer obtain(long bytes) {
        ArrayDeque<DeviceBuffer> q = cache.get(bytes);
        DeviceBuffer b = q == null ? null : q.pollFirst();
        if (b != null) {
            cachedBytes -= bytes;
        } else {
            try {
                b = guardGet("allocate " + bytes + " bytes", () -> device.allocate(bytes));
            } catch (RuntimeException e) {
                if (cachedBytes == 0) {
                    throw e;
                }
                emptyCache();
                b = guardGet("allocate " + bytes + " bytes", () -> device.allocate(bytes));
            }
        }
        memory.allocated(bytes);
        return b;
    }

    private void deferFree(DeviceBuffer b) {
        long bytes = b.byteSize();
        cache.computeIfAbsent(bytes, x -> new ArrayDeque<>()).addLast(b);
        cachedBytes += bytes;
        memory.freed(bytes);
    }

    /**
     * Returns the cached free buffers to the driver (as {@code torch.cuda.empty_cache()}); tensors still open are
     * untouched. Allocation calls it by itself when the device runs out of memory.
     */
    public void emptyCache() {
        checkOpen("emptyCache");
        List<DeviceBuffer> all = new ArrayList<>();
        cache.values().forEach(all::addAll);
        cache.clear();
        cachedBytes = 0;
        guard("free", () -> all.forEach(DeviceBuffer::close));
    }

    /** @return bytes held in freed buffers kept for reuse (not counted by {@link #memory()}) */
    public long cachedBytes() {
        return cachedBytes;
    }


    boolean isOpen() {
        return !closed;
    }

    private DeviceBuffer buffer(NativeArray array) {
        DeviceBuffer b = buffers.get(array);
        if (b == null) {
            throw new IllegalStateException(array + " has no device buffer in this session: a closed tensor, or one"
                    + " from another session");
        }
        return b;
    }

    private void checkOpen(String op) {
        if (closed) {
            throw new IllegalStateException(op + ": the device session is closed, expected an open one");
        }
    }

    private void guard(String op, Runnable work) {
        guardGet(op, () -> {
            work.run();
            return null;
        });
    }

    private <T> T guardGet(String op, Supplier<T> work) {
        try {
            return work.get();
        } catch (BackendException e) {
            throw new BackendException("device op " + op + " on " + device.backendName() + " (" + device.deviceName()
                    + ") failed: " + e.getMessage() + ". Close device tensors that are no longer needed, use smaller"
                    + " shapes, or run on --backend cpu", e);
        }
    }
}
