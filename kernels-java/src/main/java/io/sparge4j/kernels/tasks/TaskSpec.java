package io.sparge4j.kernels.tasks;

import java.util.Arrays;
import java.util.Objects;

/**
 * One task of a task graph: its id, the kernel method reference and the arguments it is called with.
 *
 * @param graphName the task graph's name
 * @param id the task's id within the graph
 * @param kernel the method reference, e.g. {@code PortabilityKernels::saxpy}
 * @param arguments one per kernel parameter, in order; a {@code KernelContext} argument is a placeholder that
 *     the executor replaces by each work-item's context
 */
public record TaskSpec(String graphName, String id, KernelTask kernel, Object[] arguments) {
    /** Validates and copies the arguments (the array, not the kernel arrays it refers to). */
    public TaskSpec {
        Objects.requireNonNull(graphName, "graphName");
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(kernel, "kernel");
        arguments = arguments.clone();
    }

    /** @return {@code "graph.task"}, the key of the task's grid in a {@code GridScheduler} */
    public String qualifiedName() {
        return graphName + "." + id;
    }

    /** @return a copy of the arguments */
    @Override
    public Object[] arguments() {
        return arguments.clone();
    }

    /** @return e.g. {@code TaskSpec[g.t0, 5 arguments]} */
    @Override
    public String toString() {
        return "TaskSpec[" + qualifiedName() + ", " + arguments.length + " arguments]";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TaskSpec t && t.graphName.equals(graphName) && t.id.equals(id) && t.kernel == kernel
                && Arrays.equals(t.arguments, arguments);
    }

    @Override
    public int hashCode() {
        return Objects.hash(graphName, id, System.identityHashCode(kernel), Arrays.hashCode(arguments));
    }
}
