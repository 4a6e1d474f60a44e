package io.sparge4j.kernels;

import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.runtime.TaskExecutor;
import io.sparge4j.kernels.selftest.PortabilityKernels;
import io.sparge4j.kernels.tasks.Task11;
import io.sparge4j.kernels.tasks.Task12;
import io.sparge4j.kernels.tasks.Task13;
import io.sparge4j.kernels.tasks.Task14;
import io.sparge4j.kernels.tasks.Task15;
import io.sparge4j.kernels.tasks.TaskSpec;
import io.sparge4j.kernels.types.arrays.FloatArray;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The task-graph builder, its snapshot and the plan, without an engine (a recording executor stands in). */
class TaskGraphTest {
    private final FloatArray x = new FloatArray(8);
    private final FloatArray y = new FloatArray(8);

    /** Records what the plan hands over. */
    private static final class RecordingExecutor implements TaskExecutor {
        final List<List<ImmutableTaskGraph>> executions = new ArrayList<>();
        final List<Object> fetched = new ArrayList<>();
        GridScheduler grids;
        int closes;

        @Override
        public String backendName() {
            return "recording";
        }

        @Override
        public String deviceName() {
            return "none";
        }

        @Override
        public ExecutionResult execute(List<ImmutableTaskGraph> graphs, GridScheduler grids) {
            executions.add(graphs);
            this.grids = grids;
            return new ExecutionResult(this, List.of(new TaskProfile("s.t", "K.k", 5, 1.5, true, List.of(), new long[] {8, 1, 1},
                    new int[] {8, 1, 1})), 10);
        }

        @Override
        public void transferToHost(Object... arrays) {
            fetched.addAll(List.of(arrays));
        }

        @Override
        public void close() {
            closes++;
        }
    }

