package io.sparge4j.kernels;

import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.tasks.KernelTask;
import io.sparge4j.kernels.tasks.Task1;
import io.sparge4j.kernels.tasks.Task10;
import io.sparge4j.kernels.tasks.Task11;
import io.sparge4j.kernels.tasks.Task12;
import io.sparge4j.kernels.tasks.Task13;
import io.sparge4j.kernels.tasks.Task14;
import io.sparge4j.kernels.tasks.Task15;
import io.sparge4j.kernels.tasks.Task2;
import io.sparge4j.kernels.tasks.Task3;
import io.sparge4j.kernels.tasks.Task4;
import io.sparge4j.kernels.tasks.Task5;
import io.sparge4j.kernels.tasks.Task6;
import io.sparge4j.kernels.tasks.Task7;
import io.sparge4j.kernels.tasks.Task8;
import io.sparge4j.kernels.tasks.Task9;
import io.sparge4j.kernels.tasks.TaskSpec;
import io.sparge4j.kernels.tasks.Transfer;
import io.sparge4j.kernels.types.arrays.NativeArray;

import java.util.ArrayList;
import java.util.List;

/**
 * A sequence of kernel tasks with the data they move, as TornadoVM's {@code TaskGraph}:
 *
 * <pre>{@code
 * TaskGraph graph = new TaskGraph("s0")
 *         .transferToDevice(DataTransferMode.FIRST_EXECUTION, x)
 *         .transferToDevice(DataTransferMode.EVERY_EXECUTION, y)
 *         .task("t0", PortabilityKernels::saxpy, new KernelContext(), 2f, x, y, n)
 *         .transferToHost(DataTransferMode.EVERY_EXECUTION, y);
 * try (ExecutionPlan plan = new ExecutionPlan(graph.snapshot()).withGridScheduler(grids)) {
 *     plan.execute();
 * }
 * }</pre>
 *
 * <p>A graph is a builder; {@link #snapshot()} freezes it into the {@link ImmutableTaskGraph} that an
 * {@link ExecutionPlan} runs. Arguments are checked here as far as they can be without the kernel's bytecode.
 */
public final class TaskGraph {
    private final String name;
    private final List<Transfer> toDevice = new ArrayList<>();
    private final List<Transfer> toHost = new ArrayList<>();
    private final List<TaskSpec> tasks = new ArrayList<>();

    /**
     * @param name the graph's name: letters, digits, '_' or '-', no dots (tasks are named {@code "name.task"})
     */
    public TaskGraph(String name) {
        this.name = checkName("TaskGraph", "name", name);
    }

    /** @return the graph's name */
    public String getTaskGraphName() {
        return name;
    }

    /**
     * Copies arrays to the device before the tasks run.
     *
     * @param mode {@link DataTransferMode#FIRST_EXECUTION} (copied once, then kept on the device across
     *     executions) or {@link DataTransferMode#EVERY_EXECUTION} (copied on every execution)
     * @param arrays kernel arrays ({@code FloatArray} and so on)
     * @return this graph
     */
    public TaskGraph transferToDevice(int mode, Object... arrays) {
        if (mode != DataTransferMode.FIRST_EXECUTION && mode != DataTransferMode.EVERY_EXECUTION) {
            throw new IllegalArgumentException("TaskGraph \"" + name + "\".transferToDevice: mode is "
                    + modeName(mode) + ", expected FIRST_EXECUTION or EVERY_EXECUTION");
        }
        toDevice.add(new Transfer(mode, arrays("transferToDevice", arrays)));
        return this;
    }

    /**
     * Copies arrays back to the host after the tasks ran.
     *
     * @param mode {@link DataTransferMode#EVERY_EXECUTION} (after every execution) or
     *     {@link DataTransferMode#UNDER_DEMAND} (only when asked, through
     *     {@link ExecutionResult#transferToHost(Object...)})
     * @param arrays kernel arrays
     * @return this graph
     */
    public TaskGraph transferToHost(int mode, Object... arrays) {
        if (mode != DataTransferMode.EVERY_EXECUTION && mode != DataTransferMode.UNDER_DEMAND) {
            throw new IllegalArgumentException("TaskGraph \"" + name + "\".transferToHost: mode is "
                    + modeName(mode) + ", expected EVERY_EXECUTION or UNDER_DEMAND");
        }
        toHost.add(new Transfer(mode, arrays("transferToHost", arrays)));
        return this;
    }

