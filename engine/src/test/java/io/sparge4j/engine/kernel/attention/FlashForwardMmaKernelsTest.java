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
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.ExecutionPlan;
import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.attention.FlashForwardMmaKernels;
import io.sparge4j.kernels.attention.FlashForwardMmaTasks;
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
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The tensor-core FlashAttention forward kernels through the TaskGraph API on the emulator and on the first
 * OpenCL device (PoCL in CI: the MMA and sub-group fallbacks), against masked attention in float64 on the same
 * bf16- or f16-rounded inputs with the same mask. Masks: hybrid from {@link SparseAttention#selectBlocks}, dense,
 * and one kept block per row (row 0 keeps the short last key block; the last row keeps none, which must give
 * o = 0 and lse = -inf). N is not a multiple of either block.
 *
 * <p>Tolerances: P is rounded to the 16-bit format before P V (l sums the unrounded p), so per output element
 * {@code |o - ref| <= 1.25 u sum_j p_j |v_j| / l + 2^-25 sum_j |v_j| / l (f16 subnormals) + 1e-5 (1 + |ref|)}
 * with u = 2^-8 (bf16: 8 significant bits) or 2^-11 (f16); the 1.25 covers the float exp and score rounding
 * feeding the rounding.
 * lse within {@value #LSE_TOL} absolute (scores are float sums of exact products, as in the f32 kernel). Output
 * padding past (heads, n, d) and (heads, n) must stay untouched.
 *
 * <p>The CUDA source of the four kernels must also compile with nvcc for sm_90 with no spills and no stack frame
 * (skipped with a reason when nvcc is absent).
 */
@Timeout(value = 900, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FlashForwardMmaKernelsTest {
    private static final double LSE_TOL = 5e-5;
    private static final int QB = FlashForwardMmaKernels.QUERY_BLOCK;
    private static final int KB = FlashForwardMmaKernels.KEY_BLOCK;
    /** Elements of padding after o and lse, which the kernel must not write. */
    private static final int PAD = 64;
    /** The H200 without fp64, so that a kernel relying on doubles would be refused. */
    static final DeviceFeatures H200_NO_FP64 = new DeviceFeatures(32, true, true, false, 1024, 232448,
            "cuda|NVIDIA H200|sm_90|test");

    enum Masks { HYBRID, DENSE, ONE_PER_ROW }

    /**
     * (backend, bf16, heads, N, d, mask). N = 200: 2 query blocks (the last of 72), 4 key blocks (the last of 8);
     * N = 1000: 8 query blocks (the last of 104), 16 key blocks (the last of 40); N = 129: a last query block of 1
     * row and a last key block of 1 key.
     */
    static List<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (Masks mask : Masks.values()) {
            for (int d : new int[] {64, 128}) {
                out.add(Arguments.of("emulator", d == 64, 2, 200, d, mask));
                out.add(Arguments.of("opencl", true, 3, 200, d, mask));
                out.add(Arguments.of("opencl", false, 3, 200, d, mask));
                out.add(Arguments.of("opencl", d == 128, 2, 1000, d, mask));
            }
            out.add(Arguments.of("emulator", false, 1, 129, 128, mask));
            out.add(Arguments.of("opencl", true, 2, 129, 64, mask));
        }
        return out;
    }

    @ParameterizedTest(name = "{0} bf16={1} heads={2} N={3} d={4} {5}")
    @MethodSource("cases")
    void matchesFloat64OnRoundedInputs(String backend, boolean bf16, int heads, int n, int d, Masks kind) {
        if (backend.equals("opencl")) {
            assumeTrue(!OpenClDevice.list().isEmpty(),
                    "no OpenCL device (install pocl-opencl-icd): OpenCL case skipped");
        }
        Random rnd = new Random(1000L * n + 10L * d + kind.ordinal() + 7L * heads + (bf16 ? 3 : 0));
        HalfWidthFloatArray q = rounded(rnd, heads * n * d, 1.5, bf16);
        HalfWidthFloatArray k = rounded(rnd, heads * n * d, 1.5, bf16);
        HalfWidthFloatArray v = rounded(rnd, heads * n * d, 1.0, bf16);
        BlockMask mask = mask(kind, q.toHeapArray(), k.toHeapArray(), heads, n, d, rnd);
        float scale = (float) (1 / Math.sqrt(d));

        float[][] got = runKernel(backend, bf16, q, k, v, mask, heads, n, d, scale);
        Reference ref = float64(q.toHeapArray(), k.toHeapArray(), v.toHeapArray(), mask, heads, n, d, scale, bf16);
        compare(backend + (bf16 ? " bf16" : " f16"), got[0], got[1], ref, heads, n, d);
    }

    static HalfWidthFloatArray rounded(Random rnd, int size, double sigma, boolean bf16) {
        HalfWidthFloatArray x = bf16 ? new BFloat16Array(size) : new HalfFloatArray(size);
        for (int i = 0; i < size; i++) {
            x.set(i, (float) (rnd.nextGaussian() * sigma));
        }
        return x;
    }

    static BlockMask mask(Masks kind, float[] q, float[] k, int heads, int n, int d, Random rnd) {
        BlockGrid qg = new BlockGrid(n, QB);
        BlockGrid kg = new BlockGrid(n, KB);
        return switch (kind) {
            case DENSE -> BlockMask.dense(1, heads, qg, kg);
            case HYBRID -> {
                SparseAttention.Config config = SparseAttention.Config.defaults().withBlocks(QB, KB)
                        .withMode(MaskMode.HYBRID).withTopk(0.2).withTopp(0.3);
                BlockMask m = SparseAttention.selectBlocks(Tensor.of(q, 1, heads, n, d), Tensor.of(k, 1, heads, n, d),
                        config).mask();
                int total = m.rowStart()[m.rowStart().length - 1];
                int all = heads * qg.blocks() * kg.blocks();
                assertTrue(total >= heads * qg.blocks() && total < all, "hybrid mask should keep some but not all "
                        + "blocks: kept " + total + " of " + all);
                yield m;
            }
            case ONE_PER_ROW -> {
                int nk = kg.blocks();
                int rows = heads * qg.blocks();
                boolean[] kept = new boolean[rows * nk];
                for (int r = 0; r < rows; r++) {
                    int j = r == 0 ? nk - 1 : rnd.nextInt(nk);
                    if (r != rows - 1) {
                        kept[r * nk + j] = true;
                    }
                }
                yield BlockMask.of(1, heads, qg, kg, kept);
            }
        };
    }

    private static float[][] runKernel(String backend, boolean bf16, HalfWidthFloatArray q, HalfWidthFloatArray k,
            HalfWidthFloatArray v, BlockMask mask, int heads, int n, int d, float scale) {
        return runKernel(backend, bf16, q, k, v, mask, heads, n, d, scale, FlashForwardMmaTasks.Variant.REGISTERS);
    }

    /** Runs the variant with NaN-poisoned, padded outputs; returns {o, lse} including the padding. */
    static float[][] runKernel(String backend, boolean bf16, HalfWidthFloatArray q, HalfWidthFloatArray k,
            HalfWidthFloatArray v, BlockMask mask, int heads, int n, int d, float scale,
            FlashForwardMmaTasks.Variant variant) {
        BackendSelection selection = BackendSelection.withOpenClDeviceFromEnvironment(backend);
        ComputeDevice device = ExecutionBackends.openDevice(selection);
        KernelCompiler compiler = ExecutionBackends.compiler(selection);
        try {
            IntArray qa = IntArray.fromSegmentShallow(q.getSegment());
            IntArray ka = IntArray.fromSegmentShallow(k.getSegment());
            IntArray va = IntArray.fromSegmentShallow(v.getSegment());
            FloatArray oa = new FloatArray(heads * n * d + PAD);
            FloatArray la = new FloatArray(heads * n + PAD);
            oa.init(Float.NaN);
            la.init(Float.NaN);
            IntArray rowStart = IntArray.fromArray(mask.rowStart());
            IntArray rowBlocks = IntArray.fromArray(Arrays.copyOf(mask.rowBlocks(),
                    Math.max(1, mask.rowBlocks().length)));
            TaskGraph g = new TaskGraph("ffm").transferToDevice(DataTransferMode.FIRST_EXECUTION, qa, ka, va, oa, la,
                    rowStart, rowBlocks);
            GridScheduler grids = new GridScheduler();
            FlashForwardMmaTasks.addForward(g, grids, "fwd", bf16, qa, ka, va, oa, la, rowStart, rowBlocks, heads, n,
                    d, scale, variant);
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

    /** Float64 attention and, per output element, the error bound the 16-bit P allows. */
    record Reference(double[] o, double[] lse, double[] bound) {
    }

    static Reference float64(float[] q, float[] k, float[] v, BlockMask mask, int heads, int n, int d,
            float scale, boolean bf16) {
        double u = bf16 ? Math.scalb(1.0, -8) : Math.scalb(1.0, -11);
        double subnormal = bf16 ? 0 : Math.scalb(1.0, -25);
        int nq = mask.queryGrid().blocks();
        int[] rowStart = mask.rowStart();
        int[] rowBlocks = mask.rowBlocks();
        double[] o = new double[heads * n * d];
        double[] lse = new double[heads * n];
        double[] bound = new double[heads * n * d];
        double[] s = new double[n];
        double[] pv = new double[d];
        double[] abs = new double[d];
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
                Arrays.fill(pv, 0);
                Arrays.fill(abs, 0);
                for (int j = 0; j < n; j++) {
                    if (s[j] != Double.NEGATIVE_INFINITY) {
                        double p = Math.exp(s[j] - max);
                        sum += p;
                        for (int c = 0; c < d; c++) {
                            double x = v[base + j * d + c];
                            o[base + i * d + c] += p * x;
                            pv[c] += p * Math.abs(x);
                            abs[c] += Math.abs(x);
                        }
                    }
                }
                for (int c = 0; c < d; c++) {
                    int at = base + i * d + c;
                    o[at] = sum > 0 ? o[at] / sum : 0;
                    bound[at] = sum > 0 ? (1.25 * u * pv[c] + subnormal * abs[c]) / sum : 0;
                }
                lse[bh * n + i] = sum > 0 ? max + Math.log(sum) : Double.NEGATIVE_INFINITY;
            }
        }
        return new Reference(o, lse, bound);
    }

    static void compare(String what, float[] o, float[] lse, Reference ref, int heads, int n, int d) {
        double worst = 0;
        double worstLse = 0;
        for (int i = 0; i < ref.o().length; i++) {
            double tol = ref.bound()[i] + 1e-5 * (1 + Math.abs(ref.o()[i]));
            double err = Math.abs(o[i] - ref.o()[i]);
            if (!(err <= tol)) {
                fail(what + ": o[" + i + "] (head " + i / (n * d) + ", row " + i / d % n + ", column " + i % d
                        + ") is " + o[i] + ", expected " + ref.o()[i] + " within " + tol);
            }
            worst = Math.max(worst, err / tol);
        }
        for (int i = 0; i < ref.lse().length; i++) {
            boolean bothInf = ref.lse()[i] == Double.NEGATIVE_INFINITY && lse[i] == Float.NEGATIVE_INFINITY;
            double err = bothInf ? 0 : Math.abs(lse[i] - ref.lse()[i]);
            if (!(err <= LSE_TOL)) {
                fail(what + ": lse[" + i + "] (head " + i / n + ", row " + i % n + ") is " + lse[i] + ", expected "
                        + ref.lse()[i] + " within " + LSE_TOL);
            }
            worstLse = Math.max(worstLse, err);
        }
        for (int i = ref.o().length; i < o.length; i++) {
            assertTrue(Float.isNaN(o[i]), what + ": o padding element " + i + " was written: " + o[i]);
        }
        for (int i = ref.lse().length; i < lse.length; i++) {
            assertTrue(Float.isNaN(lse[i]), what + ": lse padding element " + i + " was written: " + lse[i]);
        }
        System.out.printf("%s heads=%d n=%d d=%d: worst o error %.3f of its bound, worst lse error %.3g%n", what,
                heads, n, d, worst, worstLse);
    }

    /**
     * P's conversions over a dense sample of [0, 1] and every float near the f16 boundaries: f16 against Java's
     * round-to-nearest-even {@code Float.floatToFloat16}; bf16 must be the nearer of the two bf16 values around x
     * (compared in double), the upper one on an exact tie.
     */
    @Test
    void pairConversionsRoundToNearestOnTheUnitInterval() {
        int one = Float.floatToRawIntBits(1f);
        for (int bits = 0; bits <= one; bits += bits < 0x3300_0000 ? 0x1_0001 : 61) {
            check(Float.intBitsToFloat(bits));
        }
        // every float around the f16 subnormal/normal boundary 2^-14 and around 2^-25 and 2^-24 (rounding to zero)
        for (int center : new int[] {0x3880_0000, 0x3300_0000, 0x3380_0000}) {
            for (int bits = center - 0x4000; bits <= center + 0x4000; bits++) {
                check(Float.intBitsToFloat(bits));
            }
        }
        // exact bf16 ties: bit 15 set and nothing below
        for (int bits = 0x3f00_8000; bits < one; bits += 0x1_0000) {
            check(Float.intBitsToFloat(bits));
        }
        check(1f);
        check(0f);
    }

    private static void check(float x) {
        int b = FlashForwardMmaKernels.bf16Pair(x, 0.75f);
        int h = FlashForwardMmaKernels.f16Pair(0.75f, x);
        double below = Float.intBitsToFloat(Float.floatToRawIntBits(x) & 0xffff0000);
        double above = Float.intBitsToFloat((Float.floatToRawIntBits(x) & 0xffff0000) + 0x10000);
        double got = Float.intBitsToFloat((b & 0xffff) << 16);
        double expected = x - below < above - x ? below : above;
        assertEquals(expected, got, 0, () -> "bf16 of " + x + " (bits " + Integer.toHexString(Float.floatToRawIntBits(x))
                + ")");
        assertEquals(0x3f40, b >>> 16, "bf16 of 0.75");
        assertEquals(Float.floatToFloat16(x) & 0xffff, h >>> 16, () -> "f16 of " + x + " (bits "
                + Integer.toHexString(Float.floatToRawIntBits(x)) + ")");
        assertEquals(Float.floatToFloat16(0.75f) & 0xffff, h & 0xffff, "f16 of 0.75");
    }

    @Test
    void refusesArgumentsThatDoNotFit() {
        IntArray a = new IntArray(2 * 96 / 2);
        FloatArray f = new FloatArray(2 * 96);
        IntArray rs = new IntArray(2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> FlashForwardMmaTasks.addForward(new TaskGraph("x"), new GridScheduler(), "f", true, a, a, a, f,
                        f, rs, rs, 1, 2, 96, 0.1f));
        assertTrue(e.getMessage().contains("d is 96, expected 64 or 128"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> FlashForwardMmaTasks.addForward(new TaskGraph("x"), new GridScheduler(), "f", true, a, a, a, f,
                        f, new IntArray(1), rs, 1, 2, 64, 0.1f));
        assertTrue(e.getMessage().contains("rowStart has 1 elements, expected at least 2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> FlashForwardMmaTasks.addForward(new TaskGraph("x"), new GridScheduler(), "f", false,
                        new IntArray(63), a, a, f, f, rs, rs, 1, 2, 64, 0.1f));
        assertTrue(e.getMessage().contains("q (int pairs) has 63 elements, expected at least 64"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> FlashForwardMmaTasks.addForward(new TaskGraph("x"), new GridScheduler(), "f", false, a, a, a, f,
                        f, rs, rs, 1, 2, 64, Float.NaN));
        assertTrue(e.getMessage().contains("scale is NaN, expected a finite positive number"), e.getMessage());
    }

    static final Pattern MMA = Pattern.compile("mma\\.sync\\.aligned\\.m16n8k16");
    static final Pattern LDS_V4 = Pattern.compile("ld\\.shared\\.v4\\.");
    static final Pattern LDS_V2 = Pattern.compile("ld\\.shared\\.v2\\.");
    static final Pattern LDS = Pattern.compile("ld\\.shared\\.(u32|b32|s32|f32)");
    static final Pattern SHFL = Pattern.compile("shfl\\.sync\\.bfly");

    /**
     * The kernels translate to CUDA C for an H200 without fp64 and compile with nvcc for sm_90 with no spills and
     * no stack frame; prints ptxas' registers and shared memory and the PTX's instruction mix (MMAs, shared loads
     * by width, butterfly shuffles) for the Javadoc.
     */
    @ParameterizedTest(name = "d={0} bf16={1}")
    @CsvSource({"64, true", "128, true", "64, false", "128, false"})
    void compilesWithNvccWithoutSpills(int d, boolean bf16) throws Exception {
        Method m = FlashForwardMmaKernels.class.getMethod("flashForward" + d + (bf16 ? "BF16" : "F16"),
                KernelContext.class, IntArray.class, IntArray.class, IntArray.class, FloatArray.class,
                FloatArray.class, IntArray.class, IntArray.class, int.class, float.class);
        Object[] args = new Object[m.getParameterCount()];
        args[0] = new KernelContext();
        GeneratedKernel kernel = KernelJit.shared().compile(m, args, Dialect.CUDA, H200_NO_FP64,
                FlashForwardMmaKernels.GROUP);
        assertEquals(m.getName(), kernel.entryName());
        Nvcc.assumePresent();
        Nvcc.Result result = Nvcc.compileCubin(m.getName(), kernel.source(), "sm_90").assertCleanCompile();
        Nvcc.KernelResources resources = result.assertNoSpills(m.getName());
        assertTrue(resources.sharedMemoryBytes() <= 48 * 1024, resources.toString());
        String ptx = Nvcc.compile(m.getName(), kernel.source(), "sm_90", Nvcc.Output.PTX, List.of())
                .assertCleanCompile().artifactText();
        int mmas = count(MMA, ptx);
        // per kept block: S = d/16 k-steps x 8 n-tiles, P V = 4 k-steps x d/8 n-tiles, each unrolled once
        assertEquals(2 * (d / 16) * 8, mmas, "MMAs in the PTX (the loop body, unrolled)");
        System.out.println(resources + "; PTX: " + mmas + " mma.sync, " + count(LDS_V4, ptx) + " ld.shared.v4, "
                + count(LDS_V2, ptx) + " ld.shared.v2, " + count(LDS, ptx) + " scalar ld.shared, "
                + count(SHFL, ptx) + " shfl.bfly");
    }

    static int count(Pattern p, String text) {
        Matcher m = p.matcher(text);
        int c = 0;
        while (m.find()) {
            c++;
        }
        return c;
    }
}
