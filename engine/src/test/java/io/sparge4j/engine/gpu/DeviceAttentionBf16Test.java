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
import org.junit.jupiter.params.provider.FieldSource;

import java.util.SplittableRandom;

import static io.sparge4j.engine.gpu.DeviceSessions.host;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link DeviceAttention} on bf16 q, k, v (the tensor-core kernels, the 16-bit mask pooling, the row path for
 * cross-attention) and {@link DeviceCasts}, on the emulator, PoCL OpenCL and CUDA (skipped with the reason where
 * absent), against float64 computed here from the bf16-rounded inputs, at token counts that are multiples of no
 * block (150, 200, 300, 1000), d 64 and 128, and masks where every row keeps exactly one block.
 *
 * <p>Tolerances, from where the kernels round (u = 2^-8, bf16's unit roundoff):
 * <ul>
 * <li>forward output, per element: {@code 1.1 u sum_j p_j |v_jc| / l + 1e-4 max|v|}; the tensor cores multiply P
 * rounded to bf16 by V (at most u relative per term), the 1.1 and the absolute part cover the f32 scores (d-term
 * dot products of O(1) values), exp and sums;</li>
 * <li>logsumexp: {@code 1e-4 + 1e-5 |lse|} (f32 scores and sums, P unrounded);</li>
 * <li>backward given the float64 O and lse (rounded to f32), per element: {@code 1.1 u sum_j |x_j| + 1e-4
 * max|ref|} with {@code x_j} the terms of the gradient's sum ({@code P dO} for dV, {@code scale dS q} for dK,
 * {@code scale dS k} for dQ): P and dS are rounded to bf16 before those products;</li>
 * <li>exact (bit for bit) where the same f32 kernel sees the same values: the cross-attention row path against
 * the f32 op on widened inputs, the bf16 mask against the f32 op's mask, the casts against the host's
 * round-to-nearest-even. The mask also equals the CPU's ({@code PooledAttentionMap} in float64 and
 * {@code BlockSelector}) on these seeded inputs; a near-tie in the pooled map could flip one block there, which
 * these seeds do not have.</li>
 * </ul>
 */
