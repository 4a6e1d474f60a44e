package io.sparge4j.engine.kernel.attention;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.execution.ExecutionBackends;
import io.sparge4j.engine.execution.KernelCompiler;
import io.sparge4j.engine.execution.TaskGraphExecutor;
import io.sparge4j.engine.jit.KernelJit;
import io.sparge4j.engine.jit.Nvcc;
import io.sparge4j.engine.sparse.BlockGrid;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.MaskStatistics;
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.ExecutionPlan;
import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.attention.FlashForwardKernels;
import io.sparge4j.kernels.attention.FlashForwardTasks;
import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The block-sparse FlashAttention forward kernels through the TaskGraph API on the emulator and on the first
 * OpenCL device (PoCL in CI), against a float64 masked attention written here and against the CPU's
 * {@link SparseAttention#forward}, on the same inputs and the same mask (CSR built on the host from a
 * {@link BlockMask}). Masks: hybrid from {@link SparseAttention#selectBlocks}, dense, and one kept block per row
 * (with one row keeping none, which must give o = 0 and lse = -inf as on the CPU). N is not a multiple of the
 * blocks. Tolerances: o within {@value #O_TOL} x (1 + |ref|), lse within {@value #LSE_TOL} absolute.
 *
 * <p>The CUDA source of both kernels must also compile with nvcc for sm_90 with no spills and at most 168 registers
 * (three work-groups per multiprocessor, as the kernels' Javadoc states; skipped with a reason when nvcc is absent).
 */
@Timeout(value = 600, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FlashForwardKernelsTest {
    private static final double O_TOL = 1e-5;
    private static final double LSE_TOL = 1e-5;
    private static final int QB = FlashForwardKernels.QUERY_BLOCK;
    private static final int KB = FlashForwardKernels.KEY_BLOCK;
    /** The H200 without fp64, so that a kernel relying on doubles would be refused. */
    private static final DeviceFeatures H200_NO_FP64 = new DeviceFeatures(32, true, true, false, 1024, 232448,
            "cuda|NVIDIA H200|sm_90|test");

    enum Masks { HYBRID, DENSE, ONE_PER_ROW }

    /**
     * (backend, B, H, N, d, mask). Emulator: N = 200 (2 query blocks, the last of 72; 4 key blocks, the last of
     * 8). OpenCL: N = 1000 too (8 query blocks, the last of 104; 16 key blocks, the last of 40). N = 129: a last
     * query block of 1 row and a last key block of 1 key.
     */
    static List<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (Masks mask : Masks.values()) {
            for (int d : new int[] {64, 128}) {
                out.add(Arguments.of("emulator", 1, 2, 200, d, mask));
                out.add(Arguments.of("opencl", 1, 3, 200, d, mask));
                out.add(Arguments.of("opencl", 3, 1, 1000, d, mask));
            }
            out.add(Arguments.of("emulator", 1, 1, 129, 64, mask));
            out.add(Arguments.of("opencl", 2, 1, 129, 128, mask));
        }
        return out;
    }

    @org.junit.jupiter.api.Test
    void refusesUnsupportedHeadDimension() {
        FloatArray a = new FloatArray(2 * 96);
        IntArray rs = new IntArray(2);
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> FlashForwardTasks.addForward(new TaskGraph("x"), new GridScheduler(), "f", a, a, a, a, a, rs, rs,
                        1, 2, 96, 0.1f));
        assertTrue(e.getMessage().contains("d is 96, expected 64 or 128"), e.getMessage());
        e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> FlashForwardTasks.addForward(new TaskGraph("x"), new GridScheduler(), "f", a, a, a, a, a,
                        new IntArray(1), rs, 1, 2, 64, 0.1f));
        assertTrue(e.getMessage().contains("rowStart has 1 elements, expected at least 2"), e.getMessage());
    }

    @ParameterizedTest(name = "{0} B={1} H={2} N={3} d={4} {5}")
    @MethodSource("cases")
    void matchesFloat64AndCpu(String backend, int b, int h, int n, int d, Masks kind) {
        check(backend, b, h, n, d, kind, null);
    }

    /**
     * Every layout of {@link FlashForwardKernels#VARIANTS} (through {@code flashForwardTuned}, the default through
     * its own entry points): emulator at N = 200 (edges in both block sizes), OpenCL at N = 1000 and 129.
     */
    static List<Arguments> variantCases() {
        List<Arguments> out = new ArrayList<>();
        for (FlashForwardKernels.Variant variant : FlashForwardKernels.VARIANTS) {
            out.add(Arguments.of(variant, "emulator", 1, 2, 200, 64, Masks.HYBRID));
            out.add(Arguments.of(variant, "emulator", 1, 1, 200, 128, Masks.ONE_PER_ROW));
            out.add(Arguments.of(variant, "opencl", 2, 1, 1000, 128, Masks.HYBRID));
            out.add(Arguments.of(variant, "opencl", 1, 2, 129, 64, Masks.DENSE));
        }
        return out;
    }

    @ParameterizedTest(name = "{0} {1} B={2} H={3} N={4} d={5} {6}")
    @MethodSource("variantCases")
    void everyVariantMatchesFloat64AndCpu(FlashForwardKernels.Variant variant, String backend, int b, int h, int n,
            int d, Masks kind) {
        check(backend, b, h, n, d, kind, variant);
    }

    /** Kernel vs float64 and vs the CPU; {@code variant} null: the layout addForward picks from the environment. */
    private void check(String backend, int b, int h, int n, int d, Masks kind, FlashForwardKernels.Variant variant) {
        if (backend.equals("opencl")) {
            assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): OpenCL case skipped");
        }
        Random rnd = new Random(1000L * n + 10L * d + kind.ordinal() + 7L * b + h);
        float[] q = gaussian(rnd, b * h * n * d, 1.5);
        float[] k = gaussian(rnd, b * h * n * d, 1.5);
        float[] v = gaussian(rnd, b * h * n * d, 1.0);
        Tensor qt = Tensor.of(q, b, h, n, d);
        Tensor kt = Tensor.of(k, b, h, n, d);
        Tensor vt = Tensor.of(v, b, h, n, d);
        SparseAttention.Config config = SparseAttention.Config.defaults().withBlocks(QB, KB);
        BlockMask mask = mask(kind, qt, kt, config, b, h, n, rnd);
        float scale = (float) (1 / Math.sqrt(d));

        float[][] got = runKernel(backend, q, k, v, mask, b * h, n, d, scale, variant);
        double[][] ref = float64(q, k, v, mask, b * h, n, d, scale);
        SparseAttention.Selection selection = new SparseAttention.Selection(mask, null, MaskStatistics.of(mask, null));
        try (SparseAttention.Result cpu = SparseAttention.forward(qt, kt, vt, selection, config)) {
            float[] cpuO = cpu.out().toFloatArray();
            float[] cpuLse = cpu.logsumexp().toFloatArray();
            double[] cpuOd = new double[cpuO.length];
            double[] cpuLsed = new double[cpuLse.length];
            for (int i = 0; i < cpuO.length; i++) {
                cpuOd[i] = cpuO[i];
            }
            for (int i = 0; i < cpuLse.length; i++) {
                cpuLsed[i] = cpuLse[i];
            }
            // The CPU's float result against float64 first, so that a disagreement below is the kernel's.
            compare("CPU vs float64", cpuO, cpuLse, ref[0], ref[1], d);
            compare("kernel vs CPU", got[0], got[1], cpuOd, cpuLsed, d);
        }
        compare("kernel vs float64", got[0], got[1], ref[0], ref[1], d);
    }

    private static float[] gaussian(Random rnd, int size, double sigma) {
        float[] x = new float[size];
        for (int i = 0; i < size; i++) {
            x[i] = (float) (rnd.nextGaussian() * sigma);
        }
        return x;
    }

    private static BlockMask mask(Masks kind, Tensor q, Tensor k, SparseAttention.Config config, int b, int h, int n,
            Random rnd) {
        BlockGrid qg = new BlockGrid(n, QB);
        BlockGrid kg = new BlockGrid(n, KB);
        return switch (kind) {
            case DENSE -> BlockMask.dense(b, h, qg, kg);
            case HYBRID -> {
                BlockMask m = SparseAttention.selectBlocks(q, k,
                        config.withMode(MaskMode.HYBRID).withTopk(0.2).withTopp(0.3)).mask();
                int total = m.rowStart()[m.rowStart().length - 1];
                int all = b * h * qg.blocks() * kg.blocks();
                // At least one block per row (at N = 129 exactly one), never all of them.
                assertTrue(total >= b * h * qg.blocks() && total < all, "hybrid mask should keep some but not all "
                        + "blocks: kept " + total + " of " + all);
                yield m;
            }
            case ONE_PER_ROW -> {
                int nk = kg.blocks();
                int rows = b * h * qg.blocks();
                boolean[] kept = new boolean[rows * nk];
                for (int r = 0; r < rows; r++) {
                    // Row 0 keeps the short last key block; the last row keeps nothing; the rest one at random.
                    int j = r == 0 ? nk - 1 : rnd.nextInt(nk);
                    if (r != rows - 1) {
                        kept[r * nk + j] = true;
                    }
                }
                yield BlockMask.of(b, h, qg, kg, kept);
            }
        };
    }

    /** Runs the kernel with poisoned outputs; returns {o, lse}. */
    private static float[][] runKernel(String backend, float[] q, float[] k, float[] v, BlockMask mask, int heads,
            int n, int d, float scale, FlashForwardKernels.Variant variant) {
        BackendSelection selection = BackendSelection.withOpenClDeviceFromEnvironment(backend);
        ComputeDevice device = ExecutionBackends.openDevice(selection);
        KernelCompiler compiler = ExecutionBackends.compiler(selection);
        try {
            FloatArray qa = FloatArray.fromArray(q);
            FloatArray ka = FloatArray.fromArray(k);
            FloatArray va = FloatArray.fromArray(v);
            FloatArray oa = new FloatArray(heads * n * d);
            FloatArray la = new FloatArray(heads * n);
            oa.init(Float.NaN);
            la.init(Float.NaN);
            IntArray rowStart = IntArray.fromArray(mask.rowStart());
            // At least one element: a row list may be empty only if every row is.
            IntArray rowBlocks = IntArray.fromArray(Arrays.copyOf(mask.rowBlocks(),
                    Math.max(1, mask.rowBlocks().length)));
            TaskGraph g = new TaskGraph("ff").transferToDevice(DataTransferMode.FIRST_EXECUTION, qa, ka, va, oa, la,
                    rowStart, rowBlocks);
            GridScheduler grids = new GridScheduler();
            if (variant == null) {
                FlashForwardTasks.addForward(g, grids, "fwd", qa, ka, va, oa, la, rowStart, rowBlocks, heads, n, d,
                        scale);
            } else {
                FlashForwardTasks.addForward(g, grids, "fwd", qa, ka, va, oa, la, rowStart, rowBlocks, heads, n, d,
                        scale, variant);
            }
            g.transferToHost(DataTransferMode.EVERY_EXECUTION, oa, la);
            try (ExecutionPlan plan = new ExecutionPlan(g.snapshot()).withGridScheduler(grids)
                    .withExecutor(new TaskGraphExecutor(device, compiler, false))) {
                plan.execute();
            }
            return new float[][] {oa.toHeapArray(), la.toHeapArray()};
        } finally {
            device.close();
        }
    }

    /** Masked attention in float64: {o (heads, n, d), lse (heads, n)}; a row seeing no key gets 0 and -inf. */
    private static double[][] float64(float[] q, float[] k, float[] v, BlockMask mask, int heads, int n, int d,
            float scale) {
        int nq = mask.queryGrid().blocks();
        int[] rowStart = mask.rowStart();
        int[] rowBlocks = mask.rowBlocks();
        double[] o = new double[heads * n * d];
        double[] lse = new double[heads * n];
        double[] s = new double[n];
        for (int bh = 0; bh < heads; bh++) {
            int base = bh * n * d;
            for (int i = 0; i < n; i++) {
                int r = bh * nq + i / QB;
                double max = Double.NEGATIVE_INFINITY;
                Arrays.fill(s, Double.NEGATIVE_INFINITY);
                for (int e = rowStart[r]; e < rowStart[r + 1]; e++) {
                    for (int j = rowBlocks[e] * KB; j < Math.min(n, (rowBlocks[e] + 1) * KB); j++) {
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += (double) q[base + i * d + c] * k[base + j * d + c];
                        }
                        s[j] = dot * scale;
                        max = Math.max(max, s[j]);
                    }
                }
                double sum = 0;
                for (int j = 0; j < n; j++) {
                    if (s[j] != Double.NEGATIVE_INFINITY) {
                        double p = Math.exp(s[j] - max);
                        sum += p;
                        for (int c = 0; c < d; c++) {
                            o[base + i * d + c] += p * v[base + j * d + c];
                        }
                    }
                }
                for (int c = 0; c < d; c++) {
                    o[base + i * d + c] = sum > 0 ? o[base + i * d + c] / sum : 0;
                }
                lse[bh * n + i] = sum > 0 ? max + Math.log(sum) : Double.NEGATIVE_INFINITY;
            }
        }
        return new double[][] {o, lse};
    }

    private static void compare(String what, float[] o, float[] lse, double[] refO, double[] refLse, int d) {
        assertEquals(refO.length, o.length, what + ": o length");
        assertEquals(refLse.length, lse.length, what + ": lse length");
        double worstO = 0;
        double worstLse = 0;
        for (int i = 0; i < o.length; i++) {
            double err = Math.abs(o[i] - refO[i]) / (1 + Math.abs(refO[i]));
            if (!(err <= O_TOL)) {
                fail(what + ": o[" + i + "] (row " + i / d + ", column " + i % d + ") is " + o[i] + ", expected "
                        + refO[i] + " within " + O_TOL + " x (1 + |expected|)");
            }
            worstO = Math.max(worstO, err);
        }
        for (int i = 0; i < lse.length; i++) {
            boolean bothInf = refLse[i] == Double.NEGATIVE_INFINITY && lse[i] == Float.NEGATIVE_INFINITY;
            double err = bothInf ? 0 : Math.abs(lse[i] - refLse[i]);
            if (!(err <= LSE_TOL)) {
                fail(what + ": lse[" + i + "] is " + lse[i] + ", expected " + refLse[i] + " within " + LSE_TOL);
            }
            worstLse = Math.max(worstLse, err);
        }
        System.out.printf("%s: worst o error %.3g (relative to 1 + |ref|), worst lse error %.3g%n", what, worstO,
                worstLse);
    }

    /** Both kernels translate to CUDA C for an H200 without fp64 and compile with nvcc for sm_90, with no spills. */
    @ParameterizedTest(name = "d={0}")
    @ValueSource(ints = {64, 128})
    void compilesWithNvccWithoutSpills(int d) throws Exception {
        Method m = FlashForwardKernels.class.getMethod("flashForward" + d, KernelContext.class, FloatArray.class,
                FloatArray.class, FloatArray.class, FloatArray.class, FloatArray.class, IntArray.class, IntArray.class,
                int.class, float.class);
        Object[] args = new Object[m.getParameterCount()];
        args[0] = new KernelContext();
        GeneratedKernel kernel = KernelJit.shared().compile(m, args, Dialect.CUDA, H200_NO_FP64,
                FlashForwardKernels.GROUP);
        assertEquals(m.getName(), kernel.entryName());
        Nvcc.assumePresent();
        Nvcc.Result result = Nvcc.compileCubin(m.getName(), kernel.source(), "sm_90").assertCleanCompile();
        // ptxas' report for the kernel must exist, with no stack frame and no spill stores or loads
        Nvcc.KernelResources resources = result.assertNoSpills(m.getName());
        System.out.println(resources);
        // three groups of 128 work-items per multiprocessor (the kernel's documented occupancy) need <= 168
        assertTrue(resources.registers() <= 168, () -> m.getName() + " uses " + resources.registers()
                + " registers, expected at most 168 so that three work-groups of " + FlashForwardKernels.GROUP
                + " fit a multiprocessor's 64k registers");
    }

    static List<Arguments> variantKernels() {
        List<Arguments> out = new ArrayList<>();
        for (FlashForwardKernels.Variant variant : FlashForwardKernels.VARIANTS) {
            out.add(Arguments.of(variant, 64));
            out.add(Arguments.of(variant, 128));
        }
        return out;
    }

    /**
     * Every layout through {@code flashForwardTuned} compiles for sm_90 without spills; its registers and local
     * memory go to standard output (the facts to read against the layouts' timings).
     */
    @ParameterizedTest(name = "{0} d={1}")
    @MethodSource("variantKernels")
    void everyVariantCompilesWithNvccWithoutSpills(FlashForwardKernels.Variant variant, int d) throws Exception {
        Method m = FlashForwardKernels.class.getMethod("flashForwardTuned", KernelContext.class, FloatArray.class,
                FloatArray.class, FloatArray.class, FloatArray.class, FloatArray.class, IntArray.class, IntArray.class,
                int.class, float.class, int.class, int.class, int.class);
        Object[] args = {new KernelContext(), null, null, null, null, null, null, null, 0, 0f, d, variant.groupRows(),
            variant.group()};
        GeneratedKernel kernel = KernelJit.shared().compile(m, args, Dialect.CUDA, H200_NO_FP64, variant.group());
        Nvcc.assumePresent();
        Nvcc.KernelResources resources = Nvcc.compileCubin(m.getName(), kernel.source(), "sm_90")
                .assertCleanCompile().assertNoSpills(m.getName());
        System.out.println(variant.label() + " d=" + d + ": " + resources);
    }
}
