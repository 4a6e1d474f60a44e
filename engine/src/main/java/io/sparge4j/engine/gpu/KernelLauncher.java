package io.sparge4j.engine.gpu;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.DeviceKernel;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.execution.KernelCompiler;
import io.sparge4j.engine.execution.LaunchArguments;
import io.sparge4j.engine.execution.TaskResolver;
import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.ImmutableTaskGraph;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.WorkerGrid;
import io.sparge4j.kernels.tasks.TaskSpec;
import io.sparge4j.kernels.types.arrays.NativeArray;

import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Enqueues the tasks of a {@link TaskGraph} on one device, in order, with no transfer and no wait: the device op
 * layer's executor. Unlike {@code TaskGraphExecutor}, which keeps every array's buffer (and every task) for its
 * whole life, it takes the buffers from its caller, so a tensor's memory is freed when the tensor is closed, and it
 * caches compiled kernels by method and work-group size, so the same op with new tensors compiles nothing.
 */
final class KernelLauncher {
    private final ComputeDevice device;
    private final KernelCompiler compiler;
    private final Map<Class<?>, Method> methods = new HashMap<>();
    private final Map<String, DeviceKernel> kernels = new HashMap<>();
    /** Times every launch when set ({@code SPARGE_PROFILE=1}); null keeps launches asynchronous. */
    private final KernelProfile profile;

    KernelLauncher(ComputeDevice device, KernelCompiler compiler, KernelProfile profile) {
        this.device = device;
        this.compiler = compiler;
        this.profile = profile;
    }

    /** @return the profile of the launches so far, or null when not profiling */
    KernelProfile profile() {
        return profile;
    }

    /**
     * Enqueues every task of {@code graph} (its transfers must be empty: the op layer moves data itself).
     *
     * @param graph the tasks
     * @param grids every task's grid, with its local size set
     * @param buffers the device buffer of each array argument
     */
    void enqueue(TaskGraph graph, GridScheduler grids, Function<NativeArray, DeviceBuffer> buffers) {
        ImmutableTaskGraph snapshot = graph.snapshot();
        if (!snapshot.transfersToDevice().isEmpty() || !snapshot.transfersToHost().isEmpty()) {
            throw new IllegalArgumentException("graph \"" + snapshot.name() + "\": has transfers, expected none (device"
                    + " tensors are moved by DeviceSession.upload and DeviceTensor.toHost)");
        }
        for (TaskSpec task : snapshot.tasks()) {
            launch(task, grids.get(task.qualifiedName()), buffers);
        }
    }

    private void launch(TaskSpec task, WorkerGrid grid, Function<NativeArray, DeviceBuffer> buffers) {
        String where = "task \"" + task.qualifiedName() + "\"";
        if (grid == null) {
            throw new IllegalStateException(where + ": no grid, expected one in the GridScheduler");
        }
        Method method = methods.computeIfAbsent(task.kernel().getClass(), c -> TaskResolver.resolve(task));
        long[] global = grid.getGlobalWork();
        long[] localWork = grid.getLocalWork();
        if (localWork == null) {
            throw new IllegalStateException(where + ": " + grid + " has no local work, expected one (setLocalWork)");
        }
        int[] local = new int[3];
        for (int d = 0; d < 3; d++) {
            local[d] = (int) localWork[d];
            if (localWork[d] < 1 || global[d] % localWork[d] != 0) {
                throw new IllegalStateException(where + ": global work " + Arrays.toString(global) + " is not a multiple"
                        + " of local work " + Arrays.toString(localWork));
            }
        }
        int groupSize = local[0] * local[1] * local[2];
        if (groupSize > device.features().maxWorkGroupSize()) {
            throw new IllegalStateException(where + ": a work-group of " + groupSize + " work-items, but "
                    + device.deviceName() + " allows at most " + device.features().maxWorkGroupSize());
        }
        Object[] args = task.arguments();
        GeneratedKernel generated = compiler.compile(method, args, device.dialect(), device.features(), groupSize);
        DeviceKernel kernel = kernels.computeIfAbsent(generated.cacheKey(), key -> device.load(generated));
        List<Object> arguments = LaunchArguments.of(where, kernel.generated(), args, buffers);
        if (profile == null) {
            device.launch(kernel, global, local, arguments);
        } else {
            profile.add(kernel.generated().javaName(), device.timeNanos(() -> device.launch(kernel, global, local,
                    arguments)));
        }
    }
}
