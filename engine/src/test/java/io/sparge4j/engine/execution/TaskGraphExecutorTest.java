package io.sparge4j.engine.execution;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelParameter;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.kernels.ExecutionPlan;
import io.sparge4j.kernels.ExecutionResult;
import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.ImmutableTaskGraph;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.selftest.PortabilityKernels;
import io.sparge4j.kernels.tasks.Task2;
import io.sparge4j.kernels.types.arrays.ByteArray;
import io.sparge4j.kernels.types.arrays.DoubleArray;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.LongArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static io.sparge4j.engine.testing.Assertions2.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The executor over a recording fake device: transfer modes, buffer reuse, compilation, arguments and errors. */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class TaskGraphExecutorTest {
    private static final int N = 1000;
    private final Random rnd = new Random(41);
    private final RecordingDevice device = new RecordingDevice();

    private FloatArray gaussian(int n) {
        FloatArray a = new FloatArray(n);
        for (int i = 0; i < n; i++) {
            a.set(i, (float) rnd.nextGaussian());
        }
        return a;
    }

    private static GridScheduler saxpyGrid(String name) {
        WorkerGrid1D grid = new WorkerGrid1D(1024);
        grid.setLocalWork(128, 1, 1);
        return new GridScheduler(name, grid);
    }

    private ExecutionPlan plan(ImmutableTaskGraph graph, GridScheduler grids) {
        return new ExecutionPlan(graph).withGridScheduler(grids)
                .withExecutor(new TaskGraphExecutor(device, new EmulatorCompiler(), true));
    }

    private ExecutionPlan sharedPlan(ImmutableTaskGraph graph, GridScheduler grids) {
        return new ExecutionPlan(graph).withGridScheduler(grids)
                .withExecutor(new TaskGraphExecutor(device, new EmulatorCompiler(), false));
    }

    @Test
    void firstExecutionIsCopiedOnceEveryExecutionEveryTime() {
        FloatArray x = gaussian(N);
        FloatArray y = gaussian(N);
        double[] expected = new double[N];
        float alpha = 0.75f;
        for (int i = 0; i < N; i++) {
            // two executions: y + alpha x, then again, in float (each step rounds)
            float once = alpha * x.get(i) + y.get(i);
            expected[i] = (double) alpha * x.get(i) + once;
        }
        ImmutableTaskGraph graph = new TaskGraph("s")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, x)
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, y)
                .task("saxpy", PortabilityKernels::saxpy, new KernelContext(), alpha, x, y, N)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, y)
                .snapshot();
        try (ExecutionPlan plan = plan(graph, saxpyGrid("s.saxpy"))) {
            ExecutionResult first = plan.execute();
            ExecutionResult second = plan.execute();
            // y stayed on the device (FIRST_EXECUTION), so the second run accumulated on the device copy
            assertClose(expected, y.toHeapArray(), 1e-6, 1e-6, "saxpy twice");
            assertEquals(1, device.sentCount(x.getSegment()), "x sent once");
            assertEquals(1, device.sentCount(y.getSegment()), "y sent once");
            assertEquals(2, device.fetchedCount(y.getSegment()), "y fetched after each execution");
            assertEquals(2, device.allocations.size(), "one buffer per array");
            assertEquals(1, device.loads.size(), "compiled once");
            assertTrue(first.task("s.saxpy").compileMillis() > 0, "first execution compiles");
            assertEquals(0, second.task("s.saxpy").compileMillis(), "second execution reuses the kernel");
            assertEquals(List.of("emulator"), second.task("s.saxpy").paths());
            assertEquals("PortabilityKernels.saxpy".length(), second.task("s.saxpy").kernel().length()
                    - "io.sparge4j.kernels.selftest.".length());
            assertTrue(second.task("s.saxpy").kernelNanos() > 0);
        }
        assertTrue(device.closed, "the plan closes an executor that owns its device");
    }

    @Test
    void everyExecutionRecopiesAndFirstExecutionKeepsTheDeviceCopy() {
        FloatArray x = gaussian(N);
        FloatArray y = gaussian(N);
        float[] x0 = x.toHeapArray();
        ImmutableTaskGraph graph = new TaskGraph("s")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, x)
                .transferToDevice(DataTransferMode.EVERY_EXECUTION, y)
                .task("saxpy", PortabilityKernels::saxpy, new KernelContext(), 2f, x, y, N)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, y)
                .snapshot();
        try (ExecutionPlan plan = plan(graph, saxpyGrid("s.saxpy"))) {
            plan.execute();
            // change both on the host: y is re-sent, x is not (the device keeps the first copy)
            float[] y1 = new float[N];
            for (int i = 0; i < N; i++) {
                x.set(i, 100f);
                y.set(i, (float) rnd.nextGaussian());
                y1[i] = y.get(i);
            }
            plan.execute();
            double[] expected = new double[N];
            for (int i = 0; i < N; i++) {
                expected[i] = 2.0 * x0[i] + y1[i];
            }
            assertClose(expected, y.toHeapArray(), 1e-6, 1e-6, "saxpy with the kept x");
            assertEquals(1, device.sentCount(x.getSegment()));
            assertEquals(2, device.sentCount(y.getSegment()));
        }
    }

    @Test
    void underDemandIsCopiedOnlyWhenAsked() {
        FloatArray x = gaussian(300);
        FloatArray y = new FloatArray(300);
        y.init(Float.NaN);
        WorkerGrid1D grid = new WorkerGrid1D(320);
        grid.setLocalWork(32, 1, 1);
        ImmutableTaskGraph graph = new TaskGraph("g")
                .transferToDevice(DataTransferMode.EVERY_EXECUTION, x)
                .task("gelu", PortabilityKernels::geluScaled, new KernelContext(), x, y, 1.5f, 300)
                .transferToHost(DataTransferMode.UNDER_DEMAND, y)
                .snapshot();
        try (ExecutionPlan plan = plan(graph, new GridScheduler("g.gelu", grid))) {
            ExecutionResult result = plan.execute();
            assertTrue(Float.isNaN(y.get(7)), "not copied back without asking");
            assertEquals(0, device.fetchedCount(y.getSegment()));
            assertEquals(0, device.sentCount(y.getSegment()), "y is in no device transfer: never sent");
            result.transferToHost(y);
            double[] expected = new double[300];
            for (int i = 0; i < 300; i++) {
                double v = x.get(i);
                expected[i] = 0.5 * v * (1 + Math.tanh(0.7978845608 * (v + 0.044715 * v * v * v))) * 1.5;
            }
            // float tanh-form GELU: 1e-5 relative, 1e-6 absolute
            assertClose(expected, y.toHeapArray(), 1e-5, 1e-6, "geluScaled on demand");
            FloatArray stranger = new FloatArray(3);
            var e = assertThrows(IllegalArgumentException.class, () -> result.transferToHost(stranger));
            assertTrue(e.getMessage().startsWith("transferToHost: argument 0 (FloatArray[3]) is not an array of this plan"),
                    e.getMessage());
        }
    }

    @Test
    void arraysSharedByTwoGraphsShareOneBuffer() {
        FloatArray x = gaussian(N);
        FloatArray y = gaussian(N);
        FloatArray z = new FloatArray(N);
        ImmutableTaskGraph g1 = new TaskGraph("a")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, x, y)
                .task("t", PortabilityKernels::saxpy, new KernelContext(), 1f, x, y, N)
                .snapshot();
        // the second graph reads y as the first left it on the device: z = 1 * y' + 0
        ImmutableTaskGraph g2 = new TaskGraph("b")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, z)
                .task("t", PortabilityKernels::saxpy, new KernelContext(), 1f, y, z, N)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, z)
                .snapshot();
        GridScheduler grids = saxpyGrid("a.t");
        grids.setWorkerGrid("b.t", grids.get("a.t"));
        double[] expected = new double[N];
        for (int i = 0; i < N; i++) {
            expected[i] = (double) x.get(i) + y.get(i);
        }
        float[] hostY = y.toHeapArray();
        try (ExecutionPlan plan = new ExecutionPlan(g1, g2).withGridScheduler(grids)
                .withExecutor(new TaskGraphExecutor(device, new EmulatorCompiler(), false))) {
            ExecutionResult r = plan.execute();
            assertEquals(2, r.tasks().size());
            assertEquals("a.t: emulator\nb.t: emulator\n", r.pathReport());
        }
        assertClose(expected, z.toHeapArray(), 1e-6, 1e-6, "y passed between graphs on the device");
        assertClose(toDouble(hostY), y.toHeapArray(), 0, 0, "y on the host untouched (never fetched)");
        assertEquals(3, device.allocations.size(), "x, y, z: one buffer each");
        assertFalse(device.closed, "an executor that does not own the device leaves it open");
    }

    @Test
    void loopStyleKernelNeedsNoGrid() {
        int n = 23;
        FloatArray a = gaussian(n * n);
        FloatArray b = gaussian(n * n);
        FloatArray c = new FloatArray(n * n);
        c.init(Float.NaN);
        ImmutableTaskGraph graph = new TaskGraph("m")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, a, b)
                .task("mm", PortabilityKernels::matmulLoops, a, b, c, n)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, c)
                .snapshot();
        try (ExecutionPlan plan = plan(graph, new GridScheduler())) {
            plan.execute();
        }
        double[] expected = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                for (int p = 0; p < n; p++) {
                    expected[i * n + j] += (double) a.get(i * n + p) * b.get(p * n + j);
                }
            }
        }
        // 23 float FMAs: 1e-5 relative and absolute
        assertClose(expected, c.toHeapArray(), 1e-5, 1e-5, "matmulLoops");
        // default loop grid: 1 parallel dimension (the emulator's report), 256-wide groups covering n*n
        assertEquals(List.of(768L, 1L, 1L), List.of(device.launchGlobal.get(0)[0], device.launchGlobal.get(0)[1],
                device.launchGlobal.get(0)[2]));
        assertEquals(256, device.launchLocal.get(0)[0]);
    }

    /** A compiler that adds a BUFFER_SIZE parameter and reorders scalars, as a JIT may. */
    private static final class ReorderingCompiler implements KernelCompiler {
        final EmulatorCompiler inner = new EmulatorCompiler();
        final List<Integer> groupSizes = new ArrayList<>();

        @Override
        public GeneratedKernel compile(Method kernel, Object[] javaArgs, Dialect dialect, DeviceFeatures features,
                int workGroupSize) {
            groupSizes.add(workGroupSize);
            GeneratedKernel g = inner.compile(kernel, javaArgs, dialect, features, workGroupSize);
            List<KernelParameter> params = new ArrayList<>(g.parameters().reversed());
            params.add(new KernelParameter("x_size", KernelParameter.Role.BUFFER_SIZE, 2, int.class));
            return new GeneratedKernel(g.entryName(), g.source(), g.dialect(), params, g.cacheKey(),
                    List.of("sub-groups: native"), g.kernelClass(), g.kernelMethod(), g.parallelDimensions());
        }
    }

    @Test
    void argumentsFollowTheGeneratedParameters() {
        FloatArray x = gaussian(N);
        FloatArray y = gaussian(N);
        ReorderingCompiler compiler = new ReorderingCompiler();
        ImmutableTaskGraph graph = new TaskGraph("s")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, x, y)
                .task("saxpy", PortabilityKernels::saxpy, new KernelContext(), 3f, x, y, N)
                .snapshot();
        try (ExecutionPlan plan = new ExecutionPlan(graph).withGridScheduler(saxpyGrid("s.saxpy"))
                .withExecutor(new TaskGraphExecutor(device, compiler, true))) {
            ExecutionResult r = plan.execute();
            assertEquals("sub-groups: native", r.task("s.saxpy").pathReport());
        }
        List<Object> args = device.launches.getFirst();
        // reversed: n, y, x, alpha; then x's size
        assertEquals(N, args.get(0));
        assertEquals(3f, args.get(3));
        assertEquals(N, args.get(4));
        assertEquals(List.of(128), compiler.groupSizes, "the work-group size comes from the grid's local work");
    }

    @Test
    void gridProblemsAreReportedBeforeAnyCopy() {
        FloatArray x = gaussian(N);
        FloatArray y = gaussian(N);
        ImmutableTaskGraph graph = new TaskGraph("s")
                .transferToDevice(DataTransferMode.EVERY_EXECUTION, x, y)
                .task("saxpy", PortabilityKernels::saxpy, new KernelContext(), 3f, x, y, N)
                .snapshot();
        try (ExecutionPlan plan = sharedPlan(graph, new GridScheduler())) {
            var e = assertThrows(IllegalArgumentException.class, plan::execute);
            assertEquals("task \"s.saxpy\": saxpy is a KernelContext kernel and needs a WorkerGrid:"
                    + " plan.withGridScheduler(new GridScheduler(\"s.saxpy\", grid))", e.getMessage());
            assertTrue(device.copiedToDevice.isEmpty());
        }
        WorkerGrid1D bad = new WorkerGrid1D(1000);
        bad.setLocalWork(128, 1, 1);
        try (ExecutionPlan plan = sharedPlan(graph, new GridScheduler("s.saxpy", bad))) {
            var e = assertThrows(IllegalArgumentException.class, plan::execute);
            assertTrue(device.copiedToDevice.isEmpty());
            assertTrue(e.getMessage().startsWith("task \"s.saxpy\": global work 1000 in x is not a multiple of local"
                    + " work 128"), e.getMessage());
        }
        WorkerGrid1D big = new WorkerGrid1D(2048);
        big.setLocalWork(2048, 1, 1);
        device.maxWorkGroupSize = 512;
        try (ExecutionPlan plan = sharedPlan(graph, new GridScheduler("s.saxpy", big))) {
            var e = assertThrows(IllegalArgumentException.class, plan::execute);
            assertTrue(e.getMessage().contains("work-group of 2048 work-items"), e.getMessage());
            assertTrue(e.getMessage().endsWith("expected at most 512 on this device"), e.getMessage());
        }
    }

    @Test
    void resultsStayOnTheDeviceWithoutAHostTransfer() {
        FloatArray x = gaussian(8);
        float before = x.get(0);
        ImmutableTaskGraph graph = new TaskGraph("w")
                .transferToDevice(DataTransferMode.EVERY_EXECUTION, x)
                .task("t", TaskGraphExecutorTest::twoArgs, new KernelContext(), x, 3)
                .snapshot();
        try (ExecutionPlan plan = plan(graph, new GridScheduler("w.t", new WorkerGrid1D(1)))) {
            ExecutionResult r = plan.execute();
            assertEquals(before, x.get(0), "no host transfer: the host copy is unchanged");
            r.transferToHost(x);
            assertEquals(3f, x.get(0), "fetched on demand");
        }
    }

    /** Every scalar type and the 8- and 1-byte arrays, for argument passing. */
    static void mixed(KernelContext ctx, DoubleArray d, LongArray l, ByteArray b, boolean flag, long add, double scale,
            short s) {
        int i = ctx.globalIdx;
        if (i < d.getSize()) {
            d.set(i, d.get(i) * scale + (flag ? 1 : 0));
            l.set(i, l.get(i) + add + s);
            b.set(i, (byte) (b.get(i) + 1));
        }
    }

    @Test
    void everyScalarTypeAndWideArraysPass() {
        int n = 40;
        DoubleArray d = new DoubleArray(n);
        LongArray l = new LongArray(n);
        ByteArray b = new ByteArray(n);
        double[] expectedD = new double[n];
        long[] expectedL = new long[n];
        for (int i = 0; i < n; i++) {
            d.set(i, rnd.nextGaussian());
            l.set(i, rnd.nextLong() >> 2);
            b.set(i, (byte) i);
            expectedD[i] = d.get(i) * 0.25 + 1;
            expectedL[i] = l.get(i) + (1L << 40) + (short) -3;
        }
        WorkerGrid1D grid = new WorkerGrid1D(64);
        grid.setLocalWork(32, 1, 1);
        ImmutableTaskGraph graph = new TaskGraph("x")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, d, l, b)
                .task("mixed", TaskGraphExecutorTest::mixed, new KernelContext(), d, l, b, true, 1L << 40, 0.25,
                        (short) -3)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, d, l, b)
                .snapshot();
        // 8-byte arrays are outside the JIT's subset: the emulator runs them only without its subset check
        try (ExecutionPlan plan = new ExecutionPlan(graph).withGridScheduler(new GridScheduler("x.mixed", grid))
                .withExecutor(new TaskGraphExecutor(device, EmulatorCompiler.withoutSubsetCheck(), true))) {
            plan.execute();
        }
        // one double multiply-add: exact to double rounding
        assertClose(expectedD, d.toHeapArray(), 1e-15, 0, "double array");
        assertArrayEquals(expectedL, l.toHeapArray());
        assertEquals(5, b.get(4));
        List<Object> args = device.launches.getFirst();
        assertEquals(List.of(Integer.class, Long.class, Double.class, Integer.class),
                args.subList(3, 7).stream().map(Object::getClass).toList(), "boolean and short pass as int");
        assertEquals(1, args.get(3));
        assertEquals(-3, args.get(6));
    }

    /**
     * The widest kernel a task takes (Task15): a KernelContext and 14 arguments, arrays and scalars interleaved so
     * that a shifted or dropped argument changes the result.
     */
    static void fifteen(KernelContext ctx, FloatArray a, float s1, FloatArray b, float s2, FloatArray c, float s3,
            FloatArray d, float s4, FloatArray e, float s5, int k, float bias, int n, FloatArray out) {
        int i = ctx.globalIdx;
        if (i < n) {
            out.set(i, a.get(i) * s1 + b.get(i) * s2 + c.get(i) * s3 + d.get(i) * s4 + e.get(i) * s5 + bias * k);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"emulator", "opencl"})
    void fifteenParameterKernelRunsThroughThePlan(String backend) {
        if (backend.equals("opencl")) {
            assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): OpenCL case skipped");
        }
        int n = 1000;
        FloatArray a = gaussian(n);
        FloatArray b = gaussian(n);
        FloatArray c = gaussian(n);
        FloatArray d = gaussian(n);
        FloatArray e = gaussian(n);
        FloatArray out = new FloatArray(n);
        out.init(Float.NaN); // an element the kernel misses stays NaN and fails the comparison
        float s1 = 0.5f;
        float s2 = -1.25f;
        float s3 = 2f;
        float s4 = 0.75f;
        float s5 = -3f;
        float bias = 0.125f;
        int k = 3;
        double[] expected = new double[n];
        for (int i = 0; i < n; i++) {
            expected[i] = (double) a.get(i) * s1 + (double) b.get(i) * s2 + (double) c.get(i) * s3
                    + (double) d.get(i) * s4 + (double) e.get(i) * s5 + (double) bias * k;
        }
        WorkerGrid1D grid = new WorkerGrid1D(1024);
        grid.setLocalWork(128, 1, 1);
        ImmutableTaskGraph graph = new TaskGraph("w")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, a, b, c, d, e)
                .task("t15", TaskGraphExecutorTest::fifteen, new KernelContext(), a, s1, b, s2, c, s3, d, s4, e, s5, k,
                        bias, n, out)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, out)
                .snapshot();
        BackendSelection selection = BackendSelection.withOpenClDeviceFromEnvironment(backend);
        try (ExecutionPlan plan = new ExecutionPlan(graph).withGridScheduler(new GridScheduler("w.t15", grid))
                .withExecutor(ExecutionBackends.openExecutor(selection))) {
            plan.execute();
        }
        // six float roundings of terms of size ~3 (|sum| up to ~20): well inside 1e-5 relative + 1e-5 absolute
        assertClose(expected, out.toHeapArray(), 1e-5, 1e-5, backend + " Task15 kernel vs float64");
    }

    static void twoArgs(KernelContext ctx, FloatArray a, int v) {
        if (ctx.globalIdx == 0) {
            a.set(0, v);
        }
    }

    @Test
    void planWithoutExecutorFindsTheEngineThroughTheServiceLoader() {
        FloatArray x = gaussian(N);
        FloatArray y = gaussian(N);
        double[] expected = new double[N];
        for (int i = 0; i < N; i++) {
            expected[i] = 0.5 * x.get(i) + y.get(i);
        }
        ImmutableTaskGraph graph = new TaskGraph("s")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, x, y)
                .task("saxpy", PortabilityKernels::saxpy, new KernelContext(), 0.5f, x, y, N)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, y)
                .snapshot();
        try (ExecutionPlan plan = new ExecutionPlan(graph).withGridScheduler(saxpyGrid("s.saxpy"))
                .withBackend("cpu")) {
            ExecutionResult r = plan.execute();
            assertEquals("emulator", r.backendName());
            assertEquals("emulator", plan.backendName());
        }
        assertClose(expected, y.toHeapArray(), 1e-6, 1e-6, "saxpy through the service loader");
    }

    @Test
    void closedPlansAndExecutorsRefuseWork() {
        FloatArray x = gaussian(8);
        ImmutableTaskGraph graph = new TaskGraph("w")
                .task("t", TaskGraphExecutorTest::twoArgs, new KernelContext(), x, 3).snapshot();
        TaskGraphExecutor executor = new TaskGraphExecutor(device, new EmulatorCompiler(), true);
        ExecutionPlan plan = new ExecutionPlan(graph).withGridScheduler(new GridScheduler("w.t", new WorkerGrid1D(1)))
                .withExecutor(executor);
        plan.execute();
        plan.close();
        plan.close();
        assertThrows(IllegalStateException.class, plan::execute);
        var e = assertThrows(IllegalStateException.class, () -> executor.execute(List.of(graph), new GridScheduler()));
        assertEquals("TaskGraphExecutor.execute: the executor is closed", e.getMessage());
        assertSame(Boolean.TRUE, device.closed);
    }

    private static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }
}
