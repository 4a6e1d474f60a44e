package io.sparge4j.kernels.tasks;

/**
 * A kernel of 2 parameters, given to {@code TaskGraph.task} as a method reference such as
 * {@code PortabilityKernels::saxpy}. Serializable so that the executor can find the referenced static method.
 *
 * @param <A> type of argument 1
 * @param <B> type of argument 2
 */
@FunctionalInterface
public interface Task2<A, B> extends KernelTask {
    /**
     * The kernel's body; executors call the referenced method instead.
     *
     * @param a argument 1
     * @param b argument 2
     */
    void apply(A a, B b);
}