    /**
     * Adds a task: a call of a static kernel method with these arguments. Tasks run in the order added, after
     * the transfers to the device and before the transfers to the host. Array arguments are the kernel arrays
     * ({@code FloatArray} and so on): the device works on its own copy of each, moved as the transfers say (an
     * array in no transfer gets device memory that is never copied). A {@code KernelContext} kernel takes
     * {@code new KernelContext()} as its first argument, as in TornadoVM, and needs a grid in the plan's
     * {@code GridScheduler} under {@code "graph.task"}; a loop-style ({@code @Parallel}) kernel does not.
     *
     * @param <A> type of argument 1
     * @param id the task's id, unique in this graph
     * @param kernel a method reference to a static kernel
     * @param a argument 1
     * @return this graph
     */
    public <A> TaskGraph task(String id, Task1<A> kernel, A a) {
        return add(id, kernel, a);
    }

    /**
     * Adds a task calling a kernel of 2 parameters; see {@link #task(String, Task1, Object)}.
     *
     * @param <A> type of argument 1
     * @param <B> type of argument 2
     * @param id the task's id, unique in this graph
     * @param kernel a method reference to a static kernel
     * @param a argument 1
     * @param b argument 2
     * @return this graph
     */
    public <A, B> TaskGraph task(String id, Task2<A, B> kernel, A a, B b) {
        return add(id, kernel, a, b);
    }

    /**
     * Adds a task calling a kernel of 3 parameters; see {@link #task(String, Task1, Object)}.
     *
     * @param <A> type of argument 1
     * @param <B> type of argument 2
     * @param <C> type of argument 3
     * @param id the task's id, unique in this graph
     * @param kernel a method reference to a static kernel
     * @param a argument 1
     * @param b argument 2
     * @param c argument 3
     * @return this graph
     */
    public <A, B, C> TaskGraph task(String id, Task3<A, B, C> kernel, A a, B b, C c) {
        return add(id, kernel, a, b, c);
    }

    /**
     * Adds a task calling a kernel of 4 parameters; see {@link #task(String, Task1, Object)}.
     *
     * @param <A> type of argument 1
     * @param <B> type of argument 2
     * @param <C> type of argument 3
     * @param <D> type of argument 4
     * @param id the task's id, unique in this graph
     * @param kernel a method reference to a static kernel
     * @param a argument 1
     * @param b argument 2
     * @param c argument 3
     * @param d argument 4
     * @return this graph
     */
    public <A, B, C, D> TaskGraph task(String id, Task4<A, B, C, D> kernel, A a, B b, C c, D d) {
        return add(id, kernel, a, b, c, d);
    }

    /**
     * Adds a task calling a kernel of 5 parameters; see {@link #task(String, Task1, Object)}.
     *
     * @param <A> type of argument 1
     * @param <B> type of argument 2
     * @param <C> type of argument 3
     * @param <D> type of argument 4
     * @param <E> type of argument 5
     * @param id the task's id, unique in this graph
     * @param kernel a method reference to a static kernel
     * @param a argument 1
     * @param b argument 2
     * @param c argument 3
     * @param d argument 4
     * @param e argument 5
     * @return this graph
     */
    public <A, B, C, D, E> TaskGraph task(String id, Task5<A, B, C, D, E> kernel, A a, B b, C c, D d, E e) {
        return add(id, kernel, a, b, c, d, e);
    }

    /**
     * Adds a task calling a kernel of 6 parameters; see {@link #task(String, Task1, Object)}.
     *
     * @param <A> type of argument 1
     * @param <B> type of argument 2
     * @param <C> type of argument 3
     * @param <D> type of argument 4
     * @param <E> type of argument 5
     * @param <F> type of argument 6
     * @param id the task's id, unique in this graph
     * @param kernel a method reference to a static kernel
     * @param a argument 1
     * @param b argument 2
     * @param c argument 3
     * @param d argument 4
     * @param e argument 5
     * @param f argument 6
     * @return this graph
     */
    public <A, B, C, D, E, F> TaskGraph task(String id, Task6<A, B, C, D, E, F> kernel, A a, B b, C c, D d, E e, F f) {
        return add(id, kernel, a, b, c, d, e, f);
    }

