package io.sparge4j.engine.execution;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.selftest.PortabilityKernels;
import io.sparge4j.kernels.tasks.Task1;
import io.sparge4j.kernels.tasks.Task15;
import io.sparge4j.kernels.tasks.Task2;
import io.sparge4j.kernels.tasks.TaskSpec;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Method;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Method references resolve to their static kernels; everything else is refused with a precise message. */
class TaskResolverTest {
    static void fill(FloatArray a, float v) {
        a.init(v);
    }

    static void fillInt(FloatArray a, int v) {
        a.init(v);
    }

    /** A kernel of 15 parameters, the most a task takes. */
    static void fifteen(KernelContext ctx, FloatArray a, float s1, FloatArray b, float s2, FloatArray c, float s3,
            FloatArray d, float s4, FloatArray e, float s5, int k, float bias, int n, FloatArray out) {
        out.set(0, a.get(0) * s1 + b.get(0) * s2 + c.get(0) * s3 + d.get(0) * s4 + e.get(0) * s5 + bias * k + n);
    }

    /** An instance method, which a kernel must not be. */
    static final class Holder {
        void fill(FloatArray a) {
            a.init(1f);
        }
    }

    private static TaskSpec only(TaskGraph graph) {
        return graph.snapshot().tasks().getFirst();
    }

    @Test
    void methodReferenceResolvesToTheStaticKernel() throws NoSuchMethodException {
        FloatArray x = new FloatArray(4);
        FloatArray y = new FloatArray(4);
        Method m = TaskResolver.resolve(only(new TaskGraph("g")
                .task("t", PortabilityKernels::saxpy, new KernelContext(), 2f, x, y, 4)));
        assertEquals(PortabilityKernels.class.getMethod("saxpy", KernelContext.class, float.class, FloatArray.class,
                FloatArray.class, int.class), m);
        // a boxed Integer widens into a float parameter, as a Java call would
        Task2<FloatArray, Integer> widened = TaskResolverTest::fill;
        assertEquals("fill", TaskResolver.resolve(only(new TaskGraph("g").task("t", widened, x, 3))).getName());
    }

    @Test
    void nonCapturingLambdaIsItsStaticBody() {
        Task1<FloatArray> lambda = a -> fill(a, 2f);
        Method m = TaskResolver.resolve(only(new TaskGraph("g").task("t", lambda, new FloatArray(2))));
        assertTrue(m.getName().startsWith("lambda$"), m.getName());
    }

    @Test
    void capturingLambdaIsRefused() {
        float captured = 3f;
        Task1<FloatArray> lambda = a -> fill(a, captured);
        var e = assertThrows(IllegalArgumentException.class,
                () -> TaskResolver.resolve(only(new TaskGraph("g").task("t", lambda, new FloatArray(2)))));
        assertTrue(e.getMessage().startsWith("task \"g.t\": the lambda captures 1 value(s) (it calls "
                + "io.sparge4j.engine.execution.TaskResolverTest.lambda$"), e.getMessage());
        assertTrue(e.getMessage().endsWith("expected a method reference to a static kernel such as"
                + " PortabilityKernels::saxpy, with the values passed as task arguments"), e.getMessage());
        Holder holder = new Holder();
        Task1<FloatArray> bound = holder::fill;
        e = assertThrows(IllegalArgumentException.class,
                () -> TaskResolver.resolve(only(new TaskGraph("g").task("t", bound, new FloatArray(2)))));
        assertTrue(e.getMessage().contains("captures 1 value(s)"), e.getMessage());
    }

    @Test
    void instanceMethodIsRefused() {
        Task2<Holder, FloatArray> unbound = Holder::fill;
        var e = assertThrows(IllegalArgumentException.class, () -> TaskResolver.resolve(
                only(new TaskGraph("g").task("t", unbound, new Holder(), new FloatArray(2)))));
        assertEquals("task \"g.t\": the lambda refers to io.sparge4j.engine.execution.TaskResolverTest$Holder.fill,"
                + " which is invokeVirtual, expected a static method (a kernel is a static method)", e.getMessage());
    }

