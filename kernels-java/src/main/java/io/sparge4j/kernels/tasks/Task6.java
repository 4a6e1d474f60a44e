package io.sparge4j.kernels.tasks;

/**
 * A kernel of 6 parameters, given to {@code TaskGraph.task} as a method reference such as
 * {@code PortabilityKernels::saxpy}. Serializable so that the executor can find the referenced static method.
 *
 * @param <A> type of argument 1
 * @param <B> type of argument 2
 * @param <C> type of argument 3
 * @param <D> type of argument 4
 * @param <E> type of argument 5
 * @param <F> type of argument 6
 */
@FunctionalInterface
public interface Task6<A, B, C, D, E, F> extends KernelTask {
    /**
     * The kernel's body; executors call the referenced method instead.
     *
     * @param a argument 1
     * @param b argument 2
     * @param c argument 3
     * @param d argument 4
     * @param e argument 5
     * @param f argument 6
     */
    void apply(A a, B b, C c, D d, E e, F f);
}