    /**
     * Adds a task calling a kernel of 7 parameters; see {@link #task(String, Task1, Object)}.
     *
     * @param <A> type of argument 1
     * @param <B> type of argument 2
     * @param <C> type of argument 3
     * @param <D> type of argument 4
     * @param <E> type of argument 5
     * @param <F> type of argument 6
     * @param <G> type of argument 7
     * @param id the task's id, unique in this graph
     * @param kernel a method reference to a static kernel
     * @param a argument 1
     * @param b argument 2
     * @param c argument 3
     * @param d argument 4
     * @param e argument 5
     * @param f argument 6
     * @param g argument 7
     * @return this graph
     */
    public <A, B, C, D, E, F, G> TaskGraph task(String id, Task7<A, B, C, D, E, F, G> kernel, A a, B b, C c, D d, E e, F f, G g) {
        return add(id, kernel, a, b, c, d, e, f, g);
    }

    /**
     * Adds a task calling a kernel of 8 parameters; see {@link #task(String, Task1, Object)}.
     *
     * @param <A> type of argument 1
     * @param <B> type of argument 2
     * @param <C> type of argument 3
     * @param <D> type of argument 4
     * @param <E> type of argument 5
     * @param <F> type of argument 6
     * @param <G> type of argument 7
     * @param <H> type of argument 8
     * @param id the task's id, unique in this graph
     * @param kernel a method reference to a static kernel
     * @param a argument 1
     * @param b argument 2
     * @param c argument 3
     * @param d argument 4
     * @param e argument 5
     * @param f argument 6
     * @param g argument 7
     * @param h argument 8
     * @return this graph
     */
    public <A, B, C, D, E, F, G, H> TaskGraph task(String id, Task8<A, B, C, D, E, F, G, H> kernel, A a, B b, C c, D d, E e, F f, G g, H h) {
        return add(id, kernel, a, b, c, d, e, f, g, h);
    }

    /**
     * Adds a task calling a kernel of 9 parameters; see {@link #task(String, Task1, Object)}.
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
     * @param id the task's id, unique in this graph
     * @param kernel a method reference to a static kernel
     * @param a argument 1
     * @param b argument 2
     * @param c argument 3
     * @param d argument 4
     * @param e argument 5
     * @param f argument 6
     * @param g argument 7
     * @param h argument 8
     * @param i argument 9
     * @return this graph
     */
    public <A, B, C, D, E, F, G, H, I> TaskGraph task(String id, Task9<A, B, C, D, E, F, G, H, I> kernel, A a, B b, C c, D d, E e, F f, G g, H h, I i) {
        return add(id, kernel, a, b, c, d, e, f, g, h, i);
    }

    /**
     * Adds a task calling a kernel of 10 parameters; see {@link #task(String, Task1, Object)}.
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
     * @param id the task's id, unique in this graph
     * @param kernel a method reference to a static kernel
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
     * @return this graph
     */
    public <A, B, C, D, E, F, G, H, I, J> TaskGraph task(String id, Task10<A, B, C, D, E, F, G, H, I, J> kernel, A a, B b, C c, D d, E e, F f, G g, H h, I i, J j) {
        return add(id, kernel, a, b, c, d, e, f, g, h, i, j);
    }

    /**
     * Adds a task calling a kernel of 11 parameters; see {@link #task(String, Task1, Object)}.
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
     * @param id the task's id, unique in this graph
     * @param kernel a method reference to a static kernel
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
     * @return this graph
     */
    public <A, B, C, D, E, F, G, H, I, J, K> TaskGraph task(String id, Task11<A, B, C, D, E, F, G, H, I, J, K> kernel, A a, B b, C c, D d, E e, F f, G g, H h, I i, J j, K k) {
        return add(id, kernel, a, b, c, d, e, f, g, h, i, j, k);
    }

    /**
     * Adds a task calling a kernel of 12 parameters; see {@link #task(String, Task1, Object)}.
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
     * @param id the task's id, unique in this graph
     * @param kernel a method reference to a static kernel
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
     * @return this graph
     */
    public <A, B, C, D, E, F, G, H, I, J, K, L> TaskGraph task(String id, Task12<A, B, C, D, E, F, G, H, I, J, K, L> kernel, A a, B b, C c, D d, E e, F f, G g, H h, I i, J j, K k, L l) {
        return add(id, kernel, a, b, c, d, e, f, g, h, i, j, k, l);
    }

    /**
     * Adds a task calling a kernel of 13 parameters; see {@link #task(String, Task1, Object)}.
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
     * @param id the task's id, unique in this graph
     * @param kernel a method reference to a static kernel
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
     * @return this graph
     */
    public <A, B, C, D, E, F, G, H, I, J, K, L, M> TaskGraph task(String id, Task13<A, B, C, D, E, F, G, H, I, J, K, L, M> kernel, A a, B b, C c, D d, E e, F f, G g, H h, I i, J j, K k, L l, M m) {
        return add(id, kernel, a, b, c, d, e, f, g, h, i, j, k, l, m);
    }