    @Test
    void snapshotFreezesTasksAndTransfersInOrder() {
        TaskGraph graph = new TaskGraph("s")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, x)
                .transferToDevice(DataTransferMode.EVERY_EXECUTION, y)
                .task("t", PortabilityKernels::saxpy, new KernelContext(), 2f, x, y, 8)
                .transferToHost(DataTransferMode.UNDER_DEMAND, y);
        ImmutableTaskGraph snap = graph.snapshot();
        graph.task("later", PortabilityKernels::saxpy, new KernelContext(), 1f, x, y, 8);
        assertEquals("s", snap.name());
        assertEquals(1, snap.tasks().size(), "later tasks do not reach the snapshot");
        TaskSpec t = snap.tasks().getFirst();
        assertEquals("s.t", t.qualifiedName());
        assertEquals(5, t.arguments().length);
        assertSame(x, t.arguments()[2]);
        assertEquals(2f, t.arguments()[1]);
        assertEquals(List.of(DataTransferMode.FIRST_EXECUTION, DataTransferMode.EVERY_EXECUTION),
                snap.transfersToDevice().stream().map(tr -> tr.mode()).toList());
        assertEquals(List.of(y), snap.transfersToHost().getFirst().arrays());
        assertThrows(UnsupportedOperationException.class, () -> snap.tasks().add(t));
        assertEquals("ImmutableTaskGraph[s: t]", snap.toString());
    }

    @Test
    void kernelsOfElevenToFifteenParametersKeepTheirArgumentsInOrder() {
        Task11<Integer, Integer, Integer, Integer, Integer, Integer, Integer, Integer, Integer, Integer, Integer> k11 =
                (a, b, c, d, e, f, g, h, i, j, k) -> { };
        Task12<Integer, Integer, Integer, Integer, Integer, Integer, Integer, Integer, Integer, Integer, Integer,
                Integer> k12 = (a, b, c, d, e, f, g, h, i, j, k, l) -> { };
        Task13<Integer, Integer, Integer, Integer, Integer, Integer, Integer, Integer, Integer, Integer, Integer,
                Integer, Integer> k13 = (a, b, c, d, e, f, g, h, i, j, k, l, m) -> { };
        Task14<Integer, Integer, Integer, Integer, Integer, Integer, Integer, Integer, Integer, Integer, Integer,
                Integer, Integer, Integer> k14 = (a, b, c, d, e, f, g, h, i, j, k, l, m, n) -> { };
        Task15<KernelContext, FloatArray, Float, FloatArray, Integer, Integer, Integer, Integer, Integer, Integer,
                Integer, Integer, Integer, Integer, FloatArray> k15 =
                (ctx, a, s, b, c, d, e, f, g, h, i, j, k, l, out) -> { };
        KernelContext ctx = new KernelContext();
        ImmutableTaskGraph snap = new TaskGraph("w")
                .task("t11", k11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
                .task("t12", k12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
                .task("t13", k13, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)
                .task("t14", k14, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)
                .task("t15", k15, ctx, x, 2f, y, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, y)
                .snapshot();
        for (int n = 11; n <= 14; n++) {
            TaskSpec t = snap.tasks().get(n - 11);
            assertEquals("w.t" + n, t.qualifiedName());
            List<Object> expected = new ArrayList<>();
            for (int v = 1; v <= n; v++) {
                expected.add(v);
            }
            assertEquals(expected, List.of(t.arguments()), "Task" + n + " arguments in order");
        }
        TaskSpec t15 = snap.tasks().get(4);
        assertSame(k15, t15.kernel());
        assertEquals(List.of(ctx, x, 2f, y, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, y), List.of(t15.arguments()));
    }

    @Test
    void badGraphsAreRefusedWithTheReason() {
        var e = assertThrows(IllegalArgumentException.class, () -> new TaskGraph("a.b"));
        assertEquals("TaskGraph: name is \"a.b\", expected letters, digits, '_' or '-' (no dots: grids are keyed"
                + " \"graph.task\")", e.getMessage());
        TaskGraph g = new TaskGraph("g");
        e = assertThrows(IllegalArgumentException.class, () -> g.transferToDevice(DataTransferMode.UNDER_DEMAND, x));
        assertEquals("TaskGraph \"g\".transferToDevice: mode is UNDER_DEMAND, expected FIRST_EXECUTION or"
                + " EVERY_EXECUTION", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> g.transferToHost(DataTransferMode.FIRST_EXECUTION, x));
        assertEquals("TaskGraph \"g\".transferToHost: mode is FIRST_EXECUTION, expected EVERY_EXECUTION or"
                + " UNDER_DEMAND", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> g.transferToHost(7, x));
        assertTrue(e.getMessage().contains("mode is 7"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> g.transferToDevice(DataTransferMode.FIRST_EXECUTION, x, new float[3]));
        assertEquals("TaskGraph \"g\".transferToDevice: argument 1 is [F, expected a kernel array (FloatArray,"
                + " IntArray, LongArray, DoubleArray, HalfFloatArray, BFloat16Array, ByteArray)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> g.transferToDevice(DataTransferMode.FIRST_EXECUTION));
        assertTrue(e.getMessage().endsWith("no arrays given, expected at least one kernel array"), e.getMessage());
        g.task("t", PortabilityKernels::saxpy, new KernelContext(), 2f, x, y, 8);
        e = assertThrows(IllegalArgumentException.class,
                () -> g.task("t", PortabilityKernels::saxpy, new KernelContext(), 2f, x, y, 8));
        assertEquals("TaskGraph \"g\".task: id \"t\" is already used in this graph, expected a new id", e.getMessage());
        var s = assertThrows(IllegalStateException.class, () -> new TaskGraph("empty").snapshot());
        assertTrue(s.getMessage().contains("has no task"), s.getMessage());
    }

    @Test
    void planHandsGraphsAndGridsToItsExecutorAndClosesItOnce() {
        ImmutableTaskGraph a = new TaskGraph("s").task("t", PortabilityKernels::saxpy, new KernelContext(), 2f, x, y, 8)
                .snapshot();
        RecordingExecutor executor = new RecordingExecutor();
        GridScheduler grids = new GridScheduler("s.t", new WorkerGrid1D(8));
        try (ExecutionPlan plan = new ExecutionPlan(a).withGridScheduler(grids).withExecutor(executor)) {
            ExecutionResult r = plan.execute();
            plan.execute();
            assertEquals(2, executor.executions.size());
            assertEquals(List.of(a), executor.executions.getFirst());
            assertSame(grids, executor.grids);
            assertEquals(5, r.totalKernelNanos());
            assertEquals(1.5, r.totalCompileMillis());
            assertEquals("s.t: native\n", r.pathReport());
            r.transferToHost(y);
            assertEquals(List.of(y), executor.fetched);
            var e = assertThrows(IllegalStateException.class, () -> plan.withDevice("cuda", "0"));
            assertTrue(e.getMessage().contains("choose the device before the first execute()"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> r.task("s.nope"));
        }
        assertEquals(1, executor.closes);
        var e = assertThrows(IllegalArgumentException.class, () -> new ExecutionPlan(a, a));
        assertEquals("ExecutionPlan: two graphs are named \"s\", expected unique names (grids are keyed"
                + " \"graph.task\")", e.getMessage());
    }

    @Test
    void withoutAnEngineThePlanSaysWhatIsMissing() {
        ImmutableTaskGraph a = new TaskGraph("s").task("t", PortabilityKernels::saxpy, new KernelContext(), 2f, x, y, 8)
                .snapshot();
        try (ExecutionPlan plan = new ExecutionPlan(a)) {
            var e = assertThrows(IllegalStateException.class, plan::execute);
            assertTrue(e.getMessage().startsWith("No TaskExecutorProvider found: put sparge4j-engine on the class path"),
                    e.getMessage());
        }
    }
}
