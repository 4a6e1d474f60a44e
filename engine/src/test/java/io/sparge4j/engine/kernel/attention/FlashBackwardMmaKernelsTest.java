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
import io.sparge4j.engine.sparse.BlockGrid;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.BlockSelector;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.ExecutionPlan;
import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.attention.BlockMaskTasks;
import io.sparge4j.kernels.attention.FlashBackwardMmaKernels;
import io.sparge4j.kernels.attention.FlashBackwardMmaTasks;
import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;
import io.sparge4j.kernels.types.arrays.HalfWidthFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The tensor-core attention backward ({@link FlashBackwardMmaKernels} through {@link FlashBackwardMmaTasks}) on the
 * emulator and on the first OpenCL device (PoCL in CI: the MMA's FMA fallback), against a float64 backward computed
 * here from the definition on the very inputs the kernels see (q, k, v, dO rounded to bf16 or f16; O and lse as
 * given) and the same block mask.
 *
 * <p>Tolerances, derived from where the kernels round: P (for dV) and dS (for dK, dQ) are rounded to the operand
 * type, relative error at most u = 2^-8 (bf16) or 2^-11 (f16) per term; everything else is f32. So, per gradient
 * element with terms {@code x_j} (e.g. {@code P_qk dO_qc} for dV):
 * <ul>
 * <li>worst case: {@code |err| <= 1.1 u sum_j |x_j| + 1e-5 max|ref|} (the 1.1 and the absolute part cover the f32
 * sums and exp, about 2^-24 d relative);</li>
 * <li>statistical: the rounding errors are independent, at most u relative, about u^2/3 in mean square for
 * uniform ones, so over all elements {@code ||err||_2 <= u sqrt(sum_i sum_j x_j^2)} (sqrt 3 times the expected
 * size) plus the same f32 part; this one catches a missing or doubled tile, which the worst case may not. Observed:
 * about 0.4 of this bound in bf16, 0.35 in f16.</li>
 * </ul>
 */
@Timeout(value = 600, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FlashBackwardMmaKernelsTest {
    private static final int QUERY_BLOCK = 128;
    private static final int KEY_BLOCK = 64;
    /** The H200 without fp64, so that a kernel relying on doubles would be refused. */
    private static final DeviceFeatures H200_NO_FP64 = new DeviceFeatures(32, true, true, false, 1024, 232448,
            "cuda|NVIDIA H200|sm_90|test");

    /** Which mask a case uses. */
    enum MaskKind {
        /** Every block kept. */
        DENSE,
        /**
         * Query block i keeps key block (2i + 1) mod e only, odd rows also (2i + 3) mod e (e = nk rounded down to
         * even): rows with exactly one kept block, and even key blocks kept by no row (their dK = dV = 0).
         */
        ONE_BLOCK_ROWS,
        /** About 40% of the blocks, at least one per row (seeded). */
        RANDOM
    }

    static List<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (MaskKind mask : MaskKind.values()) {
            // N = 200: 2 query blocks (the last of 72 tokens), 4 key blocks (the last of 8)
            out.add(Arguments.of("emulator", mask, true, false, 1, 2, 200, 64, QUERY_BLOCK, KEY_BLOCK));
            out.add(Arguments.of("emulator", mask, true, false, 2, 1, 200, 128, QUERY_BLOCK, KEY_BLOCK));
            out.add(Arguments.of("emulator", mask, false, true, 1, 1, 200, 128, QUERY_BLOCK, KEY_BLOCK));
            // N = 1000: 8 query blocks (the last of 104), 16 key blocks (the last of 40)
            out.add(Arguments.of("opencl", mask, true, false, 1, 2, 1000, 64, QUERY_BLOCK, KEY_BLOCK));
            out.add(Arguments.of("opencl", mask, true, true, 1, 1, 1000, 128, QUERY_BLOCK, KEY_BLOCK));
            out.add(Arguments.of("opencl", mask, false, false, 1, 1, 1000, 128, QUERY_BLOCK, KEY_BLOCK));
            // 64-token query blocks, 128-token key blocks
            out.add(Arguments.of("opencl", mask, true, false, 1, 1, 333, 64, 64, 128));
        }
        // d = 48: an odd number of 16-deep k-steps over d (the dkdv fragment prefetch goes two at a time)
        out.add(Arguments.of("emulator", MaskKind.RANDOM, true, false, 1, 1, 200, 48, QUERY_BLOCK, KEY_BLOCK));
        return out;
    }

    @ParameterizedTest(name = "{0} {1} bf16={2} halfOut={3} B={4} H={5} N={6} d={7} blocks {8}x{9}")
    @MethodSource("cases")
    void matchesFloat64(String backend, MaskKind kind, boolean bf16, boolean halfOut, int batch, int heads, int n,
            int d, int queryBlock, int keyBlock) {
        if (backend.equals("opencl")) {
            assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): OpenCL case skipped");
        }
        int bh = batch * heads;
        long seed = 1000L * n + 10L * d + kind.ordinal() + (bf16 ? 0 : 5);
        Random random = new Random(seed);
        HalfWidthFloatArray q = operand(random, bh * n * d, bf16);
        HalfWidthFloatArray k = operand(random, bh * n * d, bf16);
        HalfWidthFloatArray v = operand(random, bh * n * d, bf16);
        HalfWidthFloatArray dOut = operand(random, bh * n * d, bf16);
        BlockMask mask = mask(kind, random, batch, heads, n, queryBlock, keyBlock);
        float scale = (float) (1 / Math.sqrt(d));
        AttentionFloat64 ref = new AttentionFloat64(bh, n, d, scale, q.toHeapArray(), k.toHeapArray(), v.toHeapArray(),
                dOut.toHeapArray(), mask);
        float[] out = ref.out();
        HalfWidthFloatArray outHalf = null;
        if (halfOut) {
            outHalf = bf16 ? BFloat16Array.fromArray(out) : HalfFloatArray.fromArray(out);
            out = outHalf.toHeapArray(); // the O the kernel sees, so the reference's delta uses it
        }
        ref.backward(out);
        float[][] device = runOnDevice(backend, bf16, bh, n, d, queryBlock, keyBlock, scale, q, k, v, dOut,
                halfOut ? outHalf : null, FloatArray.fromArray(out), ref.lse(), mask);
        double u = bf16 ? 0x1p-8 : 0x1p-11;
        String[] names = {"dq", "dk", "dv"};
        StringBuilder report = new StringBuilder();
        for (int g = 0; g < 3; g++) {
            report.append(' ').append(assertWithinBounds(names[g], ref.grad[g], ref.absSum[g], ref.squareSum[g],
                    device[g], u));
        }
        System.out.printf("FlashBackwardMma %s %s %s halfOut=%b B=%d H=%d N=%d d=%d blocks %dx%d sparsity %.2f:%s%n",
                backend, kind, bf16 ? "bf16" : "f16", halfOut, batch, heads, n, d, queryBlock, keyBlock,
                mask.sparsity(), report);
        if (kind == MaskKind.ONE_BLOCK_ROWS) {
            assertUnkeptKeysZero(device, mask, bh, n, d);
        }
    }

    static List<Arguments> pipelineCases() {
        return List.of(Arguments.of("emulator", 1, 2, 200, 64), Arguments.of("opencl", 1, 2, 1000, 128));
    }

    /**
     * The bf16 backward in one graph with the hybrid mask the device builds ({@link BlockMaskTasks} on f32 copies of
     * the rounded q and k), as the attention bench wires it: the backward reads the mask's lists on the device. The
     * device mask must equal the CPU's selection ({@link SparseAttention#forward}) for these inputs; the gradients are
     * held to the bounds of {@link #matchesFloat64} against the float64 backward on the CPU's mask.
     */
    @ParameterizedTest(name = "{0} B={1} H={2} N={3} d={4}")
    @MethodSource("pipelineCases")
    void backwardOnDeviceBuiltMask(String backend, int batch, int heads, int n, int d) {
        if (backend.equals("opencl")) {
            assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): OpenCL case skipped");
        }
        int bh = batch * heads;
        Random random = new Random(77L * n + d);
        HalfWidthFloatArray q = operand(random, bh * n * d, true);
        HalfWidthFloatArray k = operand(random, bh * n * d, true);
        HalfWidthFloatArray v = operand(random, bh * n * d, true);
        HalfWidthFloatArray dOut = operand(random, bh * n * d, true);
        float[] qf = q.toHeapArray();
        float[] kf = k.toHeapArray();
        float scale = (float) (1 / Math.sqrt(d));
        SparseAttention.Config config = SparseAttention.Config.defaults().withBlocks(QUERY_BLOCK, KEY_BLOCK)
                .withMode(MaskMode.HYBRID).withTopk(0.1).withTopp(0.5);
        BlockMask mask;
        try (Tensor qt = Tensor.of(qf, batch, heads, n, d);
                Tensor kt = Tensor.of(kf, batch, heads, n, d);
                Tensor vt = Tensor.of(v.toHeapArray(), batch, heads, n, d);
                SparseAttention.Result forward = SparseAttention.forward(qt, kt, vt, config)) {
            mask = forward.selection().mask();
        }
        AttentionFloat64 ref = new AttentionFloat64(bh, n, d, scale, qf, kf, v.toHeapArray(), dOut.toHeapArray(), mask);
        float[] out = ref.out();
        ref.backward(out);

        BlockMaskTasks maskTasks = new BlockMaskTasks(bh, n, d, QUERY_BLOCK, KEY_BLOCK);
        FlashBackwardMmaTasks tasks = new FlashBackwardMmaTasks(bh, n, d, QUERY_BLOCK, KEY_BLOCK, true);
        FloatArray q32 = FloatArray.fromArray(qf);
        FloatArray k32 = FloatArray.fromArray(kf);
        IntArray qi = FlashBackwardMmaTasks.pairs(q);
        IntArray ki = FlashBackwardMmaTasks.pairs(k);
        IntArray vi = FlashBackwardMmaTasks.pairs(v);
        IntArray doi = FlashBackwardMmaTasks.pairs(dOut);
        FloatArray outa = FloatArray.fromArray(out);
        FloatArray lsea = FloatArray.fromArray(ref.lse());
        FloatArray dq = new FloatArray(bh * n * d);
        FloatArray dk = new FloatArray(bh * n * d);
        FloatArray dv = new FloatArray(bh * n * d);
        TaskGraph g = new TaskGraph("pipe").transferToDevice(DataTransferMode.FIRST_EXECUTION, q32, k32, qi, ki, vi,
                doi, outa, lsea);
        GridScheduler grids = new GridScheduler();
        maskTasks.addPooledMap(g, grids, "m", q32, k32, scale, heads, false);
        maskTasks.addSelection(g, grids, "m", BlockSelector.topkCount(config.topk(), maskTasks.keyBlocks()),
                config.topp());
        tasks.addBackward(g, grids, "b", qi, ki, vi, doi, outa, lsea, maskTasks.rowStart, maskTasks.rowBlocks,
                maskTasks.colStart, maskTasks.colBlocks, dq, dk, dv, scale);
        g.transferToHost(DataTransferMode.EVERY_EXECUTION, maskTasks.keep, dq, dk, dv);
        BackendSelection selection = BackendSelection.withOpenClDeviceFromEnvironment(backend);
        try (ComputeDevice device = ExecutionBackends.openDevice(selection);
                ExecutionPlan plan = new ExecutionPlan(g.snapshot()).withGridScheduler(grids)
                        .withExecutor(new TaskGraphExecutor(device, ExecutionBackends.compiler(selection), false))) {
            plan.execute();
        }
        byte[] keep = maskTasks.keep.toHeapArray();
        int nq = maskTasks.queryBlocks();
        int nk = maskTasks.keyBlocks();
        for (int r = 0; r < maskTasks.rows(); r++) {
            for (int j = 0; j < nk; j++) {
                int h = r / nq;
                assertEquals(mask.kept(h / heads, h % heads, r % nq, j), keep[r * nk + j] != 0,
                        "device mask differs from the CPU's at row " + r + ", key block " + j);
            }
        }
        float[][] device = {dq.toHeapArray(), dk.toHeapArray(), dv.toHeapArray()};
        String[] names = {"dq", "dk", "dv"};
        StringBuilder report = new StringBuilder();
        for (int i = 0; i < 3; i++) {
            report.append(' ').append(assertWithinBounds(names[i], ref.grad[i], ref.absSum[i], ref.squareSum[i],
                    device[i], 0x1p-8));
        }
        System.out.printf("FlashBackwardMma pipeline %s B=%d H=%d N=%d d=%d sparsity %.2f:%s%n", backend, batch, heads,
                n, d, mask.sparsity(), report);
    }

    /** Wrong sizes are refused with the argument's name, its size and the expected one. */
    @Test
    void refusesWrongSizes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new FlashBackwardMmaTasks(1, 100, 72, QUERY_BLOCK, KEY_BLOCK, true));
        assertTrue(e.getMessage().contains("d is 72"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new FlashBackwardMmaTasks(1, 100, 64, 96, KEY_BLOCK, true));
        assertTrue(e.getMessage().contains("blocks are 96 x 64"), e.getMessage());
        FlashBackwardMmaTasks tasks = new FlashBackwardMmaTasks(1, 100, 64, QUERY_BLOCK, KEY_BLOCK, true);
        IntArray half = new IntArray(100 * 32);
        IntArray shortOne = new IntArray(100 * 32 - 1);
        FloatArray full = new FloatArray(100 * 64);
        FloatArray rows = new FloatArray(100);
        IntArray list = new IntArray(4);
        e = assertThrows(IllegalArgumentException.class, () -> tasks.addBackward(new TaskGraph("t"),
                new GridScheduler(), "b", half, shortOne, half, half, full, rows, list, list, list, list, full, full,
                full, 0.125f));
        assertEquals("FlashBackwardMmaTasks.addBackward: k has 3199 elements, expected at least 3200 (heads 1 x tokens"
                + " 100 x d 64 / 2 ints of bf16 pairs)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> tasks.addBackward(new TaskGraph("t"),
                new GridScheduler(), "b", half, half, half, half, full, rows, list, list, list, list, full, full,
                full, Float.NaN));
        assertTrue(e.getMessage().contains("scale is NaN"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> FlashBackwardMmaTasks.pairs(new BFloat16Array(3)));
        assertEquals("FlashBackwardMmaTasks.pairs: array has 3 elements, expected an even size", e.getMessage());
    }

    private static HalfWidthFloatArray operand(Random random, int size, boolean bf16) {
        float[] x = new float[size];
        for (int i = 0; i < size; i++) {
            x[i] = (float) random.nextGaussian();
        }
        return bf16 ? BFloat16Array.fromArray(x) : HalfFloatArray.fromArray(x);
    }

    private static BlockMask mask(MaskKind kind, Random random, int batch, int heads, int n, int queryBlock,
            int keyBlock) {
        BlockGrid qGrid = new BlockGrid(n, queryBlock);
        BlockGrid kGrid = new BlockGrid(n, keyBlock);
        int nq = qGrid.blocks();
        int nk = kGrid.blocks();
        boolean[] kept = new boolean[batch * heads * nq * nk];
        for (int r = 0; r < batch * heads * nq; r++) {
            int i = r % nq;
            switch (kind) {
                case DENSE -> Arrays.fill(kept, r * nk, (r + 1) * nk, true);
                case ONE_BLOCK_ROWS -> {
                    int even = nk - nk % 2; // odd block indices below nk (nk >= 2)
                    kept[r * nk + (2 * i + 1) % even] = true;
                    if (i % 2 == 1) {
                        kept[r * nk + (2 * i + 3) % even] = true;
                    }
                }
                case RANDOM -> {
                    for (int j = 0; j < nk; j++) {
                        kept[r * nk + j] = random.nextDouble() < 0.4;
                    }
                    kept[r * nk + random.nextInt(nk)] = true;
                }
            }
        }
        return BlockMask.of(batch, heads, qGrid, kGrid, kept);
    }

    /** Runs the tasks in one graph; outputs start poisoned with NaN so an unwritten element shows. */
    private static float[][] runOnDevice(String backend, boolean bf16, int heads, int n, int d, int queryBlock,
            int keyBlock, float scale, HalfWidthFloatArray q, HalfWidthFloatArray k, HalfWidthFloatArray v,
            HalfWidthFloatArray dOut, HalfWidthFloatArray outHalf, FloatArray out, float[] lse, BlockMask mask) {
        FlashBackwardMmaTasks tasks = new FlashBackwardMmaTasks(heads, n, d, queryBlock, keyBlock, bf16);
        IntArray qi = FlashBackwardMmaTasks.pairs(q);
        IntArray ki = FlashBackwardMmaTasks.pairs(k);
        IntArray vi = FlashBackwardMmaTasks.pairs(v);
        IntArray doi = FlashBackwardMmaTasks.pairs(dOut);
        IntArray outi = outHalf == null ? null : FlashBackwardMmaTasks.pairs(outHalf);
        FloatArray lsea = FloatArray.fromArray(lse);
        IntArray rowStart = IntArray.fromArray(mask.rowStart());
        IntArray rowBlocks = IntArray.fromArray(nonEmpty(mask.rowBlocks()));
        IntArray colStart = IntArray.fromArray(mask.colStart());
        IntArray colBlocks = IntArray.fromArray(nonEmpty(mask.colBlocks()));
        FloatArray dq = new FloatArray(heads * n * d);
        FloatArray dk = new FloatArray(heads * n * d);
        FloatArray dv = new FloatArray(heads * n * d);
        for (FloatArray a : new FloatArray[] {tasks.delta, dq, dk, dv}) {
            a.init(Float.NaN);
        }
        TaskGraph g = new TaskGraph("bwd").transferToDevice(DataTransferMode.FIRST_EXECUTION, qi, ki, vi, doi,
                outi == null ? out : outi, lsea, rowStart, rowBlocks, colStart, colBlocks, tasks.delta, dq, dk, dv);
        GridScheduler grids = new GridScheduler();
        if (outi == null) {
            tasks.addBackward(g, grids, "b", qi, ki, vi, doi, out, lsea, rowStart, rowBlocks, colStart, colBlocks, dq,
                    dk, dv, scale);
        } else {
            tasks.addBackward(g, grids, "b", qi, ki, vi, doi, outi, lsea, rowStart, rowBlocks, colStart, colBlocks,
                    dq, dk, dv, scale);
        }
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

    /** Key blocks no query block keeps must get exactly zero dK and dV; the case must contain some. */
    private static void assertUnkeptKeysZero(float[][] device, BlockMask mask, int heads, int n, int d) {
        int nk = mask.keyGrid().blocks();
        int[] colStart = mask.colStart();
        int unkept = 0;
        for (int c = 0; c < heads * nk; c++) {
            if (colStart[c + 1] == colStart[c]) {
                unkept++;
                int bh = c / nk;
                int kb = mask.keyGrid().blockSize();
                for (int key = c % nk * kb; key < Math.min(n, (c % nk + 1) * kb); key++) {
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

    /**
     * Both bounds of the class comment.
     *
     * @return a short report of the worst element's error over its bound and the L2 error over its bound
     */
    private static String assertWithinBounds(String what, double[] ref, double[] absSum, double[] squareSum,
            float[] actual, double u) {
        double maxRef = 0;
        for (double r : ref) {
            maxRef = Math.max(maxRef, Math.abs(r));
        }
        assertTrue(maxRef > 0, what + ": the reference is all zeros, the case cannot fail");
        double worstRatio = 0;
        double errSquares = 0;
        double boundSquares = 0;
        for (int i = 0; i < ref.length; i++) {
            double err = Math.abs(ref[i] - actual[i]);
            double bound = 1.1 * u * absSum[i] + 1e-5 * maxRef;
            assertTrue(err <= bound, what + "[" + i + "]: got " + actual[i] + ", float64 " + ref[i] + ", error " + err
                    + " over the bound " + bound + " = 1.1 u sum|terms| (" + absSum[i] + ") + 1e-5 max|ref| ("
                    + maxRef + "), u = " + u);
            worstRatio = Math.max(worstRatio, err / bound);
            errSquares += err * err;
            boundSquares += u * u * squareSum[i];
        }
        double l2Bound = Math.sqrt(boundSquares) + 1e-5 * maxRef * Math.sqrt(ref.length);
        double l2 = Math.sqrt(errSquares);
        assertTrue(l2 <= l2Bound, what + ": L2 error " + l2 + " over the bound " + l2Bound
                + " = u sqrt(sum of squared terms) + 1e-5 max|ref| sqrt(count), u = " + u);
        return String.format("%s worst/bound %.3f L2/bound %.3f (max|ref| %.3g)", what, worstRatio, l2 / l2Bound,
                maxRef);
    }

    static List<Arguments> nvccCases() {
        List<Arguments> out = new ArrayList<>();
        for (String name : List.of("dqBF16", "dkdvBF16", "dqF16", "dkdvF16", "rowDeltaBF16", "rowDeltaHalfOutF16",
                "packFragments")) {
            for (int d : new int[] {64, 128}) {
                out.add(Arguments.of(name, d));
            }
        }
        return out;
    }

    /**
     * The CUDA C the JIT emits for an H200 compiles with nvcc for sm_90 without warnings and without register
     * spills (ptxas -v reports 0 bytes of spill stores and loads, no stack frame), within 48 KiB of shared memory.
     * Skipped with a reason when nvcc is absent. The registers it prints are quoted in the kernels' Javadoc.
     */
    @ParameterizedTest(name = "{0} d={1}")
    @MethodSource("nvccCases")
    void cudaCompilesWithoutSpills(String name, int d) throws Exception {
        Method m = null;
        for (Method c : FlashBackwardMmaKernels.class.getDeclaredMethods()) {
            if (c.getName().equals(name)) {
                m = c;
            }
        }
        Object[] args = new Object[m.getParameterCount()];
        args[0] = new KernelContext();
        boolean pass = name.startsWith("dq") || name.startsWith("dkdv");
        args[args.length - 1] = pass ? FlashBackwardMmaKernels.geometry(d, QUERY_BLOCK, KEY_BLOCK) : d;
        GeneratedKernel kernel = KernelJit.shared().compile(m, args, Dialect.CUDA, H200_NO_FP64,
                pass ? FlashBackwardMmaKernels.GROUP : 128);
        assertEquals(name, kernel.entryName());
        Nvcc.assumePresent();
        Nvcc.Result result = Nvcc.compileCubin(name, kernel.source(), "sm_90").assertCleanCompile();
        Nvcc.KernelResources resources = result.assertNoSpills(name);
        assertTrue(resources.sharedMemoryBytes() <= 48 * 1024, "shared memory " + resources.sharedMemoryBytes());
        System.out.println("FlashBackwardMmaKernels." + name + " d=" + d + ": " + resources);
    }
}
