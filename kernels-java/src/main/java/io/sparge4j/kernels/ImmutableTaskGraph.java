package io.sparge4j.kernels;

import io.sparge4j.kernels.tasks.TaskSpec;
import io.sparge4j.kernels.tasks.Transfer;

import java.util.List;

/**
 * A frozen {@link TaskGraph} ({@link TaskGraph#snapshot()}), as TornadoVM's {@code ImmutableTaskGraph}: what an
 * {@link ExecutionPlan} runs. The lists are read by executors; they never change.
 */
public final class ImmutableTaskGraph {
    private final String name;
    private final List<TaskSpec> tasks;
    private final List<Transfer> transfersToDevice;
    private final List<Transfer> transfersToHost;

    ImmutableTaskGraph(String name, List<TaskSpec> tasks, List<Transfer> toDevice, List<Transfer> toHost) {
        this.name = name;
        this.tasks = List.copyOf(tasks);
        this.transfersToDevice = List.copyOf(toDevice);
        this.transfersToHost = List.copyOf(toHost);
    }

    /** @return the graph's name */
    public String name() {
        return name;
    }

    /** @return the tasks, in the order they run */
    public List<TaskSpec> tasks() {
        return tasks;
    }

    /** @return the {@code transferToDevice} calls, in order */
    public List<Transfer> transfersToDevice() {
        return transfersToDevice;
    }

    /** @return the {@code transferToHost} calls, in order */
    public List<Transfer> transfersToHost() {
        return transfersToHost;
    }

    /** @return e.g. {@code ImmutableTaskGraph[s0: t0, t1]} */
    @Override
    public String toString() {
        return "ImmutableTaskGraph[" + name + ": " + String.join(", ", tasks.stream().map(TaskSpec::id).toList()) + "]";
    }
}
