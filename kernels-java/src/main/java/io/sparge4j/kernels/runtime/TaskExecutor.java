package io.sparge4j.kernels.runtime;

import io.sparge4j.kernels.ExecutionResult;
import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.ImmutableTaskGraph;

import java.util.List;

/**
 * Runs the task graphs of one {@link io.sparge4j.kernels.ExecutionPlan} on one device; implemented by the engine.
 * It keeps the plan's device memory between executions (that is what {@code FIRST_EXECUTION} relies on) and
 * frees it on {@link #close()}.
 */
public interface TaskExecutor extends AutoCloseable {
    /** @return {@code "emulator"}, {@code "cuda"} or {@code "opencl"} */
    String backendName();

    /** @return the device's name */
    String deviceName();

    /**
     * Moves data as the graphs' transfers say, runs every task in order, and waits for the end.
     *
     * @param graphs the plan's graphs, in order
     * @param grids the grids of the {@code KernelContext} tasks, keyed {@code "graph.task"}
     * @return the profile
     */
    ExecutionResult execute(List<ImmutableTaskGraph> graphs, GridScheduler grids);

    /**
     * Copies arrays from the device to the host now.
     *
     * @param arrays kernel arrays that an earlier {@link #execute} put on the device
     */
    void transferToHost(Object... arrays);

    /** Frees the device memory of the plan (and the device, when this executor opened it). */
    @Override
    void close();
}