    @Test
    void anonymousClassIsRefused() {
        Task1<FloatArray> anonymous = new Task1<>() {
            @Override
            public void apply(FloatArray a) {
                fill(a, 1f);
            }
        };
        var e = assertThrows(IllegalArgumentException.class,
                () -> TaskResolver.resolve(only(new TaskGraph("g").task("t", anonymous, new FloatArray(2)))));
        assertTrue(e.getMessage().startsWith("task \"g.t\": the kernel is a io.sparge4j.engine.execution."
                + "TaskResolverTest$"), e.getMessage());
    }

    @Test
    void argumentsMustFitTheParameters() {
        // raw types let a wrong argument through the compiler, as reflection-built graphs could
        @SuppressWarnings({"rawtypes", "unchecked"})
        Task2 raw = (Task2<FloatArray, Integer>) TaskResolverTest::fillInt;
        @SuppressWarnings("unchecked")
        TaskSpec wrongType = only(new TaskGraph("g").task("t", raw, new IntArray(2), 1));
        var e = assertThrows(IllegalArgumentException.class, () -> TaskResolver.resolve(wrongType));
        assertEquals("task \"g.t\": argument 0 of TaskResolverTest.fillInt is IntArray IntArray[2], expected FloatArray",
                e.getMessage());
        @SuppressWarnings("unchecked")
        TaskSpec tooWide = only(new TaskGraph("g").task("t", raw, new FloatArray(2), 1.5f));
        e = assertThrows(IllegalArgumentException.class, () -> TaskResolver.resolve(tooWide));
        assertEquals("task \"g.t\": argument 1 of TaskResolverTest.fillInt is Float 1.5, expected int", e.getMessage());
        TaskSpec noContext = only(new TaskGraph("g").task("t", PortabilityKernels::saxpy, null, 2f,
                new FloatArray(2), new FloatArray(2), 2));
        e = assertThrows(IllegalArgumentException.class, () -> TaskResolver.resolve(noContext));
        assertEquals("task \"g.t\": argument 0 of PortabilityKernels.saxpy is null, expected KernelContext"
                + " (pass new KernelContext())", e.getMessage());
    }
    @Test
    void fifteenParameterKernelResolvesAndItsLastArgumentIsChecked() throws NoSuchMethodException {
        FloatArray x = new FloatArray(2);
        Method m = TaskResolver.resolve(only(new TaskGraph("g").task("t", TaskResolverTest::fifteen,
                new KernelContext(), x, 1f, x, 2f, x, 3f, x, 4f, x, 5f, 6, 7f, 2, x)));
        assertEquals(TaskResolverTest.class.getDeclaredMethod("fifteen", KernelContext.class, FloatArray.class,
                float.class, FloatArray.class, float.class, FloatArray.class, float.class, FloatArray.class,
                float.class, FloatArray.class, float.class, int.class, float.class, int.class, FloatArray.class), m);
        // a raw Task15 lets a wrong 15th argument through the compiler: the resolver still names its index
        @SuppressWarnings("rawtypes")
        Task15 raw = (Task15<KernelContext, FloatArray, Float, FloatArray, Float, FloatArray, Float, FloatArray,
                Float, FloatArray, Float, Integer, Float, Integer, FloatArray>) TaskResolverTest::fifteen;
        @SuppressWarnings("unchecked")
        TaskSpec wrongLast = only(new TaskGraph("g").task("t", raw, new KernelContext(), x, 1f, x, 2f, x, 3f, x, 4f,
                x, 5f, 6, 7f, 2, new IntArray(2)));
        var e = assertThrows(IllegalArgumentException.class, () -> TaskResolver.resolve(wrongLast));
        assertEquals("task \"g.t\": argument 14 of TaskResolverTest.fifteen is IntArray IntArray[2], expected"
                + " FloatArray", e.getMessage());
    }
}
