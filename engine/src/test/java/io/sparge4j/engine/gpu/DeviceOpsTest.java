package io.sparge4j.engine.gpu;

import io.sparge4j.engine.ops.Activations;
import io.sparge4j.engine.ops.Attention;
import io.sparge4j.engine.ops.Elementwise;
import io.sparge4j.engine.ops.Linear;
import io.sparge4j.engine.ops.Norms;
import io.sparge4j.engine.ops.Rope;
import io.sparge4j.engine.ops.Shapes;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.FieldSource;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static io.sparge4j.engine.testing.Assertions2.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every device op against the engine's CPU op of the same name, on the emulator, PoCL OpenCL and CUDA (skipped with
 * the reason where absent), on fresh seeded Gaussian inputs (never zeros) at awkward sizes: row lengths, token counts
 * and matrix edges that are multiples of no block or group. Each test also checks that the session holds no more
 * device memory once the results are closed.
 *
 * <p>Tolerances (relative to each element's expected value, plus an absolute floor for values near zero):
 * <ul>
 * <li>exact (0) where both sides round the same single operation: add, the axis swap;</li>
 * <li>1e-5 relative + 1e-5 absolute for reductions whose summation order differs: GEMMs of up to 130 terms of
 * O(1) values, norms over up to 1100 columns, attention over up to 200 keys (outputs O(1));</li>
 * <li>1e-6 + 1e-6 for the element-wise modulation and RoPE (a fused multiply-add against separate roundings,
 * a float table against float64 angles: a few ulps of |x|);</li>
 * <li>the activations as {@code ActivationKernelsTest} argues: 1e-5 relative, 1e-7 + 2e-7 |x| absolute;</li>
 * <li>bf16 and f16 GEMMs: against float64 of the operands rounded to the type, 1e-5 relative + 1e-5 absolute
 * (products of bf16 values, 8 significant bits, and of f16 values, 11, subnormals included, are exact in f32; only
 * the f32 accumulation rounds); against the f32 layer, the operands' rounding (u = 2^-8 relative for bf16, 2^-11
 * for f16) over 70 terms: 2e-2 relative + 3e-2 absolute for bf16, 8 times less for f16;</li>
 * <li>AdamW: against float64 PyTorch AdamW, 1e-5 relative + 1e-7 absolute after three steps.</li>
 * </ul>
 */
class DeviceOpsTest {
    static final String[] BACKENDS = DeviceSessions.BACKENDS;
    static final List<Arguments> HALF_PRECISIONS = DeviceSessions.onEachBackend(GemmPrecision.BF16, GemmPrecision.F16);

    private static Tensor randn(SplittableRandom rnd, double std, int... shape) {
        Tensor t = Tensor.allocate(DType.F32, shape);
        for (long i = 0; i < t.numel(); i++) {
            t.setFloat(i, (float) (std * rnd.nextGaussian()));
        }
        return t;
    }

    private static double[] doubles(Tensor t) {
        return t.toDoubleArray();
    }

