package io.sparge4j.kernels;

import io.sparge4j.kernels.runtime.TaskExecutor;

import java.util.List;
import java.util.Objects;

/**
 * What {@link ExecutionPlan#execute()} returns, as TornadoVM's {@code TornadoExecutionResult}: the profile of each
 * task, and {@link #transferToHost} for arrays declared {@code UNDER_DEMAND}.
 */
public final class ExecutionResult {
    private final TaskExecutor executor;
    private final List<TaskProfile> tasks;
    private final long totalNanos;

    /**
     * For executors.
     *
     * @param executor the executor that ran the plan (for {@link #transferToHost})
     * @param tasks one profile per task, in the order they ran
     * @param totalNanos wall time of the whole execution, transfers and compilation included
     */
    public ExecutionResult(TaskExecutor executor, List<TaskProfile> tasks, long totalNanos) {
        this.executor = Objects.requireNonNull(executor, "executor");
        this.tasks = List.copyOf(tasks);
        this.totalNanos = totalNanos;
    }

    /** @return one profile per task, in the order they ran */
    public List<TaskProfile> tasks() {
        return tasks;
    }

    /**
     * @param taskName {@code "graph.task"}
     * @return that task's profile
     * @throws IllegalArgumentException if the plan has no such task
     */
    public TaskProfile task(String taskName) {
        for (TaskProfile t : tasks) {
            if (t.taskName().equals(taskName)) {
                return t;
            }
        }
        throw new IllegalArgumentException("ExecutionResult.task: no task \"" + taskName + "\", expected one of "
                + tasks.stream().map(TaskProfile::taskName).toList());
    }

    /** @return the sum of the tasks' kernel times, in nanoseconds */
    public long totalKernelNanos() {
        return tasks.stream().mapToLong(TaskProfile::kernelNanos).sum();
    }

    /** @return the sum of the tasks' compile times in this execution, in milliseconds */
    public double totalCompileMillis() {
        return tasks.stream().mapToDouble(TaskProfile::compileMillis).sum();
    }

    /** @return the wall time of the whole execution, in nanoseconds */
    public long totalNanos() {
        return totalNanos;
    }

    /** @return the backend that ran it, e.g. {@code "cuda"} */
    public String backendName() {
        return executor.backendName();
    }

    /** @return one line per task: {@code "graph.task: path"} */
    public String pathReport() {
        StringBuilder sb = new StringBuilder();
        for (TaskProfile t : tasks) {
            sb.append(t.taskName()).append(": ").append(t.pathReport()).append('\n');
        }
        return sb.toString();
    }

    /**
     * Copies arrays back from the device now (for arrays declared {@code UNDER_DEMAND}; any array the plan moved
     * to the device is accepted).
     *
     * @param arrays kernel arrays of the plan
     * @return this result
     */
    public ExecutionResult transferToHost(Object... arrays) {
        executor.transferToHost(arrays);
        return this;
    }
}
