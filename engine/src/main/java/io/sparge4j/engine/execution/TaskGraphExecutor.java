package io.sparge4j.engine.execution;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.DeviceKernel;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.kernels.ExecutionResult;
import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.ImmutableTaskGraph;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskProfile;
import io.sparge4j.kernels.WorkerGrid;
import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.runtime.TaskExecutor;
import io.sparge4j.kernels.tasks.TaskSpec;
import io.sparge4j.kernels.tasks.Transfer;
import io.sparge4j.kernels.types.arrays.NativeArray;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Runs task graphs on one {@link ComputeDevice} with one {@link KernelCompiler}: the engine's
 * {@link TaskExecutor}. Per graph, in order: the transfers to the device, the tasks, the transfers to the host.
 *
 * <ul>
 * <li>Each kernel array gets one device buffer for the executor's life (arrays are matched by identity, so the
 * same array in two graphs or two tasks is one buffer). An array in no transfer gets a buffer that is never
 * copied.</li>
 * <li>{@code FIRST_EXECUTION} copies an array on the first execution only; {@code EVERY_EXECUTION} every time;
 * host transfers {@code EVERY_EXECUTION} copy back after every execution, {@code UNDER_DEMAND} only through
 * {@link ExecutionResult#transferToHost}.</li>
 * <li>Each task is compiled at its first launch (again only if its work-group size changes) and its arguments
 * are built from {@link GeneratedKernel#parameters()}.</li>
 * </ul>
 *
 * <p>Not thread-safe: one plan, one thread.
 */
public final class TaskGraphExecutor implements TaskExecutor {
    private final ComputeDevice device;
    private final KernelCompiler compiler;
    private final boolean ownsDevice;
    private final Map<NativeArray, DeviceBuffer> buffers = new IdentityHashMap<>();
    private final Set<NativeArray> sentOnce = Collections.newSetFromMap(new IdentityHashMap<>());
    private final Map<TaskSpec, Loaded> loaded = new IdentityHashMap<>();
    private final Map<TaskSpec, Method> methods = new IdentityHashMap<>();
    private boolean closed;

    /** A task's compiled kernel. */
    private record Loaded(GeneratedKernel generated, DeviceKernel kernel, int groupSize) {
    }

    /**
     * @param device where the work runs
     * @param compiler turns the tasks' methods into kernels for {@code device}
     * @param ownsDevice whether {@link #close()} closes the device too (else only the buffers are freed)
     */
    public TaskGraphExecutor(ComputeDevice device, KernelCompiler compiler, boolean ownsDevice) {
        if (device == null || compiler == null) {
            throw new IllegalArgumentException("TaskGraphExecutor: device is " + device + " and compiler is "
                    + compiler + ", expected both");
        }
        this.device = device;
        this.compiler = compiler;
        this.ownsDevice = ownsDevice;
    }

    @Override
    public String backendName() {
        return device.backendName();
    }

    @Override
    public String deviceName() {
        return device.deviceName();
    }

    /** @return what the executor's device offers (local memory per work-group, tensor cores, ...) */
    public DeviceFeatures features() {
        return device.features();
    }

    /** @return how many device buffers the executor holds (one per distinct array) */
    public int bufferCount() {
        return buffers.size();
    }

    @Override
    public ExecutionResult execute(List<ImmutableTaskGraph> graphs, GridScheduler grids) {
        checkOpen("execute");
        long start = System.nanoTime();
        // Everything that can be checked is checked before the first copy, so a mistake leaves the device alone.
        for (ImmutableTaskGraph graph : graphs) {
            for (TaskSpec task : graph.tasks()) {
                Method m = method(task);
                WorkerGrid grid = grids.get(task.qualifiedName());
                if (grid != null) {
                    LaunchShape.of(grid, task.qualifiedName(), device.features().maxWorkGroupSize());
                }
                if (isContextKernel(m) && grid == null) {
                    throw new IllegalArgumentException("task \"" + task.qualifiedName() + "\": " + m.getName()
                            + " is a KernelContext kernel and needs a WorkerGrid: plan.withGridScheduler(new"
                            + " GridScheduler(\"" + task.qualifiedName() + "\", grid))");
                }
            }
        }
        List<TaskProfile> profiles = new ArrayList<>();
        for (ImmutableTaskGraph graph : graphs) {
            for (Transfer t : graph.transfersToDevice()) {
                for (NativeArray array : t.arrays()) {
                    DeviceBuffer b = buffer(array);
                    if (t.mode() == DataTransferMode.EVERY_EXECUTION || !sentOnce.contains(array)) {
                        copyIn(array, b);
                        sentOnce.add(array);
                    }
                }
            }
            for (TaskSpec task : graph.tasks()) {
                profiles.add(launch(task, grids.get(task.qualifiedName())));
            }
            for (Transfer t : graph.transfersToHost()) {
                if (t.mode() == DataTransferMode.EVERY_EXECUTION) {
                    t.arrays().forEach(this::copyOut);
                }
            }
        }
        device.synchronize();
        return new ExecutionResult(this, profiles, System.nanoTime() - start);
    }

    @Override
    public void transferToHost(Object... arrays) {
        checkOpen("transferToHost");
        for (int i = 0; i < arrays.length; i++) {
            if (!(arrays[i] instanceof NativeArray a) || !buffers.containsKey(a)) {
                throw new IllegalArgumentException("transferToHost: argument " + i + " (" + arrays[i]
                        + ") is not an array of this plan, expected an array that an executed task or transfer used");
            }
            copyOut(a);
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            buffers.values().forEach(DeviceBuffer::close);
            buffers.clear();
        } finally {
            if (ownsDevice) {
                device.close();
            }
        }
    }

    private TaskProfile launch(TaskSpec task, WorkerGrid grid) {
        Method method = method(task);
        Object[] args = task.arguments();
        int maxGroup = device.features().maxWorkGroupSize();
        boolean context = isContextKernel(method);
        LaunchShape shape = grid != null ? LaunchShape.of(grid, task.qualifiedName(), maxGroup) : null;
        int groupSize = shape != null ? shape.groupSize() : LaunchShape.loopGroupSize(maxGroup);
        double compileMillis = 0;
        Loaded k = loaded.get(task);
        if (k == null || k.groupSize != groupSize) {
            long t0 = System.nanoTime();
            GeneratedKernel generated = compiler.compile(method, args, device.dialect(), device.features(), groupSize);
            if (generated.contextKernel() != context) {
                throw new IllegalStateException("task \"" + task.qualifiedName() + "\": the compiler reports "
                        + generated.javaName() + " as " + (generated.contextKernel() ? "a KernelContext" : "a loop-style")
                        + " kernel, but the method " + (context ? "takes" : "does not take") + " a KernelContext");
            }
            k = new Loaded(generated, device.load(generated), groupSize);
            compileMillis = (System.nanoTime() - t0) / 1e6;
            loaded.put(task, k);
        }
        if (shape == null) {
            shape = LaunchShape.forLoops(k.generated.parallelDimensions(), args, maxGroup);
        }
        List<Object> arguments = LaunchArguments.of("task \"" + task.qualifiedName() + "\"", k.generated, args, this::buffer);
        Loaded kernel = k;
        LaunchShape s = shape;
        long nanos = device.timeNanos(() -> device.launch(kernel.kernel, s.global(), s.local(), arguments));
        return new TaskProfile(task.qualifiedName(), k.generated.javaName(), nanos, compileMillis,
                k.kernel.fromDiskCache(), k.generated.paths(), s.global(), s.local());
    }

    private Method method(TaskSpec task) {
        return methods.computeIfAbsent(task, TaskResolver::resolve);
    }

    private static boolean isContextKernel(Method m) {
        return m.getParameterCount() > 0 && m.getParameterTypes()[0] == KernelContext.class;
    }

    private DeviceBuffer buffer(NativeArray array) {
        return buffers.computeIfAbsent(array, a -> device.allocate(Math.max(1, a.getNumBytesOfSegment())));
    }

    private void copyIn(NativeArray array, DeviceBuffer b) {
        if (array.getNumBytesOfSegment() > 0) {
            device.copyToDevice(array.getSegment(), b, 0);
        }
    }

    private void copyOut(NativeArray array) {
        DeviceBuffer b = buffers.get(array);
        if (b == null) {
            throw new IllegalStateException("transferToHost: " + array + " has no device buffer; it was never"
                    + " used by a task or sent to the device");
        }
        if (array.getNumBytesOfSegment() > 0) {
            device.copyToHost(b, 0, array.getSegment());
        }
    }

    private void checkOpen(String op) {
        if (closed) {
            throw new IllegalStateException("TaskGraphExecutor." + op + ": the executor is closed");
        }
    }
}
