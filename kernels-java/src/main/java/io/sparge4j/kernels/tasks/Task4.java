package io.sparge4j.kernels.tasks;

/**
 * A kernel of 4 parameters, given to {@code TaskGraph.task} as a method reference such as
 * {@code PortabilityKernels::saxpy}. Serializable so that the executor can find the referenced static method.
 *
 * @param <A> type of argument 1
 * @param <B> type of argument 2
 * @param <C> type of argument 3
 * @param <D> type of argument 4
 */
@FunctionalInterface
public interface Task4<A, B, C, D> extends KernelTask {
    /**
     * The kernel's body; executors call the referenced method instead.
     *
     * @param a argument 1
     * @param b argument 2
     * @param c argument 3
     * @param d argument 4
     */
    void apply(A a, B b, C c, D d);
}
