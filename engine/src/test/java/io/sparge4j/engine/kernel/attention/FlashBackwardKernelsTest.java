package io.sparge4j.engine.kernel.attention;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.execution.ExecutionBackends;
import io.sparge4j.engine.execution.TaskGraphExecutor;
import io.sparge4j.engine.jit.KernelJit;
import io.sparge4j.engine.jit.Nvcc;
import io.sparge4j.engine.ops.Attention;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.BlockSelector;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.ExecutionPlan;
import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.attention.BlockMaskTasks;
import io.sparge4j.kernels.attention.FlashBackwardKernels;
import io.sparge4j.kernels.attention.FlashBackwardTasks;
import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The block-sparse FlashAttention backward kernels ({@link FlashBackwardKernels}: packing, row statistics, dQ pass,
 * dK/dV pass)
 * through the TaskGraph API on the emulator and on the first OpenCL device (PoCL in CI). Inputs: seeded random q,
 * k, v, dO; o and lse from the CPU's {@link SparseAttention#forward} (so the test does not depend on a GPU
 * forward); the mask's CSR lists (both directions) from the CPU's {@link BlockMask}. dq, dk and dv are compared
 * with {@link SparseAttention#backward} and with a float64 reference computed here from q, k, v, dO and the mask
 * alone, each within {@link #TOLERANCE} of the gradient's largest magnitude.
 */
@Timeout(value = 600, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FlashBackwardKernelsTest {
    /** Largest error allowed, relative to the largest magnitude of the reference gradient. */
    private static final double TOLERANCE = 1e-4;
    private static final int QUERY_BLOCK = 128;
    private static final int KEY_BLOCK = 64;
    /** The H200 without fp64, so that a kernel relying on doubles would be refused. */
    private static final DeviceFeatures H200_NO_FP64 = new DeviceFeatures(32, true, true, false, 1024, 232448,
            "cuda|NVIDIA H200|sm_90|test");

    /** Which mask a case uses. */
    enum MaskKind {
        /** SparseAttention.selectBlocks in hybrid mode. */
        HYBRID,
        /** Every block kept. */
        DENSE,
        /** Even query blocks keep one key block; only odd key blocks are ever kept (even ones: dK = dV = 0). */
        SPARSE_COLUMNS
    }

    static List<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (MaskKind mask : MaskKind.values()) {
            // N = 200: 2 query blocks (the last of 72 tokens), 4 key blocks (the last of 8)
            out.add(Arguments.of("emulator", mask, 1, 2, 200, 64, QUERY_BLOCK, KEY_BLOCK));
            out.add(Arguments.of("emulator", mask, 1, 3, 200, 128, QUERY_BLOCK, KEY_BLOCK));
            // N = 1000: 8 query blocks (the last of 104), 16 key blocks (the last of 40)
            out.add(Arguments.of("opencl", mask, 1, 2, 1000, 64, QUERY_BLOCK, KEY_BLOCK));
            out.add(Arguments.of("opencl", mask, 3, 1, 1000, 128, QUERY_BLOCK, KEY_BLOCK));
            out.add(Arguments.of("opencl", mask, 1, 3, 200, 128, QUERY_BLOCK, KEY_BLOCK));
            // other blocks: 64-token query blocks, 128-token key blocks (two tiles per key block)
            out.add(Arguments.of("emulator", mask, 2, 1, 200, 64, 64, 128));
            out.add(Arguments.of("opencl", mask, 1, 2, 1000, 128, 64, 128));
        }
        return out;
    }

    @ParameterizedTest(name = "{0} {1} B={2} H={3} N={4} d={5} blocks {6}x{7}")
    @MethodSource("cases")
    void matchesCpuAndFloat64(String backend, MaskKind kind, int batch, int heads, int n, int d, int queryBlock,
            int keyBlock) {
        if (backend.equals("opencl")) {
            assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): OpenCL case skipped");
        }
        long seed = 1000L * n + 10L * d + kind.ordinal();
        try (Tensor q = Tensor.randn(seed, batch, heads, n, d);
                Tensor k = Tensor.randn(seed + 1, batch, heads, n, d);
                Tensor v = Tensor.randn(seed + 2, batch, heads, n, d);
                Tensor dOut = Tensor.randn(seed + 3, batch, heads, n, d)) {
            SparseAttention.Config config = config(kind, batch, heads, n, queryBlock, keyBlock);
            try (SparseAttention.Result forward = SparseAttention.forward(q, k, v, config);
                    Attention.Gradients cpu = SparseAttention.backward(dOut, q, k, v, forward, config)) {
                BlockMask mask = forward.selection().mask();
                float scale = (float) (1 / Math.sqrt(d));
                float[][] device = runOnDevice(backend, batch * heads, n, d, scale, q.toFloatArray(),
                        k.toFloatArray(), v.toFloatArray(), dOut.toFloatArray(), forward.out().toFloatArray(),
                        forward.logsumexp().toFloatArray(), mask);
                double[][] exact = AttentionFloat64.exactGradients(batch * heads, n, d, scale, q.toFloatArray(),
                        k.toFloatArray(), v.toFloatArray(), dOut.toFloatArray(), mask);
                float[][] cpuGrads = {cpu.dq().toFloatArray(), cpu.dk().toFloatArray(), cpu.dv().toFloatArray()};
                String[] names = {"dq", "dk", "dv"};
                StringBuilder errors = new StringBuilder();
                for (int g = 0; g < 3; g++) {
                    errors.append(String.format(" %s %.2e/%.2e", names[g],
                            assertClose(names[g] + " vs float64", exact[g], device[g]),
                            assertClose(names[g] + " vs SparseAttention.backward", toDouble(cpuGrads[g]), device[g])));
                }
                System.out.printf("FlashBackwardKernels %s %s B=%d H=%d N=%d d=%d blocks %dx%d sparsity %.2f, error /"
                        + " max|ref| (vs float64 / vs CPU):%s%n", backend, kind, batch, heads, n, d, queryBlock,
                        keyBlock, mask.sparsity(), errors);
                if (kind == MaskKind.SPARSE_COLUMNS) {
                    assertUnkeptKeysZero(device, mask, batch * heads, n, d);
                }
            }
        }
    }

    private static SparseAttention.Config config(MaskKind kind, int batch, int heads, int n, int queryBlock,
            int keyBlock) {
        SparseAttention.Config base = SparseAttention.Config.defaults().withBlocks(queryBlock, keyBlock);
        return switch (kind) {
            case HYBRID -> base.withMode(MaskMode.HYBRID).withTopk(0.1).withTopp(0.5);
            case DENSE -> base.withMode(MaskMode.DENSE);
            case SPARSE_COLUMNS -> {
                int nq = (n + queryBlock - 1) / queryBlock;
                int nk = (n + keyBlock - 1) / keyBlock;
                Tensor m = Tensor.allocate(DType.U8, batch, heads, nq, nk);
                for (int r = 0; r < batch * heads * nq; r++) {
                    int i = r % nq;
                    m.setLong((long) r * nk + (2 * i + 1) % nk, 1);
                    if (i % 2 == 1) {
                        m.setLong((long) r * nk + (2 * i + 3) % nk, 1);
                    }
                }
                yield base.withMask(m);
            }
        };
    }

    static List<Arguments> pipelineCases() {
        return List.of(Arguments.of("emulator", 1, 2, 200, 64), Arguments.of("opencl", 2, 1, 1000, 128));
    }

    /**
     * The whole sparse backward in one graph as the engine will run it: the device builds the hybrid mask from q
     * and k ({@link BlockMaskTasks}), and the backward tasks read its lists on the device. The device mask must
     * equal the CPU's for these seeded inputs; the gradients are checked against the CPU and float64.
     */
    @ParameterizedTest(name = "{0} B={1} H={2} N={3} d={4}")
    @MethodSource("pipelineCases")
    void backwardOnDeviceBuiltMask(String backend, int batch, int heads, int n, int d) {
        if (backend.equals("opencl")) {
            assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): OpenCL case skipped");
        }
        long seed = 77L * n + d;
        int bh = batch * heads;
        try (Tensor q = Tensor.randn(seed, batch, heads, n, d);
                Tensor k = Tensor.randn(seed + 1, batch, heads, n, d);
                Tensor v = Tensor.randn(seed + 2, batch, heads, n, d);
                Tensor dOut = Tensor.randn(seed + 3, batch, heads, n, d)) {
            SparseAttention.Config config = config(MaskKind.HYBRID, batch, heads, n, QUERY_BLOCK, KEY_BLOCK);
            try (SparseAttention.Result forward = SparseAttention.forward(q, k, v, config);
                    Attention.Gradients cpu = SparseAttention.backward(dOut, q, k, v, forward, config)) {
                float scale = (float) (1 / Math.sqrt(d));
                BlockMaskTasks maskTasks = new BlockMaskTasks(bh, n, d, QUERY_BLOCK, KEY_BLOCK);
                FlashBackwardTasks tasks = new FlashBackwardTasks(bh, n, d, QUERY_BLOCK, KEY_BLOCK);
                FloatArray qa = FloatArray.fromArray(q.toFloatArray());
                FloatArray ka = FloatArray.fromArray(k.toFloatArray());
                FloatArray va = FloatArray.fromArray(v.toFloatArray());
                FloatArray doa = FloatArray.fromArray(dOut.toFloatArray());
                FloatArray oa = FloatArray.fromArray(forward.out().toFloatArray());
                FloatArray lsea = FloatArray.fromArray(forward.logsumexp().toFloatArray());
                FloatArray dq = new FloatArray(bh * n * d);
                FloatArray dk = new FloatArray(bh * n * d);
                FloatArray dv = new FloatArray(bh * n * d);
                TaskGraph g = new TaskGraph("pipe").transferToDevice(DataTransferMode.FIRST_EXECUTION, qa, ka, va, doa,
                        oa, lsea);
                GridScheduler grids = new GridScheduler();
                maskTasks.addPooledMap(g, grids, "m", qa, ka, scale, heads, false);
                maskTasks.addSelection(g, grids, "m", BlockSelector.topkCount(config.topk(), maskTasks.keyBlocks()),
                        config.topp());
                tasks.addBackward(g, grids, "b", qa, ka, va, doa, oa, lsea, maskTasks.rowStart, maskTasks.rowBlocks,
                        maskTasks.colStart, maskTasks.colBlocks, dq, dk, dv, scale);
                g.transferToHost(DataTransferMode.EVERY_EXECUTION, maskTasks.keep, dq, dk, dv);
                BackendSelection selection = BackendSelection.withOpenClDeviceFromEnvironment(backend);
                try (ComputeDevice device = ExecutionBackends.openDevice(selection);
                        ExecutionPlan plan = new ExecutionPlan(g.snapshot()).withGridScheduler(grids).withExecutor(
                                new TaskGraphExecutor(device, ExecutionBackends.compiler(selection), false))) {
                    plan.execute();
                }
                BlockMask mask = forward.selection().mask();
                byte[] keep = maskTasks.keep.toHeapArray();
                int nk = maskTasks.keyBlocks();
                for (int r = 0; r < maskTasks.rows(); r++) {
                    for (int j = 0; j < nk; j++) {
                        int i = r % maskTasks.queryBlocks();
                        int h = r / maskTasks.queryBlocks();
                        assertEquals(mask.kept(h / heads, h % heads, i, j), keep[r * nk + j] != 0,
                                "device mask differs from the CPU's at row " + r + ", key block " + j);
                    }
                }
                double[][] exact = AttentionFloat64.exactGradients(bh, n, d, scale, q.toFloatArray(), k.toFloatArray(),
                        v.toFloatArray(), dOut.toFloatArray(), mask);
                float[][] device = {dq.toHeapArray(), dk.toHeapArray(), dv.toHeapArray()};
                float[][] cpuGrads = {cpu.dq().toFloatArray(), cpu.dk().toFloatArray(), cpu.dv().toFloatArray()};
                String[] names = {"dq", "dk", "dv"};
                for (int i = 0; i < 3; i++) {
                    assertClose(names[i] + " vs float64", exact[i], device[i]);
                    assertClose(names[i] + " vs SparseAttention.backward", toDouble(cpuGrads[i]), device[i]);
                }
            }
        }
    }

    /** Key blocks no query block keeps must get exactly zero dK and dV; the case must contain some. */
    private static void assertUnkeptKeysZero(float[][] device, BlockMask mask, int heads, int n, int d) {
        int nk = mask.keyGrid().blocks();
        int[] colStart = mask.colStart();
        int unkept = 0;
        for (int c = 0; c < heads * nk; c++) {
            if (colStart[c + 1] == colStart[c]) {
                unkept++;
                int bh = c / nk;
                int j = c % nk;
                int kb = mask.keyGrid().blockSize();
                for (int key = j * kb; key < Math.min(n, (j + 1) * kb); key++) {
                    for (int x = 0; x < d; x++) {
                        int at = (bh * n + key) * d + x;
                        assertEquals(0f, device[1][at], "dk of unkept key " + key + " head " + bh);
                        assertEquals(0f, device[2][at], "dv of unkept key " + key + " head " + bh);
                    }
                }
            }
        }
        assertTrue(unkept > 0, "the mask was meant to leave some key blocks unkept");
    }

    /** Runs delta, dq and dkdv in one graph; outputs start poisoned with NaN so an unwritten element shows. */
    private static float[][] runOnDevice(String backend, int heads, int n, int d, float scale, float[] q, float[] k,
            float[] v, float[] dOut, float[] out, float[] lse, BlockMask mask) {
        FlashBackwardTasks tasks = new FlashBackwardTasks(heads, n, d, mask.queryGrid().blockSize(),
                mask.keyGrid().blockSize());
        int rows = heads * n;
        FloatArray qa = FloatArray.fromArray(q);
        FloatArray ka = FloatArray.fromArray(k);
        FloatArray va = FloatArray.fromArray(v);
        FloatArray doa = FloatArray.fromArray(dOut);
        FloatArray oa = FloatArray.fromArray(out);
        FloatArray lsea = FloatArray.fromArray(lse);
        IntArray rowStart = IntArray.fromArray(mask.rowStart());
        IntArray rowBlocks = IntArray.fromArray(nonEmpty(mask.rowBlocks()));
        IntArray colStart = IntArray.fromArray(mask.colStart());
        IntArray colBlocks = IntArray.fromArray(nonEmpty(mask.colBlocks()));
        FloatArray dq = new FloatArray(rows * d);
        FloatArray dk = new FloatArray(rows * d);
        FloatArray dv = new FloatArray(rows * d);
        for (FloatArray a : new FloatArray[] {tasks.qdo, tasks.kv, tasks.stats, dq, dk, dv}) {
            a.init(Float.NaN);
        }
        TaskGraph g = new TaskGraph("bwd").transferToDevice(DataTransferMode.FIRST_EXECUTION, qa, ka, va, doa, oa,
                lsea, rowStart, rowBlocks, colStart, colBlocks, tasks.qdo, tasks.kv, tasks.stats, dq, dk, dv);
        GridScheduler grids = new GridScheduler();
        tasks.addBackward(g, grids, "b", qa, ka, va, doa, oa, lsea, rowStart, rowBlocks, colStart, colBlocks, dq, dk,
                dv, scale);
        g.transferToHost(DataTransferMode.EVERY_EXECUTION, dq, dk, dv);
        BackendSelection selection = BackendSelection.withOpenClDeviceFromEnvironment(backend);
        try (ComputeDevice device = ExecutionBackends.openDevice(selection);
                ExecutionPlan plan = new ExecutionPlan(g.snapshot()).withGridScheduler(grids)
                        .withExecutor(new TaskGraphExecutor(device, ExecutionBackends.compiler(selection), false))) {
            plan.execute();
            return new float[][] {dq.toHeapArray(), dk.toHeapArray(), dv.toHeapArray()};
        }
    }

    private static int[] nonEmpty(int[] a) {
        return a.length == 0 ? new int[1] : a;
    }

    private static double[] toDouble(float[] a) {
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i];
        }
        return out;
    }

    /** @return the largest error relative to the largest magnitude of expected */
    private static double assertClose(String what, double[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, what + ": length");
        double scaleOf = 0;
        for (double e : expected) {
            scaleOf = Math.max(scaleOf, Math.abs(e));
        }
        assertTrue(scaleOf > 0, what + ": the reference is all zeros, the case cannot fail");
        double worst = 0;
        int at = -1;
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(expected[i] - actual[i]);
            if (!(err <= worst)) { // NaN counts as worst
                worst = Double.isNaN(err) ? Double.POSITIVE_INFINITY : err;
                at = i;
            }
        }
        assertTrue(worst <= TOLERANCE * scaleOf, what + ": error " + worst + " at " + at + " (expected "
                + (at < 0 ? "" : expected[at]) + ", got " + (at < 0 ? "" : actual[at]) + "), allowed "
                + TOLERANCE * scaleOf + " = " + TOLERANCE + " x max |ref| " + scaleOf);
        return worst / scaleOf;
    }

    static List<Arguments> nvccCases() {
        List<Arguments> out = new ArrayList<>();
        for (String name : List.of("packPair", "rowStats", "dq", "dkdv")) {
            for (int d : new int[] {64, 128}) {
                out.add(Arguments.of(name, d));
            }
        }
        return out;
    }

    /**
     * The CUDA C the JIT emits for an H200 compiles with nvcc for sm_90 without warnings and without register
     * spills (ptxas -v reports 0 bytes of spill stores and loads). Skipped with a reason when nvcc is absent.
     */
    @ParameterizedTest(name = "{0} d={1}")
    @MethodSource("nvccCases")
    void cudaCompilesWithoutSpills(String name, int d) throws Exception {
        Method m = null;
        for (Method c : FlashBackwardKernels.class.getDeclaredMethods()) {
            if (c.getName().equals(name)) {
                m = c;
            }
        }
        Object[] args = new Object[m.getParameterCount()];
        args[0] = new KernelContext();
        // the last parameter is the @Constant: d, or the geometry of d and the 128 x 64 blocks
        args[args.length - 1] = name.startsWith("d") ? FlashBackwardKernels.geometry(d, QUERY_BLOCK, KEY_BLOCK) : d;
        GeneratedKernel kernel = KernelJit.shared().compile(m, args, Dialect.CUDA, H200_NO_FP64,
                name.startsWith("d") ? FlashBackwardKernels.GROUP : 256);
        assertEquals(name, kernel.entryName());
        Nvcc.assumePresent();
        Nvcc.Result result = Nvcc.compileCubin(name, kernel.source(), "sm_90").assertCleanCompile();
        // no spill stores or loads and no stack frame in ptxas' report for the kernel
        System.out.println("FlashBackwardKernels." + name + " d=" + d + ": " + result.assertNoSpills(name));
    }
}
