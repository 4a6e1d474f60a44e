package io.sparge4j.kernels.tasks;

/**
 * A kernel of 13 parameters, given to {@code TaskGraph.task} as a method reference such as
 * {@code PortabilityKernels::saxpy}. Serializable so that the executor can find the referenced static method.
 *
 * @param <A> type of argument 1
 * @param <B> type of argument 2
 * @param <C> type of argument 3
 * @param <D> type of argument 4
 * @param <E> type of argument 5
 * @param <F> type of argument 6
 * @param <G> type of argument 7
 * @param <H> type of argument 8
 * @param <I> type of argument 9
 * @param <J> type of argument 10
 * @param <K> type of argument 11
 * @param <L> type of argument 12
 * @param <M> type of argument 13
 */
@FunctionalInterface
public interface Task13<A, B, C, D, E, F, G, H, I, J, K, L, M> extends KernelTask {
    /**
     * The kernel's body; executors call the referenced method instead.
     *
     * @param a argument 1
     * @param b argument 2
     * @param c argument 3
     * @param d argument 4
     * @param e argument 5
     * @param f argument 6
     * @param g argument 7
     * @param h argument 8
     * @param i argument 9
     * @param j argument 10
     * @param k argument 11
     * @param l argument 12
     * @param m argument 13
     */
    void apply(A a, B b, C c, D d, E e, F f, G g, H h, I i, J j, K k, L l, M m);
}
