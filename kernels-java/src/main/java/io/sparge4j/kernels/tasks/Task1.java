package io.sparge4j.kernels.tasks;

/**
 * A kernel of 1 parameter, given to {@code TaskGraph.task} as a method reference such as
 * {@code PortabilityKernels::saxpy}. Serializable so that the executor can find the referenced static method.
 *
 * @param <A> type of argument 1
 */
@FunctionalInterface
public interface Task1<A> extends KernelTask {
    /**
     * The kernel's body; executors call the referenced method instead.
     *
     * @param a argument 1
     */
    void apply(A a);
}
