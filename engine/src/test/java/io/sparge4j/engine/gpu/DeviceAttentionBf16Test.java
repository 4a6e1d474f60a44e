package io.sparge4j.engine.gpu;

import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.BlockSelector;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.PooledAttentionMap;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.FieldSource;

import java.util.List;
import java.util.SplittableRandom;

import static io.sparge4j.engine.gpu.DeviceSessions.host;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link DeviceAttention} on bf16 and on f16 q, k, v (the tensor-core kernels, the 16-bit mask pooling, the row path
 * for cross-attention) and {@link DeviceCasts}, on the emulator, PoCL OpenCL and CUDA (skipped with the reason where
 * absent), each test once per type, against float64 computed here from the inputs rounded to that type, at token
 * counts that are multiples of no block (150, 200, 300, 1000), d 64 and 128, and masks where every row keeps exactly
 * one block.
 *
 * <p>Tolerances, from where the kernels round (u the type's unit roundoff: 2^-8 for bf16, 8 significant bits;
 * 2^-11 for f16, 11):
 * <ul>
 * <li>forward output, per element: {@code 1.1 u sum_j p_j |v_jc| / l + 1e-4 max|v|}; the tensor cores multiply P
 * rounded to the type by V (at most u relative per term), the 1.1 and the absolute part cover the f32 scores
 * (d-term dot products of O(1) values), exp and sums, and f16's subnormal P (below 2^-14, an absolute error of at
 * most 2^-25 per term: {@code 2^-25 sum_j |v_jc| / l <= 2^-25 N max|v|}, 3e-5 max|v| at N 1000);</li>
 * <li>logsumexp: {@code 1e-4 + 1e-5 |lse|} (f32 scores and sums, P unrounded);</li>
 * <li>backward given the float64 O and lse (rounded to f32), per element: {@code 1.1 u sum_j |x_j| + 1e-4
 * max|ref|} with {@code x_j} the terms of the gradient's sum ({@code P dO} for dV, {@code scale dS q} for dK,
 * {@code scale dS k} for dQ): P and dS are rounded to the type before those products (f16's subnormals again
 * within the absolute part: 2^-25 per term over at most 200 terms of O(1) factors);</li>
 * <li>exact (bit for bit) where the same f32 kernel sees the same values: the cross-attention row path against
 * the f32 op on widened inputs, the 16-bit mask against the f32 op's mask, the casts against the host's
 * round-to-nearest-even. The mask also equals the CPU's ({@code PooledAttentionMap} in float64 and
 * {@code BlockSelector}) on these seeded inputs; a near-tie in the pooled map could flip one block there, which
 * these seeds do not have.</li>
 * </ul>
 * The name is the class's from before f16 (scripts select it by name).
 */