    private static float[] host(DeviceTensor t) {
        try (Tensor h = t.toHost()) {
            assertArrayEquals(h.shape(), t.shape(), "toHost shape");
            return h.toFloatArray();
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void linearF32MatchesCpu(String backend) {
        SplittableRandom rnd = new SplittableRandom(11);
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor x = randn(rnd, 1, 2, 67, 45);
                Tensor w = randn(rnd, 1 / Math.sqrt(45), 130, 45);
                Tensor b = randn(rnd, 0.1, 130);
                DeviceTensor dx = s.upload(x);
                DeviceTensor dw = s.upload(w);
                DeviceTensor db = s.upload(b)) {
            int base = s.liveAllocations();
            try (Tensor ref = Linear.linear(x, w, b);
                    Tensor refNoBias = Linear.linear(x, w, null);
                    DeviceTensor y = DeviceLinear.linear(dx, dw, db);
                    DeviceTensor yNoBias = DeviceLinear.linear(dx, dw, null)) {
                assertArrayEquals(new int[]{2, 67, 130}, y.shape());
                assertClose(doubles(ref), host(y), 1e-5, 1e-5, backend + " linear");
                assertClose(doubles(refNoBias), host(yNoBias), 1e-5, 1e-5, backend + " linear without bias");
            }
            assertEquals(base, s.liveAllocations(), "device allocations after closing the results");
        }
    }

    /** A 16-bit GEMM, with the weight given in f32 (rounded per call) and in the operand type (used as is). */
    @ParameterizedTest(name = "{0} {1}")
    @FieldSource("HALF_PRECISIONS")
    void linearHalfMatchesFloat64OfRoundedOperands(String backend, GemmPrecision precision) {
        SplittableRandom rnd = new SplittableRandom(precision == GemmPrecision.BF16 ? 12 : 13);
        int m = 131;
        int in = 70;
        int out = 150;
        DType half = precision.operandType();
        String what = backend + " " + precision + " linear";
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor x = randn(rnd, 1, m, in);
                Tensor w = randn(rnd, 1 / Math.sqrt(in), out, in);
                Tensor b = randn(rnd, 0.1, out);
                Tensor xHalf = x.to(half);
                Tensor wHalf = w.to(half);
                DeviceTensor dx = s.upload(x);
                DeviceTensor dw = s.upload(w);
                DeviceTensor dwHalf = s.upload(wHalf);
                DeviceTensor db = s.upload(b);
                DeviceTensor y = DeviceLinear.linear(dx, dw, db, precision);
                DeviceTensor yFromHalf = DeviceLinear.linear(dx, dwHalf, db, precision);
                Tensor f32 = Linear.linear(x, w, b)) {
            float[] xr = xHalf.toFloatArray();
            float[] wr = wHalf.toFloatArray();
            double[] ref = new double[m * out];
            for (int i = 0; i < m; i++) {
                for (int o = 0; o < out; o++) {
                    double acc = 0;
                    for (int p = 0; p < in; p++) {
                        acc += (double) xr[i * in + p] * wr[o * in + p];
                    }
                    ref[i * out + o] = (float) acc + b.getFloat(o);
                }
            }
            assertClose(ref, host(y), 1e-5, 1e-5, what);
            assertClose(ref, host(yFromHalf), 1e-5, 1e-5, what + ", " + half + " weight");
            // and it is still the same layer: each operand rounded (u relative) over 70 terms
            double f = precision == GemmPrecision.BF16 ? 1 : 0.125;
            assertClose(doubles(f32), host(y), 2e-2 * f, 3e-2 * f, what + " vs f32");
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void normsMatchCpu(String backend) {
        SplittableRandom rnd = new SplittableRandom(13);
        for (int cols : new int[]{37, 1100}) {
            try (DeviceSession s = DeviceSessions.open(backend);
                    Tensor x = randn(rnd, 2, 3, 29, cols);
                    Tensor w = randn(rnd, 0.3, cols);
                    Tensor b = randn(rnd, 0.2, cols);
                    DeviceTensor dx = s.upload(x);
                    DeviceTensor dw = s.upload(w);
                    DeviceTensor db = s.upload(b)) {
                // dx keeps the zero-mean values; dxo gets an offset mean, which the two-pass variance must survive
                for (long i = 0; i < x.numel(); i++) {
                    x.setFloat(i, x.getFloat(i) + 5f);
                }
                try (DeviceTensor dxo = s.upload(x);
                        DeviceTensor ln = DeviceNorms.layerNorm(dxo, dw, db, 1e-6f);
                        DeviceTensor lnPlain = DeviceNorms.layerNorm(dxo, null, null, 1e-6f);
                        DeviceTensor rms = DeviceNorms.rmsNorm(dxo, dw, 1e-6f);
                        DeviceTensor rmsPlain = DeviceNorms.rmsNorm(dx, null, 1e-6f);
                        Tensor unshifted = dx.toHost();
                        Tensor rmsPlainRef = Norms.rmsNorm(unshifted, null, 1e-6f);
                        Tensor lnRef = Norms.layerNorm(x, w, b, 1e-6f);
                        Tensor lnPlainRef = Norms.layerNorm(x, null, null, 1e-6f);
                        Tensor rmsRef = Norms.rmsNorm(x, w, 1e-6f)) {
                    String at = backend + " cols=" + cols;
                    assertClose(doubles(lnRef), host(ln), 1e-5, 1e-5, at + " layerNorm");
                    assertClose(doubles(lnPlainRef), host(lnPlain), 1e-5, 1e-5, at + " layerNorm without affine");
                    assertClose(doubles(rmsRef), host(rms), 1e-5, 1e-5, at + " rmsNorm");
                    assertClose(doubles(rmsPlainRef), host(rmsPlain), 1e-5, 1e-5, at + " rmsNorm without weight");
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void activationsMatchCpu(String backend) {
        SplittableRandom rnd = new SplittableRandom(14);
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor x = randn(rnd, 3, 7, 143);
                DeviceTensor dx = s.upload(x);
                DeviceTensor g = DeviceActivations.gelu(dx);
                DeviceTensor si = DeviceActivations.silu(dx);
                Tensor gRef = Activations.gelu(x);
                Tensor sRef = Activations.silu(x)) {
            double[] atol = new double[(int) x.numel()];
            for (int i = 0; i < atol.length; i++) {
                atol[i] = 1e-7 + 2e-7 * Math.abs(x.getFloat(i));
            }
            assertCloseEach(doubles(gRef), host(g), 1e-5, atol, backend + " gelu");
            assertCloseEach(doubles(sRef), host(si), 1e-5, atol, backend + " silu");
        }
    }

    private static void assertCloseEach(double[] expected, float[] actual, double rtol, double[] atol, String what) {
        assertEquals(expected.length, actual.length, what + " length");
        for (int i = 0; i < expected.length; i++) {
            double diff = Math.abs(actual[i] - expected[i]);
            assertTrue(diff <= atol[i] + rtol * Math.abs(expected[i]), what + ": element " + i + " is " + actual[i]
                    + ", expected " + expected[i]);
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void elementwiseMatchesCpu(String backend) {
        SplittableRandom rnd = new SplittableRandom(15);
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor x = randn(rnd, 1, 2, 37, 48);
                Tensor y = randn(rnd, 1, 2, 37, 48);
                Tensor row = randn(rnd, 1, 48);
                Tensor shift = randn(rnd, 0.3, 2, 1, 48);
                Tensor scale = randn(rnd, 0.3, 48);
                Tensor gate = randn(rnd, 0.3, 1, 48);
                DeviceTensor dx = s.upload(x);
                DeviceTensor dy = s.upload(y);
                DeviceTensor drow = s.upload(row);
                DeviceTensor dshift = s.upload(shift);
                DeviceTensor dscale = s.upload(scale);
                DeviceTensor dgate = s.upload(gate);
                DeviceTensor sum = DeviceElementwise.add(dx, dy);
                DeviceTensor rowSum = DeviceElementwise.add(dx, drow);
                DeviceTensor mod = DeviceElementwise.modulate(dx, dshift, dscale);
                DeviceTensor gated = DeviceElementwise.gatedAdd(dx, dgate, dy);
                Tensor sumRef = Elementwise.add(x, y);
                Tensor rowRef = Elementwise.add(x, row);
                Tensor modRef = Elementwise.modulate(x, shift, scale);
                Tensor gatedRef = Elementwise.gatedAdd(x, gate, y)) {
            assertClose(doubles(sumRef), host(sum), 0, 0, backend + " add");
            assertClose(doubles(rowRef), host(rowSum), 0, 0, backend + " add of a row");
            assertClose(doubles(modRef), host(mod), 1e-6, 1e-6, backend + " modulate");
            assertClose(doubles(gatedRef), host(gated), 1e-6, 1e-6, backend + " gatedAdd");
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void ropeAndHeadSwapMatchCpu(String backend) {
        SplittableRandom rnd = new SplittableRandom(16);
        Rope.Grid grid = new Rope.Grid(2, 3, 4); // 24 tokens of 30: the last 6 are copied
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor x = randn(rnd, 1, 2, 30, 3, 64);
                DeviceTensor dx = s.upload(x);
                DeviceTensor rotated = DeviceRope.apply(dx, grid);
                DeviceTensor heads = DeviceShapes.swapTokensHeads(dx);
                DeviceTensor rotatedHeads = DeviceRope.apply(heads, grid, Rope.Layout.BHLD);
                DeviceTensor back = DeviceShapes.swapTokensHeads(heads);
                DeviceTensor middle = DeviceShapes.narrow(dx, 1, 1);
                Tensor middleRef = x.narrow(1, 1);
                Tensor ref = Rope.apply(x, grid);
                Tensor headsRef = Shapes.permute(x, 0, 2, 1, 3);
                Tensor rotatedHeadsRef = Rope.apply(headsRef, grid, Rope.Layout.BHLD)) {
            assertClose(doubles(ref), host(rotated), 1e-6, 1e-6, backend + " rope BLHD");
            assertArrayEquals(new int[]{2, 3, 30, 64}, heads.shape());
            assertClose(doubles(headsRef), host(heads), 0, 0, backend + " swapTokensHeads");
            assertClose(doubles(x), host(back), 0, 0, backend + " swapTokensHeads twice");
            assertClose(doubles(middleRef), host(middle), 0, 0, backend + " narrow");
            assertClose(doubles(rotatedHeadsRef), host(rotatedHeads), 1e-6, 1e-6, backend + " rope BHLD");
        }
    }

    /** Self-attention at d 64 (the flash kernel over a full mask) and cross-attention with 13 keys, d 48 (rows). */
    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void denseAttentionMatchesCpu(String backend) {
        SplittableRandom rnd = new SplittableRandom(17);
        try (DeviceSession s = DeviceSessions.open(backend)) {
            checkDense(s, rnd, 150, 150, 64, backend + " self d=64");
            checkDense(s, rnd, 37, 13, 48, backend + " cross d=48");
        }
    }

    private static void checkDense(DeviceSession s, SplittableRandom rnd, int nq, int nk, int d, String what) {
        try (Tensor q = randn(rnd, 1, 1, 2, nq, d);
                Tensor k = randn(rnd, 1, 1, 2, nk, d);
                Tensor v = randn(rnd, 1, 1, 2, nk, d);
                DeviceTensor dq = s.upload(q);
                DeviceTensor dk = s.upload(k);
                DeviceTensor dv = s.upload(v);
                DeviceAttention.Result r = DeviceAttention.dense(dq, dk, dv, Float.NaN);
                Attention.Result ref = Attention.forward(q, k, v)) {
            assertClose(doubles(ref.out()), host(r.out()), 1e-5, 1e-5, what + " out");
            assertClose(doubles(ref.logsumexp()), host(r.logsumexp()), 1e-5, 1e-5, what + " logsumexp");
        }
    }

    /**
     * Hybrid SpargeAttention2 at N = 200 (query blocks 128 + 72, key blocks 64 x 3 + 8) and d 64: the device builds
     * the mask and attends with it; the CPU attends with the device's mask read back, which must drop some blocks
     * and keep at least one per row.
     */
    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void sparseAttentionMatchesCpuWithTheDeviceMask(String backend) {
        SplittableRandom rnd = new SplittableRandom(18);
        int n = 200;
        int d = 64;
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor q = randn(rnd, 1, 1, 3, n, d);
                Tensor k = randn(rnd, 1, 1, 3, n, d);
                Tensor v = randn(rnd, 1, 1, 3, n, d);
                DeviceTensor dq = s.upload(q);
                DeviceTensor dk = s.upload(k);
                DeviceTensor dv = s.upload(v);
                DeviceBlockMask mask = DeviceAttention.blockMask(dq, dk, MaskMode.HYBRID, 0.25, 0.5, Float.NaN);
                DeviceAttention.Result r = DeviceAttention.sparse(dq, dk, dv, mask, Float.NaN)) {
            BlockMask m = mask.toHost();
            assertTrue(m.sparsity() > 0 && m.sparsity() < 1, "sparsity " + m.sparsity() + ", expected in (0, 1)");
            for (int h = 0; h < 3; h++) {
                for (int i = 0; i < 2; i++) {
                    assertTrue(m.keptInRow(0, h, i) >= 1, "head " + h + " query block " + i + " keeps no block");
                }
            }
            try (Tensor maskTensor = m.toTensor();
                    SparseAttention.Result ref = SparseAttention.forward(q, k, v, SparseAttention.Config.defaults()
                            .withMask(maskTensor).withMode(MaskMode.MASK))) {
                assertClose(doubles(ref.out()), host(r.out()), 1e-5, 1e-5, backend + " sparse out");
                assertClose(doubles(ref.logsumexp()), host(r.logsumexp()), 1e-5, 1e-5, backend + " sparse logsumexp");
            }
        }
    }

    /**
     * A Top-k per batch entry (the clips of a diffusion batch at different noise levels): each entry's rows equal the
     * rows of a mask built for that entry alone with its k, and a larger k keeps more blocks. N = 640 (5 query and 10
     * key blocks), hybrid with p 0.3.
     */
    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void aTopkPerBatchEntryMasksEachEntryAsAlone(String backend) {
        SplittableRandom rnd = new SplittableRandom(23);
        int n = 640;
        int d = 64;
        int heads = 2;
        double[] topk = {0.1, 0.5, 0.3};
        Tensor[] qs = new Tensor[topk.length];
        Tensor[] ks = new Tensor[topk.length];
        for (int b = 0; b < topk.length; b++) {
            qs[b] = randn(rnd, 1, 1, heads, n, d);
            ks[b] = randn(rnd, 1, 1, heads, n, d);
        }
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor qAll = Shapes.concat(0, qs);
                Tensor kAll = Shapes.concat(0, ks);
                DeviceTensor dq = s.upload(qAll);
                DeviceTensor dk = s.upload(kAll);
                DeviceBlockMask mask = DeviceAttention.blockMask(dq, dk, MaskMode.HYBRID, topk, 0.3, Float.NaN)) {
            BlockMask all = mask.toHost();
            int[] kept = new int[topk.length];
            for (int b = 0; b < topk.length; b++) {
                try (DeviceTensor q1 = s.upload(qs[b]);
                        DeviceTensor k1 = s.upload(ks[b]);
                        DeviceBlockMask alone = DeviceAttention.blockMask(q1, k1, MaskMode.HYBRID, topk[b], 0.3,
                                Float.NaN)) {
                    BlockMask one = alone.toHost();
                    for (int h = 0; h < heads; h++) {
                        for (int i = 0; i < 5; i++) {
                            kept[b] += all.keptInRow(b, h, i);
                            for (int j = 0; j < 10; j++) {
                                assertEquals(one.kept(0, h, i, j), all.kept(b, h, i, j),
                                        backend + " batch " + b + " head " + h + " block (" + i + ", " + j + ")");
                            }
                        }
                    }
                }
            }
            assertTrue(kept[1] > kept[0] && kept[1] >= heads * 5 * 5, "k 0.5 keeps at least 5 of 10 blocks a row: "
                    + Arrays.toString(kept));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> DeviceAttention.blockMask(dq, dk, MaskMode.HYBRID, new double[] {0.1, 0.2}, 0.3, Float.NaN));
            assertTrue(e.getMessage().contains("topk") && e.getMessage().contains("one per batch entry"),
                    e.getMessage());
        } finally {
            for (int b = 0; b < topk.length; b++) {
                qs[b].close();
                ks[b].close();
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void adamWMatchesFloat64PyTorchFormula(String backend) {
        SplittableRandom rnd = new SplittableRandom(19);
        int n = 1001;
        double lr = 1e-2;
        double b1 = 0.9;
        double b2 = 0.999;
        double eps = 1e-8;
        double wd = 0.01;
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor p = randn(rnd, 1, n);
                DeviceTensor dp = s.upload(p)) {
            double[] pr = doubles(p);
            double[] m = new double[n];
            double[] v = new double[n];
            try (DeviceAdamW opt = new DeviceAdamW(dp, lr, b1, b2, eps, wd)) {
                for (int step = 1; step <= 3; step++) {
                    try (Tensor g = randn(rnd, 0.5, n); DeviceTensor dg = s.upload(g)) {
                        opt.step(dg);
                        for (int i = 0; i < n; i++) {
                            double gi = g.getFloat(i);
                            pr[i] *= 1 - lr * wd;
                            m[i] = b1 * m[i] + (1 - b1) * gi;
                            v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                            double mHat = m[i] / (1 - Math.pow(b1, step));
                            double vHat = v[i] / (1 - Math.pow(b2, step));
                            pr[i] -= lr * mHat / (Math.sqrt(vHat) + eps);
                        }
                    }
                }
                assertEquals(3, opt.steps());
            }
            assertClose(pr, host(dp), 1e-5, 1e-7, backend + " AdamW after 3 steps");
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void errorsNameTheArgument(String backend) {
        try (DeviceSession s = DeviceSessions.open(backend);
                DeviceSession other = DeviceSession.open("emulator");
                Tensor x = Tensor.randn(20, 4, 6);
                Tensor w = Tensor.randn(21, 5, 7);
                DeviceTensor dx = s.upload(x);
                DeviceTensor dw = s.upload(w);
                DeviceTensor foreign = other.upload(x)) {
            assertMessage(() -> DeviceLinear.linear(dx, dw, null), "weight", "(out, 6)");
            assertMessage(() -> DeviceElementwise.add(dx, foreign), "b lives in another device session");
            assertMessage(() -> DeviceNorms.layerNorm(dx, null, null, -1f), "eps is -1.0");
            assertMessage(() -> DeviceLinear.linear(dx.reshape(4, 3, 2), dw, null, GemmPrecision.BF16), "weight");
            try (DeviceTensor odd = s.upload(Tensor.randn(22, 3, 5)); DeviceTensor w5 = s.upload(Tensor.randn(23, 2, 5))) {
                assertMessage(() -> DeviceLinear.linear(odd, w5, null, GemmPrecision.BF16), "even");
                assertMessage(() -> DeviceLinear.linear(odd, w5, null, GemmPrecision.F16), "in features", "is 5",
                        "an even number for GemmPrecision.F16", "f16 pairs");
            }
            assertMessage(() -> DeviceLinear.linear(dx, dw, null, null), "precision is null", "F32, BF16 or F16");
            try (Tensor w6 = Tensor.randn(24, 3, 6); Tensor w6b = w6.to(DType.BF16); Tensor w6h = w6.to(DType.F16);
                    DeviceTensor bf16Weight = s.upload(w6b); DeviceTensor f16Weight = s.upload(w6h)) {
                assertMessage(() -> DeviceLinear.linear(dx, bf16Weight, null, GemmPrecision.F16), "weight is BF16",
                        "expected F32 or F16 for GemmPrecision.F16", "GemmPrecision.BF16");
                assertMessage(() -> DeviceLinear.linear(dx, f16Weight, null, GemmPrecision.F32), "weight is F16",
                        "expected F32 for GemmPrecision.F32", "GemmPrecision.F16");
            }
            DeviceTensor closed = s.upload(x);
            closed.close();
            assertMessage(() -> DeviceActivations.gelu(closed), "closed");
            assertMessage(() -> dx.reshape(5, 5), "expected 24");
        }
    }

    private static void assertMessage(Runnable op, String... parts) {
        RuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class, op::run);
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "message \"" + e.getMessage() + "\" should contain \"" + p + "\"");
        }
    }
}
