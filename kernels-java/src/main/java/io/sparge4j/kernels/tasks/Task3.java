package io.sparge4j.kernels.tasks;

/**
 * A kernel of 3 parameters, given to {@code TaskGraph.task} as a method reference such as
 * {@code PortabilityKernels::saxpy}. Serializable so that the executor can find the referenced static method.
 *
 * @param <A> type of argument 1
 * @param <B> type of argument 2
 * @param <C> type of argument 3
 */
@FunctionalInterface
public interface Task3<A, B, C> extends KernelTask {
    /**
     * The kernel's body; executors call the referenced method instead.
     *
     * @param a argument 1
     * @param b argument 2
     * @param c argument 3
     */
    void apply(A a, B b, C c);
}