@Timeout(value = 600, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class DeviceAttentionBf16Test {
    static final List<Arguments> HALF_TYPES = DeviceSessions.onEachBackend(DType.BF16, DType.F16);
    private static final int QB = DeviceAttention.QUERY_BLOCK;
    private static final int KB = DeviceAttention.KEY_BLOCK;

    /** A seeded Gaussian f32 tensor (never zeros). */
    private static Tensor randn(SplittableRandom rnd, int... shape) {
        Tensor t = Tensor.allocate(DType.F32, shape);
        for (long i = 0; i < t.numel(); i++) {
            t.setFloat(i, (float) rnd.nextGaussian());
        }
        return t;
    }

    /** The unit roundoff of a 16-bit type. */
    private static double u(DType half) {
        return half == DType.BF16 ? 0x1p-8 : 0x1p-11;
    }

    /** x rounded to half on the host and widened back: the values the tensor cores see. */
    private static double[] rounded(Tensor x, DType half) {
        try (Tensor b = x.to(half)) {
            return b.toDoubleArray();
        }
    }

    /**
     * A bf16 or f16 device tensor made on the device from f32 (the model's way: {@link DeviceCasts#toBFloat16},
     * {@link DeviceCasts#toFloat16}).
     */
    private static DeviceTensor narrow(DeviceSession s, Tensor x, DType half) {
        try (DeviceTensor f = s.upload(x)) {
            return half == DType.BF16 ? DeviceCasts.toBFloat16(f) : DeviceCasts.toFloat16(f);
        }
    }

    /**
     * Values whose rounding is easy to get wrong: ties to even rounding down and up, their negatives, just above a
     * tie, -0; for f16 also the overflow boundary (65520 rounds to infinity, the float below it to 65504) and ties
     * among the subnormals (2^-25 to 0, 3 2^-25 to 2^-23).
     */
    private static float[] edgeValues(DType half) {
        if (half == DType.BF16) {
            return new float[] {Float.intBitsToFloat(0x3F808000), Float.intBitsToFloat(0x3F818000),
                Float.intBitsToFloat(0xBF808000), Float.intBitsToFloat(0xBF818000), Float.intBitsToFloat(0x3F808001),
                -0f};
        }
        return new float[] {Float.intBitsToFloat(0x3F801000), Float.intBitsToFloat(0x3F803000),
            Float.intBitsToFloat(0xBF801000), Float.intBitsToFloat(0xBF803000), Float.intBitsToFloat(0x3F801001), -0f,
            65520f, Math.nextDown(65520f), -65520f, 0x1p-25f, 3 * 0x1p-25f, -0x1p-25f};
    }

    /** The seed of a test: the bf16 runs keep their seeds from before f16, the f16 ones draw other inputs. */
    private static SplittableRandom random(long seed, DType half) {
        return new SplittableRandom(half == DType.BF16 ? seed : seed + 100);
    }

    @ParameterizedTest(name = "{0} {1}")
    @FieldSource("HALF_TYPES")
    void castsRoundToNearestEvenAndWidenExactly(String backend, DType half) {
        SplittableRandom rnd = random(51, half);
        int n = 1001;
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = (float) (rnd.nextGaussian() * Math.exp(4 * rnd.nextGaussian()));
        }
        float[] edges = edgeValues(half);
        System.arraycopy(edges, 0, values, 0, edges.length);
        String name = backend + " " + half;
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor x = Tensor.of(values, 7, 11, 13);
                Tensor expected = x.to(half);
                DeviceTensor dx = s.upload(x);
                DeviceTensor b = narrow(s, x, half);
                DeviceTensor back = DeviceCasts.toFloat32(b)) {
            assertEquals(half, b.dtype());
            assertArrayEquals(x.shape(), b.shape());
            try (Tensor got = b.toHost()) {
                for (int i = 0; i < n; i++) {
                    assertEquals(expected.getFloat(i), got.getFloat(i), name + " of element " + i + " = "
                            + values[i]);
                }
            }
            assertEquals(1.0f, expected.getFloat(0), "test data: the first tie rounds down to even");
            if (half == DType.F16) {
                assertEquals(Float.POSITIVE_INFINITY, expected.getFloat(6), "test data: 65520 overflows");
                assertEquals(65504f, expected.getFloat(7), "test data: below 65520 rounds to f16's largest");
                assertEquals(0x1p-23f, expected.getFloat(10), "test data: the subnormal tie 3 2^-25 rounds up");
            }
            float[] wide = host(back);
            for (int i = 0; i < n; i++) {
                assertEquals(Float.floatToRawIntBits(expected.getFloat(i)), Float.floatToRawIntBits(wide[i]),
                        name + " widened element " + i);
            }
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DeviceCasts.toFloat32(dx));
            assertTrue(e.getMessage().contains("x is f32, expected a BF16 or F16 device tensor"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> DeviceCasts.toBFloat16(b));
            assertTrue(e.getMessage().contains("x is " + half + ", expected f32"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> DeviceCasts.toFloat16(b));
            assertTrue(e.getMessage().contains("x is " + half + ", expected f32"), e.getMessage());
        }
    }

    /** Dense and sparse forwards (d 64 at N 200, d 128 at N 150) against float64 of the rounded inputs. */
    @ParameterizedTest(name = "{0} {1}")
    @FieldSource("HALF_TYPES")
    void halfForwardMatchesFloat64OfRoundedInputs(String backend, DType half) {
        SplittableRandom rnd = random(52, half);
        try (DeviceSession s = DeviceSessions.open(backend)) {
            checkForward(s, rnd, half, 2, 200, 64, backend + " " + half + " d=64");
            checkForward(s, rnd, half, 2, 150, 128, backend + " " + half + " d=128");
        }
    }

    private static void checkForward(DeviceSession s, SplittableRandom rnd, DType half, int h, int n, int d,
            String what) {
        try (Tensor q = randn(rnd, 1, h, n, d);
                Tensor k = randn(rnd, 1, h, n, d);
                Tensor v = randn(rnd, 1, h, n, d);
                DeviceTensor dq = narrow(s, q, half);
                DeviceTensor dk = narrow(s, k, half);
                DeviceTensor dv = narrow(s, v, half)) {
            double[] qr = rounded(q, half);
            double[] kr = rounded(k, half);
            double[] vr = rounded(v, half);
            try (DeviceAttention.Result r = DeviceAttention.dense(dq, dk, dv, Float.NaN)) {
                assertForward(Reference.forward(qr, kr, vr, h, n, d, null), r, half, what + " dense");
            }
            // Top-k with a tiny fraction keeps exactly one block per row; hybrid keeps a few
            try (DeviceBlockMask one = DeviceAttention.blockMask(dq, dk, MaskMode.TOPK, 1e-3, 0, Float.NaN);
                    DeviceAttention.Result r = DeviceAttention.sparse(dq, dk, dv, one, Float.NaN)) {
                BlockMask m = one.toHost();
                for (int hh = 0; hh < h; hh++) {
                    for (int i = 0; i < m.queryGrid().blocks(); i++) {
                        assertEquals(1, m.keptInRow(0, hh, i), what + " one block per row");
                    }
                }
                assertForward(Reference.forward(qr, kr, vr, h, n, d, m), r, half, what + " one block per row");
            }
            try (DeviceBlockMask hybrid = DeviceAttention.blockMask(dq, dk, MaskMode.HYBRID, 0.25, 0.5, Float.NaN);
                    DeviceAttention.Result r = DeviceAttention.sparse(dq, dk, dv, hybrid, Float.NaN)) {
                BlockMask m = hybrid.toHost();
                assertTrue(m.sparsity() > 0 && m.sparsity() < 1, what + " hybrid sparsity " + m.sparsity());
                assertForward(Reference.forward(qr, kr, vr, h, n, d, m), r, half, what + " hybrid");
            }
        }
    }

    private static void assertForward(Reference.Forward ref, DeviceAttention.Result r, DType half, String what) {
        assertEquals(DType.F32, r.out().dtype(), what + " out dtype");
        float[] o = host(r.out());
        float[] lse = host(r.logsumexp());
        double worst = 0;
        for (int e = 0; e < o.length; e++) {
            double bound = 1.1 * u(half) * ref.weightedAbsV()[e] + 1e-4 * ref.maxAbsV();
            double err = Math.abs(o[e] - ref.out()[e]);
            assertTrue(err <= bound, what + " out[" + e + "] = " + o[e] + ", expected " + ref.out()[e] + " within "
                    + bound);
            worst = Math.max(worst, err / bound);
        }
        System.out.printf("%s: worst out error %.2f of its bound%n", what, worst);
        for (int i = 0; i < lse.length; i++) {
            double bound = 1e-4 + 1e-5 * Math.abs(ref.lse()[i]);
            assertTrue(Math.abs(lse[i] - ref.lse()[i]) <= bound, what + " lse[" + i + "] = " + lse[i]
                    + ", expected " + ref.lse()[i] + " within " + bound);
        }
    }

    /**
     * Dense and sparse backwards given the float64 forward (O and lse as f32): dOut passed in f32 (rounded by the
     * op) and in the inputs' type.
     */
    @ParameterizedTest(name = "{0} {1}")
    @FieldSource("HALF_TYPES")
    void halfBackwardMatchesFloat64OfRoundedInputs(String backend, DType half) {
        SplittableRandom rnd = random(53, half);
        try (DeviceSession s = DeviceSessions.open(backend)) {
            checkBackward(s, rnd, half, 2, 200, 64, true, backend + " " + half + " d=64");
            checkBackward(s, rnd, half, 1, 150, 128, false, backend + " " + half + " d=128");
        }
    }

    private static void checkBackward(DeviceSession s, SplittableRandom rnd, DType half, int h, int n, int d,
            boolean f32DOut, String what) {
        try (Tensor q = randn(rnd, 1, h, n, d);
                Tensor k = randn(rnd, 1, h, n, d);
                Tensor v = randn(rnd, 1, h, n, d);
                Tensor g = randn(rnd, 1, h, n, d);
                DeviceTensor dq = narrow(s, q, half);
                DeviceTensor dk = narrow(s, k, half);
                DeviceTensor dv = narrow(s, v, half);
                DeviceTensor dg = f32DOut ? s.upload(g) : narrow(s, g, half)) {
            double[] qr = rounded(q, half);
            double[] kr = rounded(k, half);
            double[] vr = rounded(v, half);
            double[] gr = rounded(g, half);
            try (DeviceBlockMask hybrid = DeviceAttention.blockMask(dq, dk, MaskMode.HYBRID, 0.25, 0.5, Float.NaN)) {
                BlockMask sparse = hybrid.toHost();
                for (BlockMask m : new BlockMask[] {null, sparse}) {
                    Reference.Forward f = Reference.forward(qr, kr, vr, h, n, d, m);
                    try (Tensor o = Tensor.of(floats(f.out()), 1, h, n, d);
                            Tensor l = Tensor.of(floats(f.lse()), 1, h, n);
                            DeviceAttention.Result given = new DeviceAttention.Result(s.upload(o), s.upload(l));
                            DeviceAttention.Gradients grads = DeviceAttention.backward(dg, dq, dk, dv, given,
                                    m == null ? null : hybrid, Float.NaN)) {
                        Reference.Backward ref = Reference.backward(qr, kr, vr, gr, f, h, n, d, m);
                        String w = what + (m == null ? " dense" : " hybrid");
                        assertGradient(ref.dq(), ref.dqTerms(), host(grads.dq()), half, w + " dq");
                        assertGradient(ref.dk(), ref.dkTerms(), host(grads.dk()), half, w + " dk");
                        assertGradient(ref.dv(), ref.dvTerms(), host(grads.dv()), half, w + " dv");
                    }
                }
            }
        }
    }

    private static void assertGradient(double[] ref, double[] absTerms, float[] got, DType half, String what) {
        double max = 0;
        for (double x : ref) {
            max = Math.max(max, Math.abs(x));
        }
        assertTrue(max > 0, what + ": the reference gradient is all zeros");
        double worst = 0;
        for (int e = 0; e < ref.length; e++) {
            double bound = 1.1 * u(half) * absTerms[e] + 1e-4 * max;
            double err = Math.abs(got[e] - ref[e]);
            assertTrue(err <= bound, what + "[" + e + "] = " + got[e] + ", expected " + ref[e] + " within " + bound);
            worst = Math.max(worst, err / bound);
        }
        System.out.printf("%s: worst error %.2f of its bound%n", what, worst);
    }

    private static float[] floats(double[] x) {
        float[] f = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            f[i] = (float) x[i];
        }
        return f;
    }

    /**
     * The 16-bit mask equals the f32 op's mask on the widened q, k (exactly: the pooling sums the same f32 values in
     * the same order) and the CPU's from the same rounded values, in three modes and at d 64 and 128.
     */
    @ParameterizedTest(name = "{0} {1}")
    @FieldSource("HALF_TYPES")
    void halfMaskEqualsTheCpuMaskOfRoundedInputs(String backend, DType half) {
        SplittableRandom rnd = random(54, half);
        String name = backend + " " + half;
        try (DeviceSession s = DeviceSessions.open(backend)) {
            checkMask(s, rnd, half, 3, 300, 64, MaskMode.HYBRID, 0.25, 0.5, name);
            checkMask(s, rnd, half, 3, 300, 64, MaskMode.TOPK, 0.3, 0, name);
            checkMask(s, rnd, half, 2, 1000, 128, MaskMode.TOPP, 0, 0.6, name);
        }
    }

    private static void checkMask(DeviceSession s, SplittableRandom rnd, DType half, int h, int n, int d,
            MaskMode mode, double topk, double topp, String name) {
        String what = name + " " + mode + " N=" + n + " d=" + d;
        try (Tensor q = randn(rnd, 1, h, n, d);
                Tensor k = randn(rnd, 1, h, n, d);
                Tensor qr = q.to(half);
                Tensor kr = k.to(half);
                Tensor qw = qr.to(DType.F32);
                Tensor kw = kr.to(DType.F32);
                DeviceTensor dq = narrow(s, q, half);
                DeviceTensor dk = narrow(s, k, half);
                DeviceTensor dqw = s.upload(qw);
                DeviceTensor dkw = s.upload(kw);
                DeviceBlockMask pooled = DeviceAttention.blockMask(dq, dk, mode, topk, topp, Float.NaN);
                DeviceBlockMask f32 = DeviceAttention.blockMask(dqw, dkw, mode, topk, topp, Float.NaN)) {
            BlockMask got = pooled.toHost();
            assertSame(f32.toHost(), got, what + " against the f32 op on widened inputs");
            float scale = (float) (1 / Math.sqrt(d));
            BlockMask cpu = BlockSelector.select(PooledAttentionMap.compute(qw, kw, QB, KB, scale,
                    AttentionLayout.BHND), mode, topk, topp);
            assertSame(cpu, got, what + " against the CPU");
            assertTrue(got.sparsity() > 0, what + ": sparsity " + got.sparsity() + ", expected some block dropped");
        }
    }

    private static void assertSame(BlockMask expected, BlockMask got, String what) {
        assertArrayEquals(expected.rowStart(), got.rowStart(), what + ": rowStart");
        assertArrayEquals(expected.rowBlocks(), got.rowBlocks(), what + ": rowBlocks");
        assertArrayEquals(expected.colStart(), got.colStart(), what + ": colStart");
        assertArrayEquals(expected.colBlocks(), got.colBlocks(), what + ": colBlocks");
    }

    /**
     * Cross-attention (37 queries, 13 keys, d 64) on 16-bit inputs runs the f32 flash kernels on widened copies:
     * forward and backward equal the f32 op's on the widened tensors bit for bit, and the copies are freed.
     */
    @ParameterizedTest(name = "{0} {1}")
    @FieldSource("HALF_TYPES")
    void halfCrossAttentionRunsTheF32PathOnWidenedInputs(String backend, DType half) {
        SplittableRandom rnd = random(55, half);
        String name = backend + " " + half;
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor q = randn(rnd, 1, 2, 37, 64);
                Tensor k = randn(rnd, 1, 2, 13, 64);
                Tensor v = randn(rnd, 1, 2, 13, 64);
                Tensor g = randn(rnd, 1, 2, 37, 64);
                DeviceTensor bq = narrow(s, q, half);
                DeviceTensor bk = narrow(s, k, half);
                DeviceTensor bv = narrow(s, v, half);
                DeviceTensor wq = DeviceCasts.toFloat32(bq);
                DeviceTensor wk = DeviceCasts.toFloat32(bk);
                DeviceTensor wv = DeviceCasts.toFloat32(bv);
                DeviceTensor dg = s.upload(g)) {
            int before = s.liveAllocations();
            try (DeviceAttention.Result rb = DeviceAttention.dense(bq, bk, bv, Float.NaN);
                    DeviceAttention.Result rw = DeviceAttention.dense(wq, wk, wv, Float.NaN);
                    DeviceAttention.Gradients gb = DeviceAttention.backward(dg, bq, bk, bv, rb, null, Float.NaN);
                    DeviceAttention.Gradients gw = DeviceAttention.backward(dg, wq, wk, wv, rw, null, Float.NaN)) {
                assertArrayEquals(host(rw.out()), host(rb.out()), name + " cross out");
                assertArrayEquals(host(rw.logsumexp()), host(rb.logsumexp()), name + " cross logsumexp");
                assertArrayEquals(host(gw.dq()), host(gb.dq()), name + " cross dq");
                assertArrayEquals(host(gw.dk()), host(gb.dk()), name + " cross dk");
                assertArrayEquals(host(gw.dv()), host(gb.dv()), name + " cross dv");
            }
            assertEquals(before, s.liveAllocations(), name + ": the widened copies are freed");
            // and the values are attention's: against float64 of the rounded inputs
            Reference.Forward ref = Reference.cross(rounded(q, half), rounded(k, half), rounded(v, half), 2, 37, 13,
                    64);
            try (DeviceAttention.Result rb = DeviceAttention.dense(bq, bk, bv, Float.NaN)) {
                float[] o = host(rb.out());
                for (int e = 0; e < o.length; e++) {
                    assertTrue(Math.abs(o[e] - ref.out()[e]) <= 1e-5 + 1e-5 * Math.abs(ref.out()[e]),
                            name + " cross out[" + e + "] = " + o[e] + ", expected " + ref.out()[e]);
                }
            }
        }
    }

    /**
     * Mixed or unsupported dtypes are refused naming the argument: f32 against the 16-bit type, bf16 against f16
     * (also a dOut of the other 16-bit type in the backward), and an i32 q.
     */
    @ParameterizedTest(name = "{0} {1}")
    @FieldSource("HALF_TYPES")
    void mixedDtypesAreRefusedNamingTheArgument(String backend, DType half) {
        SplittableRandom rnd = random(56, half);
        DType other = half == DType.BF16 ? DType.F16 : DType.BF16;
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor x = randn(rnd, 1, 1, 130, 64);
                Tensor ints = Tensor.ofInts(new int[130 * 64], 1, 1, 130, 64);
                DeviceTensor f = s.upload(x);
                DeviceTensor b = narrow(s, x, half);
                DeviceTensor o = narrow(s, x, other);
                DeviceTensor i = s.upload(ints);
                DeviceAttention.Result r = DeviceAttention.dense(b, b, b, Float.NaN)) {
            assertRefused(() -> DeviceAttention.dense(b, f, b, Float.NaN), "k is f32, expected " + half);
            assertRefused(() -> DeviceAttention.blockMask(f, b, MaskMode.TOPK, 0.5, 0, Float.NaN),
                    "k is " + half + ", expected f32");
            assertRefused(() -> DeviceAttention.sparse(b, b, o, null, Float.NaN), "v is " + other + ", expected "
                    + half);
            assertRefused(() -> DeviceAttention.backward(o, b, b, b, r, null, Float.NaN), "dOut is " + other
                    + ", expected " + half);
            assertRefused(() -> DeviceAttention.dense(i, i, i, Float.NaN), "DeviceAttention.dense: q is",
                    "expected an F32, BF16 or F16 device tensor");
        }
    }

    private static void assertRefused(Runnable op, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, op::run);
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "message \"" + e.getMessage() + "\" should contain \"" + p + "\"");
        }
    }

    /** Float64 attention over a block mask (null: dense), with what the tolerances need. */
    private static final class Reference {
        record Forward(double[] out, double[] lse, double[] weightedAbsV, double maxAbsV, double[] probs) {
        }

        record Backward(double[] dq, double[] dqTerms, double[] dk, double[] dkTerms, double[] dv, double[] dvTerms) {
        }

        static boolean kept(BlockMask m, int h, int i, int j) {
            return m == null || m.kept(0, h, i / QB, j / KB);
        }

        static Forward forward(double[] q, double[] k, double[] v, int h, int n, int d, BlockMask m) {
            return attend(q, k, v, h, n, n, d, m);
        }

        static Forward cross(double[] q, double[] k, double[] v, int h, int nq, int nk, int d) {
            return attend(q, k, v, h, nq, nk, d, null);
        }

        private static Forward attend(double[] q, double[] k, double[] v, int h, int nq, int nk, int d,
                BlockMask m) {
            double scale = 1 / Math.sqrt(d);
            double[] out = new double[h * nq * d];
            double[] wav = new double[h * nq * d];
            double[] lse = new double[h * nq];
            double[] probs = new double[h * nq * nk];
            double maxV = 0;
            for (double x : v) {
                maxV = Math.max(maxV, Math.abs(x));
            }
            for (int hh = 0; hh < h; hh++) {
                for (int i = 0; i < nq; i++) {
                    double[] sc = new double[nk];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < nk; j++) {
                        sc[j] = Double.NEGATIVE_INFINITY;
                        if (kept(m, hh, i, j)) {
                            double dot = 0;
                            for (int c = 0; c < d; c++) {
                                dot += q[(hh * nq + i) * d + c] * k[(hh * nk + j) * d + c];
                            }
                            sc[j] = dot * scale;
                            max = Math.max(max, sc[j]);
                        }
                    }
                    double l = 0;
                    for (int j = 0; j < nk; j++) {
                        double p = sc[j] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(sc[j] - max);
                        probs[(hh * nq + i) * nk + j] = p;
                        l += p;
                    }
                    lse[hh * nq + i] = max + Math.log(l);
                    for (int j = 0; j < nk; j++) {
                        double p = probs[(hh * nq + i) * nk + j] / l;
                        probs[(hh * nq + i) * nk + j] = p;
                        for (int c = 0; c < d; c++) {
                            double vj = v[(hh * nk + j) * d + c];
                            out[(hh * nq + i) * d + c] += p * vj;
                            wav[(hh * nq + i) * d + c] += p * Math.abs(vj);
                        }
                    }
                }
            }
            return new Forward(out, lse, wav, maxV, probs);
        }

        static Backward backward(double[] q, double[] k, double[] v, double[] g, Forward f, int h, int n, int d,
                BlockMask m) {
            double scale = 1 / Math.sqrt(d);
            int size = h * n * d;
            double[] dq = new double[size];
            double[] dqT = new double[size];
            double[] dk = new double[size];
            double[] dkT = new double[size];
            double[] dv = new double[size];
            double[] dvT = new double[size];
            for (int hh = 0; hh < h; hh++) {
                for (int i = 0; i < n; i++) {
                    int qi = (hh * n + i) * d;
                    double delta = 0;
                    for (int c = 0; c < d; c++) {
                        delta += g[qi + c] * f.out()[qi + c];
                    }
                    for (int j = 0; j < n; j++) {
                        double p = f.probs()[(hh * n + i) * n + j];
                        if (p == 0 && !kept(m, hh, i, j)) {
                            continue;
                        }
                        int kj = (hh * n + j) * d;
                        double dp = 0;
                        for (int c = 0; c < d; c++) {
                            dp += g[qi + c] * v[kj + c];
                        }
                        double ds = p * (dp - delta);
                        for (int c = 0; c < d; c++) {
                            dv[kj + c] += p * g[qi + c];
                            dvT[kj + c] += Math.abs(p * g[qi + c]);
                            dk[kj + c] += scale * ds * q[qi + c];
                            dkT[kj + c] += Math.abs(scale * ds * q[qi + c]);
                            dq[qi + c] += scale * ds * k[kj + c];
                            dqT[qi + c] += Math.abs(scale * ds * k[kj + c]);
                        }
                    }
                }
            }
            return new Backward(dq, dqT, dk, dkT, dv, dvT);
        }
    }
}