@Timeout(value = 600, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class DeviceAttentionBf16Test {
    static final String[] BACKENDS = DeviceSessions.BACKENDS;
    private static final double U = 0x1p-8;
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

    /** x rounded to bf16 on the host and widened back: the values the tensor cores see. */
    private static double[] rounded(Tensor x) {
        try (Tensor b = x.to(DType.BF16)) {
            return b.toDoubleArray();
        }
    }

    /** A bf16 device tensor made on the device from f32 (the model's way: {@link DeviceCasts#toBFloat16}). */
    private static DeviceTensor bf16(DeviceSession s, Tensor x) {
        try (DeviceTensor f = s.upload(x)) {
            return DeviceCasts.toBFloat16(f);
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void castsRoundToNearestEvenAndWidenExactly(String backend) {
        SplittableRandom rnd = new SplittableRandom(51);
        int n = 1001;
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = (float) (rnd.nextGaussian() * Math.exp(4 * rnd.nextGaussian()));
        }
        // halfway cases: ties to even, down (0x3F80_8000) and up (0x3F81_8000), and their negatives; just above
        values[0] = Float.intBitsToFloat(0x3F808000);
        values[1] = Float.intBitsToFloat(0x3F818000);
        values[2] = Float.intBitsToFloat(0xBF808000);
        values[3] = Float.intBitsToFloat(0xBF818000);
        values[4] = Float.intBitsToFloat(0x3F808001);
        values[5] = -0f;
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor x = Tensor.of(values, 7, 11, 13);
                Tensor expected = x.to(DType.BF16);
                DeviceTensor dx = s.upload(x);
                DeviceTensor b = DeviceCasts.toBFloat16(dx);
                DeviceTensor back = DeviceCasts.toFloat32(b)) {
            assertEquals(DType.BF16, b.dtype());
            assertArrayEquals(x.shape(), b.shape());
            try (Tensor got = b.toHost()) {
                for (int i = 0; i < n; i++) {
                    assertEquals(expected.getFloat(i), got.getFloat(i), backend + " bf16 of element " + i + " = "
                            + values[i]);
                }
            }
            assertEquals(1.0f, expected.getFloat(0), "test data: the tie at 0x3F808000 rounds down to even");
            float[] wide = host(back);
            for (int i = 0; i < n; i++) {
                assertEquals(Float.floatToRawIntBits(expected.getFloat(i)), Float.floatToRawIntBits(wide[i]),
                        backend + " widened element " + i);
            }
            assertThrows(IllegalArgumentException.class, () -> DeviceCasts.toFloat32(dx), "toFloat32 of f32");
            assertThrows(IllegalArgumentException.class, () -> DeviceCasts.toBFloat16(b), "toBFloat16 of bf16");
        }
    }

    /** Dense and sparse bf16 forwards (d 64 at N 200, d 128 at N 150) against float64 of the rounded inputs. */
    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void bf16ForwardMatchesFloat64OfRoundedInputs(String backend) {
        SplittableRandom rnd = new SplittableRandom(52);
        try (DeviceSession s = DeviceSessions.open(backend)) {
            checkForward(s, rnd, 2, 200, 64, backend + " d=64");
            checkForward(s, rnd, 2, 150, 128, backend + " d=128");
        }
    }

    private static void checkForward(DeviceSession s, SplittableRandom rnd, int h, int n, int d, String what) {
        try (Tensor q = randn(rnd, 1, h, n, d);
                Tensor k = randn(rnd, 1, h, n, d);
                Tensor v = randn(rnd, 1, h, n, d);
                DeviceTensor dq = bf16(s, q);
                DeviceTensor dk = bf16(s, k);
                DeviceTensor dv = bf16(s, v)) {
            double[] qr = rounded(q);
            double[] kr = rounded(k);
            double[] vr = rounded(v);
            try (DeviceAttention.Result r = DeviceAttention.dense(dq, dk, dv, Float.NaN)) {
                assertForward(Reference.forward(qr, kr, vr, h, n, d, null), r, what + " dense");
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
                assertForward(Reference.forward(qr, kr, vr, h, n, d, m), r, what + " one block per row");
            }
            try (DeviceBlockMask hybrid = DeviceAttention.blockMask(dq, dk, MaskMode.HYBRID, 0.25, 0.5, Float.NaN);
                    DeviceAttention.Result r = DeviceAttention.sparse(dq, dk, dv, hybrid, Float.NaN)) {
                BlockMask m = hybrid.toHost();
                assertTrue(m.sparsity() > 0 && m.sparsity() < 1, what + " hybrid sparsity " + m.sparsity());
                assertForward(Reference.forward(qr, kr, vr, h, n, d, m), r, what + " hybrid");
            }
        }
    }

    private static void assertForward(Reference.Forward ref, DeviceAttention.Result r, String what) {
        assertEquals(DType.F32, r.out().dtype(), what + " out dtype");
        float[] o = host(r.out());
        float[] lse = host(r.logsumexp());
        for (int e = 0; e < o.length; e++) {
            double bound = 1.1 * U * ref.weightedAbsV()[e] + 1e-4 * ref.maxAbsV();
            double err = Math.abs(o[e] - ref.out()[e]);
            assertTrue(err <= bound, what + " out[" + e + "] = " + o[e] + ", expected " + ref.out()[e] + " within "
                    + bound);
        }
        for (int i = 0; i < lse.length; i++) {
            double bound = 1e-4 + 1e-5 * Math.abs(ref.lse()[i]);
            assertTrue(Math.abs(lse[i] - ref.lse()[i]) <= bound, what + " lse[" + i + "] = " + lse[i]
                    + ", expected " + ref.lse()[i] + " within " + bound);
        }
    }

    /**
     * Dense and sparse bf16 backwards given the float64 forward (O and lse as f32): dOut passed in f32 (rounded
     * by the op) and in bf16.
     */
    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void bf16BackwardMatchesFloat64OfRoundedInputs(String backend) {
        SplittableRandom rnd = new SplittableRandom(53);
        try (DeviceSession s = DeviceSessions.open(backend)) {
            checkBackward(s, rnd, 2, 200, 64, true, backend + " d=64");
            checkBackward(s, rnd, 1, 150, 128, false, backend + " d=128");
        }
    }

    private static void checkBackward(DeviceSession s, SplittableRandom rnd, int h, int n, int d, boolean f32DOut,
            String what) {
        try (Tensor q = randn(rnd, 1, h, n, d);
                Tensor k = randn(rnd, 1, h, n, d);
                Tensor v = randn(rnd, 1, h, n, d);
                Tensor g = randn(rnd, 1, h, n, d);
                DeviceTensor dq = bf16(s, q);
                DeviceTensor dk = bf16(s, k);
                DeviceTensor dv = bf16(s, v);
                DeviceTensor dg = f32DOut ? s.upload(g) : bf16(s, g)) {
            double[] qr = rounded(q);
            double[] kr = rounded(k);
            double[] vr = rounded(v);
            double[] gr = rounded(g);
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
                        assertGradient(ref.dq(), ref.dqTerms(), host(grads.dq()), w + " dq");
                        assertGradient(ref.dk(), ref.dkTerms(), host(grads.dk()), w + " dk");
                        assertGradient(ref.dv(), ref.dvTerms(), host(grads.dv()), w + " dv");
                    }
                }
            }
        }
    }

    private static void assertGradient(double[] ref, double[] absTerms, float[] got, String what) {
        double max = 0;
        for (double x : ref) {
            max = Math.max(max, Math.abs(x));
        }
        assertTrue(max > 0, what + ": the reference gradient is all zeros");
        for (int e = 0; e < ref.length; e++) {
            double bound = 1.1 * U * absTerms[e] + 1e-4 * max;
            assertTrue(Math.abs(got[e] - ref[e]) <= bound, what + "[" + e + "] = " + got[e] + ", expected " + ref[e]
                    + " within " + bound);
        }
    }

    private static float[] floats(double[] x) {
        float[] f = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            f[i] = (float) x[i];
        }
        return f;
    }

    /**
     * The bf16 mask equals the f32 op's mask on the widened q, k (exactly: the pooling sums the same f32 values in
     * the same order) and the CPU's from the same rounded values, in three modes and at d 64 and 128.
     */
    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void bf16MaskEqualsTheCpuMaskOfRoundedInputs(String backend) {
        SplittableRandom rnd = new SplittableRandom(54);
        try (DeviceSession s = DeviceSessions.open(backend)) {
            checkMask(s, rnd, 3, 300, 64, MaskMode.HYBRID, 0.25, 0.5, backend);
            checkMask(s, rnd, 3, 300, 64, MaskMode.TOPK, 0.3, 0, backend);
            checkMask(s, rnd, 2, 1000, 128, MaskMode.TOPP, 0, 0.6, backend);
        }
    }

    private static void checkMask(DeviceSession s, SplittableRandom rnd, int h, int n, int d, MaskMode mode,
            double topk, double topp, String backend) {
        String what = backend + " " + mode + " N=" + n + " d=" + d;
        try (Tensor q = randn(rnd, 1, h, n, d);
                Tensor k = randn(rnd, 1, h, n, d);
                Tensor qr = q.to(DType.BF16);
                Tensor kr = k.to(DType.BF16);
                Tensor qw = qr.to(DType.F32);
                Tensor kw = kr.to(DType.F32);
                DeviceTensor dq = bf16(s, q);
                DeviceTensor dk = bf16(s, k);
                DeviceTensor dqw = s.upload(qw);
                DeviceTensor dkw = s.upload(kw);
                DeviceBlockMask bf = DeviceAttention.blockMask(dq, dk, mode, topk, topp, Float.NaN);
                DeviceBlockMask f32 = DeviceAttention.blockMask(dqw, dkw, mode, topk, topp, Float.NaN)) {
            BlockMask got = bf.toHost();
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
     * Cross-attention (37 queries, 13 keys, d 64) on bf16 runs the f32 row kernels on widened copies: forward and
     * backward equal the f32 op's on the widened tensors bit for bit, and the copies are freed.
     */
    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void bf16CrossAttentionRunsTheRowPathOnWidenedInputs(String backend) {
        SplittableRandom rnd = new SplittableRandom(55);
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor q = randn(rnd, 1, 2, 37, 64);
                Tensor k = randn(rnd, 1, 2, 13, 64);
                Tensor v = randn(rnd, 1, 2, 13, 64);
                Tensor g = randn(rnd, 1, 2, 37, 64);
                DeviceTensor bq = bf16(s, q);
                DeviceTensor bk = bf16(s, k);
                DeviceTensor bv = bf16(s, v);
                DeviceTensor wq = DeviceCasts.toFloat32(bq);
                DeviceTensor wk = DeviceCasts.toFloat32(bk);
                DeviceTensor wv = DeviceCasts.toFloat32(bv);
                DeviceTensor dg = s.upload(g)) {
            int before = s.liveAllocations();
            try (DeviceAttention.Result rb = DeviceAttention.dense(bq, bk, bv, Float.NaN);
                    DeviceAttention.Result rw = DeviceAttention.dense(wq, wk, wv, Float.NaN);
                    DeviceAttention.Gradients gb = DeviceAttention.backward(dg, bq, bk, bv, rb, null, Float.NaN);
                    DeviceAttention.Gradients gw = DeviceAttention.backward(dg, wq, wk, wv, rw, null, Float.NaN)) {
                assertArrayEquals(host(rw.out()), host(rb.out()), backend + " cross out");
                assertArrayEquals(host(rw.logsumexp()), host(rb.logsumexp()), backend + " cross logsumexp");
                assertArrayEquals(host(gw.dq()), host(gb.dq()), backend + " cross dq");
                assertArrayEquals(host(gw.dk()), host(gb.dk()), backend + " cross dk");
                assertArrayEquals(host(gw.dv()), host(gb.dv()), backend + " cross dv");
            }
            assertEquals(before, s.liveAllocations(), backend + ": the widened copies are freed");
            // and the values are attention's: against float64 of the rounded inputs
            Reference.Forward ref = Reference.cross(rounded(q), rounded(k), rounded(v), 2, 37, 13, 64);
            try (DeviceAttention.Result rb = DeviceAttention.dense(bq, bk, bv, Float.NaN)) {
                float[] o = host(rb.out());
                for (int e = 0; e < o.length; e++) {
                    assertTrue(Math.abs(o[e] - ref.out()[e]) <= 1e-5 + 1e-5 * Math.abs(ref.out()[e]),
                            backend + " cross out[" + e + "] = " + o[e] + ", expected " + ref.out()[e]);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void mixedDtypesAreRefusedNamingTheArgument(String backend) {
        SplittableRandom rnd = new SplittableRandom(56);
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor x = randn(rnd, 1, 1, 130, 64);
                DeviceTensor f = s.upload(x);
                DeviceTensor b = bf16(s, x)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> DeviceAttention.dense(b, f, b, Float.NaN));
            assertTrue(e.getMessage().contains("k is f32, expected bf16"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> DeviceAttention.blockMask(f, b, MaskMode.TOPK, 0.5, 0, Float.NaN));
            assertTrue(e.getMessage().contains("k is bf16, expected f32"), e.getMessage());
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