    /**
     * Adds a task calling a kernel of 14 parameters; see {@link #task(String, Task1, Object)}.
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
     * @param <N> type of argument 14
     * @param id the task's id, unique in this graph
     * @param kernel a method reference to a static kernel
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
     * @param n argument 14
     * @return this graph
     */
    public <A, B, C, D, E, F, G, H, I, J, K, L, M, N> TaskGraph task(String id, Task14<A, B, C, D, E, F, G, H, I, J, K, L, M, N> kernel, A a, B b, C c, D d, E e, F f, G g, H h, I i, J j, K k, L l, M m, N n) {
        return add(id, kernel, a, b, c, d, e, f, g, h, i, j, k, l, m, n);
    }

    /**
     * Adds a task calling a kernel of 15 parameters; see {@link #task(String, Task1, Object)}.
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
     * @param <N> type of argument 14
     * @param <O> type of argument 15
     * @param id the task's id, unique in this graph
     * @param kernel a method reference to a static kernel
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
     * @param n argument 14
     * @param o argument 15
     * @return this graph
     */
    public <A, B, C, D, E, F, G, H, I, J, K, L, M, N, O> TaskGraph task(String id, Task15<A, B, C, D, E, F, G, H, I, J, K, L, M, N, O> kernel, A a, B b, C c, D d, E e, F f, G g, H h, I i, J j, K k, L l, M m, N n, O o) {
        return add(id, kernel, a, b, c, d, e, f, g, h, i, j, k, l, m, n, o);
    }

    /**
     * Freezes the graph: later changes to this builder do not affect the snapshot.
     *
     * @return the immutable graph
     * @throws IllegalStateException if the graph has no task
     */
    public ImmutableTaskGraph snapshot() {
        if (tasks.isEmpty()) {
            throw new IllegalStateException("TaskGraph \"" + name + "\".snapshot: the graph has no task; add one with task(...)");
        }
        return new ImmutableTaskGraph(name, tasks, toDevice, toHost);
    }

    private TaskGraph add(String id, KernelTask kernel, Object... arguments) {
        checkName("TaskGraph \"" + name + "\".task", "id", id);
        if (kernel == null) {
            throw new IllegalArgumentException("TaskGraph \"" + name + "\".task \"" + id
                    + "\": kernel is null, expected a method reference such as PortabilityKernels::saxpy");
        }
        for (TaskSpec t : tasks) {
            if (t.id().equals(id)) {
                throw new IllegalArgumentException("TaskGraph \"" + name + "\".task: id \"" + id
                        + "\" is already used in this graph, expected a new id");
            }
        }
        tasks.add(new TaskSpec(name, id, kernel, arguments));
        return this;
    }

    private List<NativeArray> arrays(String op, Object[] arrays) {
        if (arrays == null || arrays.length == 0) {
            throw new IllegalArgumentException("TaskGraph \"" + name + "\"." + op
                    + ": no arrays given, expected at least one kernel array");
        }
        List<NativeArray> out = new ArrayList<>(arrays.length);
        for (int i = 0; i < arrays.length; i++) {
            if (!(arrays[i] instanceof NativeArray a)) {
                throw new IllegalArgumentException("TaskGraph \"" + name + "\"." + op + ": argument " + i + " is "
                        + (arrays[i] == null ? "null" : arrays[i].getClass().getName())
                        + ", expected a kernel array (FloatArray, IntArray, LongArray, DoubleArray, HalfFloatArray, BFloat16Array,"
                        + " ByteArray)");
            }
            out.add(a);
        }
        return out;
    }

    private static String modeName(int mode) {
        try {
            return DataTransferMode.name(mode);
        } catch (IllegalArgumentException e) {
            return Integer.toString(mode);
        }
    }

    static String checkName(String op, String what, String value) {
        if (value == null || value.isEmpty() || !value.chars().allMatch(
                c -> Character.isLetterOrDigit(c) || c == '_' || c == '-')) {
            throw new IllegalArgumentException(op + ": " + what + " is " + (value == null ? "null" : "\"" + value + "\"")
                    + ", expected letters, digits, '_' or '-' (no dots: grids are keyed \"graph.task\")");
        }
        return value;
    }
}
