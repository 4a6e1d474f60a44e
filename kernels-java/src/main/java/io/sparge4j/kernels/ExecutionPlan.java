package io.sparge4j.kernels;

import io.sparge4j.kernels.runtime.TaskExecutor;
import io.sparge4j.kernels.runtime.TaskExecutors;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Runs task graphs on one device, as TornadoVM's {@code TornadoExecutionPlan}. The plan owns the device memory of
 * its arrays: data sent {@code FIRST_EXECUTION} stays on the device across {@link #execute()} calls until
 * {@link #close()}.
 *
 * <p>The device is opened at the first {@link #execute()}: the backend and device given by {@link #withBackend}
 * and {@link #withDevice}, else the environment variables {@code SPARGE_BACKEND} and {@code SPARGE_DEVICE}, else
 * the CPU emulator. {@link #withExecutor} supplies an executor directly (one sharing an open device, or a test's).
 */
public final class ExecutionPlan implements AutoCloseable {
    private final List<ImmutableTaskGraph> graphs;
    private GridScheduler grids = new GridScheduler();
    private String backend;
    private String device;
    private TaskExecutor executor;
    private boolean closed;

    /**
     * @param graphs the graphs to run, in order; task names {@code "graph.task"} must be unique across them
     */
    public ExecutionPlan(ImmutableTaskGraph... graphs) {
        if (graphs == null || graphs.length == 0) {
            throw new IllegalArgumentException("ExecutionPlan: no graphs given, expected at least one ImmutableTaskGraph");
        }
        Set<String> names = new HashSet<>();
        for (int i = 0; i < graphs.length; i++) {
            if (graphs[i] == null) {
                throw new IllegalArgumentException("ExecutionPlan: graph " + i + " is null, expected an ImmutableTaskGraph");
            }
            if (!names.add(graphs[i].name())) {
                throw new IllegalArgumentException("ExecutionPlan: two graphs are named \"" + graphs[i].name()
                        + "\", expected unique names (grids are keyed \"graph.task\")");
            }
        }
        this.graphs = List.of(graphs);
    }

    /**
     * @param scheduler the grids of the {@code KernelContext} tasks, keyed {@code "graph.task"}
     * @return this plan
     */
    public ExecutionPlan withGridScheduler(GridScheduler scheduler) {
        if (scheduler == null) {
            throw new IllegalArgumentException("ExecutionPlan.withGridScheduler: scheduler is null, expected a GridScheduler");
        }
        this.grids = scheduler;
        return this;
    }

    /**
     * @param backendName {@code "emulator"}, {@code "cpu"} (the emulator, for kernels), {@code "cuda"} or
     *     {@code "opencl"}
     * @return this plan
     */
    public ExecutionPlan withBackend(String backendName) {
        checkNotOpened("withBackend");
        this.backend = backendName;
        return this;
    }

    /**
     * @param selector a CUDA ordinal ({@code "0"}), an OpenCL {@code "platform:device"} pair or flat index, or a
     *     substring of the device's name
     * @return this plan
     */
    public ExecutionPlan withDevice(String selector) {
        checkNotOpened("withDevice");
        this.device = selector;
        return this;
    }

    /**
     * @param backendName as {@link #withBackend}
     * @param selector as {@link #withDevice(String)}
     * @return this plan
     */
    public ExecutionPlan withDevice(String backendName, String selector) {
        return withBackend(backendName).withDevice(selector);
    }

    /**
     * Runs on the given executor instead of opening one; the plan closes it in {@link #close()}.
     *
     * @param taskExecutor the executor
     * @return this plan
     */
    public ExecutionPlan withExecutor(TaskExecutor taskExecutor) {
        checkNotOpened("withExecutor");
        if (taskExecutor == null) {
            throw new IllegalArgumentException("ExecutionPlan.withExecutor: taskExecutor is null");
        }
        this.executor = taskExecutor;
        return this;
    }

    /**
     * Moves data, runs every task of every graph in order, moves results back, and waits.
     *
     * @return the profile, and {@code transferToHost} for {@code UNDER_DEMAND} arrays
     */
    public ExecutionResult execute() {
        if (closed) {
            throw new IllegalStateException("ExecutionPlan.execute: the plan is closed");
        }
        if (executor == null) {
            executor = TaskExecutors.open(backend, device);
        }
        return executor.execute(graphs, grids);
    }

    /** @return the graphs, in order */
    public List<ImmutableTaskGraph> graphs() {
        return graphs;
    }

    /** @return the backend's name once the plan has an executor, else the requested one (may be null) */
    public String backendName() {
        return executor != null ? executor.backendName() : backend;
    }

    /** Frees the plan's device memory (and the device, when the plan opened it). Closing twice is harmless. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (executor != null) {
            executor.close();
        }
    }

    private void checkNotOpened(String op) {
        if (executor != null) {
            throw new IllegalStateException("ExecutionPlan." + op + ": the plan already has an executor ("
                    + executor.backendName() + "); choose the device before the first execute()");
        }
    }
}
