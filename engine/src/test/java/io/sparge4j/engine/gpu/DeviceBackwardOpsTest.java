package io.sparge4j.engine.gpu;

import io.sparge4j.engine.ops.Activations;
import io.sparge4j.engine.ops.Attention;
import io.sparge4j.engine.ops.Elementwise;
import io.sparge4j.engine.ops.Linear;
import io.sparge4j.engine.ops.Norms;
import io.sparge4j.engine.ops.Rope;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.FieldSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static io.sparge4j.engine.gpu.DeviceSessions.host;
import static io.sparge4j.engine.testing.Assertions2.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every device backward op against the CPU op's backward, on the emulator, PoCL and CUDA (skipped with the reason
 * where absent), on fresh seeded Gaussian inputs at awkward sizes (row counts that are multiples of no chunk of 64,
 * token counts of no block).
 *
 * <p>Tolerances: the element-wise backwards (modulate's dx, gated add's dx and dy, RoPE) 1e-6 relative + 1e-6
 * absolute (one or two roundings against the CPU's); the activations as {@code ActivationKernelsTest} argues (1e-5
 * relative, 1e-7 + 2e-7 |x| (1 + x^2) |dy| absolute); reductions in another order (GEMMs over up to 134 rows, column
 * sums over up to 174 rows, norm statistics, attention over 200 keys) 1e-5 relative + 1e-5 absolute of results of
 * size up to ~30 (the attention gradients too, though the CPU and the flash backward recompute the probabilities
 * in other tile orders).
 */
class DeviceBackwardOpsTest {
    static final String[] BACKENDS = DeviceSessions.BACKENDS;

    private static Tensor randn(SplittableRandom rnd, double std, int... shape) {
        Tensor t = Tensor.allocate(DType.F32, shape);
        for (long i = 0; i < t.numel(); i++) {
            t.setFloat(i, (float) (std * rnd.nextGaussian()));
        }
        return t;
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void linearBackwardMatchesCpu(String backend) {
        SplittableRandom rnd = new SplittableRandom(31);
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor x = randn(rnd, 1, 2, 67, 45);
                Tensor w = randn(rnd, 1 / Math.sqrt(45), 130, 45);
                Tensor dy = randn(rnd, 1, 2, 67, 130);
                DeviceTensor dx = s.upload(x);
                DeviceTensor dw = s.upload(w);
                DeviceTensor ddy = s.upload(dy);
                DeviceLinear.Grads g = DeviceLinear.linearBackward(ddy, dx, dw, true);
                DeviceLinear.Grads noBias = DeviceLinear.linearBackward(ddy, dx, dw, false)) {
            // the CPU grads are not AutoCloseable; their tensors are small and freed with their arenas
            Linear.LinearGrads ref = Linear.linearBackward(dy, x, w, true);
            assertClose(ref.dx().toDoubleArray(), host(g.dx()), 1e-5, 1e-5, backend + " linear dx");
            assertClose(ref.dWeight().toDoubleArray(), host(g.dWeight()), 1e-5, 1e-5, backend + " linear dWeight");
            assertClose(ref.dBias().toDoubleArray(), host(g.dBias()), 1e-5, 1e-5, backend + " linear dBias");
            assertNull(noBias.dBias());
            assertClose(ref.dWeight().toDoubleArray(), host(noBias.dWeight()), 1e-5, 1e-5, backend + " dWeight (2)");
        }
    }

    /**
     * A long reduction over a small weight splits dW into slices summed in order (5,003 rows: 9 slices of 560, the
     * last of 523; 130 x 45 is one tile in each direction but the edges): the same gradients as the CPU's within
     * f32 rounding, the same bits on a second run.
     */
    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void splitWeightGradientMatchesCpu(String backend) {
        SplittableRandom rnd = new SplittableRandom(33);
        int m = 5003;
        assertTrue(DeviceLinear.weightGradientSlice(m, 2) < m, "this size takes the split path");
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor x = randn(rnd, 1, m, 45);
                Tensor w = randn(rnd, 1 / Math.sqrt(45), 130, 45);
                Tensor dy = randn(rnd, 1, m, 130);
                DeviceTensor dx = s.upload(x);
                DeviceTensor dw = s.upload(w);
                DeviceTensor ddy = s.upload(dy);
                DeviceLinear.Grads g = DeviceLinear.linearBackward(ddy, dx, dw, true);
                DeviceLinear.Grads again = DeviceLinear.linearBackward(ddy, dx, dw, false)) {
            Linear.LinearGrads ref = Linear.linearBackward(dy, x, w, true);
            // sums of 5,003 products of unit normals (~70): 1e-5 relative, 2e-4 absolute
            assertClose(ref.dWeight().toDoubleArray(), host(g.dWeight()), 1e-5, 2e-4, backend + " split dWeight");
            assertClose(ref.dx().toDoubleArray(), host(g.dx()), 1e-5, 1e-5, backend + " dx");
            assertClose(ref.dBias().toDoubleArray(), host(g.dBias()), 1e-5, 2e-4, backend + " dBias");
            org.junit.jupiter.api.Assertions.assertArrayEquals(host(g.dWeight()), host(again.dWeight()),
                    backend + " split dWeight twice: the slices are added in order");
        }
    }

    @Test
    void weightGradientSlicesAreMultiplesOfEightAndCoverTheRows() {
        assertEquals(104, DeviceLinear.weightGradientSlice(100, 1), "short: one slice, rounded up to 8");
        assertEquals(2048, DeviceLinear.weightGradientSlice(2048, 1), "at the threshold: one slice");
        assertEquals(131_072 / 256, DeviceLinear.weightGradientSlice(131_072, 1),
                "32 clips of 4096 tokens, one tile: 256 slices of 512 rows");
        assertEquals(131_072 / 128, DeviceLinear.weightGradientSlice(131_072, 4), "four tiles: 128 slices");
        assertEquals(131_072, DeviceLinear.weightGradientSlice(131_072, 200), "enough tiles: no split");
        for (int m : new int[] {2049, 5003, 77_777, 131_071}) {
            for (int tiles : new int[] {1, 3, 16}) {
                int slice = DeviceLinear.weightGradientSlice(m, tiles);
                int slices = (m + slice - 1) / slice;
                assertEquals(0, slice % 8, m + " rows, " + tiles + " tiles");
                assertTrue(slices * slice >= m && (slices - 1) * slice < m, m + " rows in " + slices + " of " + slice);
                assertTrue(slices <= 512 / tiles, m + " rows, " + tiles + " tiles: " + slices + " slices");
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void normBackwardsMatchCpu(String backend) {
        SplittableRandom rnd = new SplittableRandom(32);
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor x = randn(rnd, 2, 2, 87, 300);
                Tensor w = randn(rnd, 0.3, 300);
                Tensor b = randn(rnd, 0.2, 300);
                Tensor dy = randn(rnd, 1, 2, 87, 300);
                DeviceTensor dx = s.upload(x);
                DeviceTensor dw = s.upload(w);
                DeviceTensor db = s.upload(b);
                DeviceTensor ddy = s.upload(dy);
                DeviceNorms.Grads ln = DeviceNorms.layerNormBackward(ddy, dx, dw, db, 1e-6f);
                DeviceNorms.Grads lnPlain = DeviceNorms.layerNormBackward(ddy, dx, null, null, 1e-6f);
                DeviceNorms.Grads rms = DeviceNorms.rmsNormBackward(ddy, dx, dw, 1e-6f)) {
            Norms.NormGrads lnRef = Norms.layerNormBackward(dy, x, w, b, 1e-6f);
            Norms.NormGrads lnPlainRef = Norms.layerNormBackward(dy, x, null, null, 1e-6f);
            Norms.NormGrads rmsRef = Norms.rmsNormBackward(dy, x, w, 1e-6f);
            assertClose(lnRef.dx().toDoubleArray(), host(ln.dx()), 1e-5, 1e-5, backend + " layerNorm dx");
            assertClose(lnRef.dWeight().toDoubleArray(), host(ln.dWeight()), 1e-5, 1e-5, backend + " layerNorm dW");
            assertClose(lnRef.dBias().toDoubleArray(), host(ln.dBias()), 1e-5, 1e-5, backend + " layerNorm dB");
            assertClose(lnPlainRef.dx().toDoubleArray(), host(lnPlain.dx()), 1e-5, 1e-5, backend + " plain dx");
            assertNull(lnPlain.dWeight());
            assertClose(rmsRef.dx().toDoubleArray(), host(rms.dx()), 1e-5, 1e-5, backend + " rmsNorm dx");
            assertClose(rmsRef.dWeight().toDoubleArray(), host(rms.dWeight()), 1e-5, 1e-5, backend + " rmsNorm dW");
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void activationBackwardsMatchCpu(String backend) {
        SplittableRandom rnd = new SplittableRandom(33);
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor x = randn(rnd, 3, 5, 211);
                Tensor dy = randn(rnd, 1, 5, 211);
                DeviceTensor dx = s.upload(x);
                DeviceTensor ddy = s.upload(dy);
                DeviceTensor g = DeviceActivations.geluBackward(ddy, dx);
                DeviceTensor si = DeviceActivations.siluBackward(ddy, dx);
                Tensor gRef = Activations.geluBackward(dy, x);
                Tensor sRef = Activations.siluBackward(dy, x)) {
            float[] gd = host(g);
            float[] sd = host(si);
            for (int i = 0; i < gd.length; i++) {
                double xi = x.getFloat(i);
                double atol = 1e-7 + 2e-7 * Math.abs(xi) * (1 + xi * xi) * Math.abs(dy.getFloat(i));
                assertTrue(Math.abs(gd[i] - gRef.getFloat(i)) <= atol + 1e-5 * Math.abs(gRef.getFloat(i)),
                        backend + " geluBackward element " + i + ": " + gd[i] + " vs " + gRef.getFloat(i));
                assertTrue(Math.abs(sd[i] - sRef.getFloat(i)) <= atol + 1e-5 * Math.abs(sRef.getFloat(i)),
                        backend + " siluBackward element " + i + ": " + sd[i] + " vs " + sRef.getFloat(i));
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void elementwiseAndRopeBackwardsMatchCpu(String backend) {
        SplittableRandom rnd = new SplittableRandom(34);
        Rope.Grid grid = new Rope.Grid(2, 3, 5);
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor x = randn(rnd, 1, 2, 87, 48);
                Tensor y = randn(rnd, 1, 2, 87, 48);
                Tensor dy = randn(rnd, 1, 2, 87, 48);
                Tensor scaleB = randn(rnd, 0.3, 2, 1, 48);
                Tensor gate = randn(rnd, 0.3, 48);
                Tensor q = randn(rnd, 1, 2, 3, 33, 64);
                DeviceTensor dx = s.upload(x);
                DeviceTensor ddy = s.upload(dy);
                DeviceTensor dyy = s.upload(y);
                DeviceTensor dscale = s.upload(scaleB);
                DeviceTensor dgate = s.upload(gate);
                DeviceTensor dq = s.upload(q);
                DeviceElementwise.ModulateGrads mod = DeviceElementwise.modulateBackward(ddy, dx, dscale);
                DeviceElementwise.GatedAddGrads gated = DeviceElementwise.gatedAddBackward(ddy, dgate, dyy);
                DeviceTensor ropeBack = DeviceRope.backward(dq, grid, Rope.Layout.BHLD);
                Tensor ropeRef = Rope.backward(q, grid, Rope.Layout.BHLD)) {
            Elementwise.ModulateGrads modRef = Elementwise.modulateBackward(dy, x, scaleB);
            Elementwise.GatedAddGrads gatedRef = Elementwise.gatedAddBackward(dy, gate, y);
            assertClose(modRef.dx().toDoubleArray(), host(mod.dx()), 1e-6, 1e-6, backend + " modulate dx");
            assertEquals(2, mod.dShift().dim(0));
            assertClose(modRef.dShift().toDoubleArray(), host(mod.dShift()), 1e-5, 1e-5, backend + " dShift");
            assertClose(modRef.dScale().toDoubleArray(), host(mod.dScale()), 1e-5, 1e-5, backend + " dScale");
            assertClose(gatedRef.dx().toDoubleArray(), host(gated.dx()), 0, 0, backend + " gatedAdd dx");
            assertClose(gatedRef.dy().toDoubleArray(), host(gated.dy()), 1e-6, 1e-6, backend + " gatedAdd dy");
            assertClose(gatedRef.dGate().toDoubleArray(), host(gated.dGate()), 1e-5, 1e-5, backend + " dGate");
            assertClose(ropeRef.toDoubleArray(), host(ropeBack), 1e-6, 1e-6, backend + " rope backward");
        }
    }

    /** Dense self-attention's backward and the sparse one with the device's mask, N = 200, d = 64. */
    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void attentionBackwardMatchesCpu(String backend) {
        SplittableRandom rnd = new SplittableRandom(35);
        int n = 200;
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor q = randn(rnd, 1, 1, 2, n, 64);
                Tensor k = randn(rnd, 1, 1, 2, n, 64);
                Tensor v = randn(rnd, 1, 1, 2, n, 64);
                Tensor dOut = randn(rnd, 1, 1, 2, n, 64);
                DeviceTensor dq = s.upload(q);
                DeviceTensor dk = s.upload(k);
                DeviceTensor dv = s.upload(v);
                DeviceTensor ddOut = s.upload(dOut);
                DeviceAttention.Result dense = DeviceAttention.dense(dq, dk, dv, Float.NaN);
                DeviceAttention.Gradients denseGrads = DeviceAttention.backward(ddOut, dq, dk, dv, dense, null,
                        Float.NaN);
                DeviceBlockMask mask = DeviceAttention.blockMask(dq, dk, MaskMode.HYBRID, 0.25, 0.5, Float.NaN);
                DeviceAttention.Result sparse = DeviceAttention.sparse(dq, dk, dv, mask, Float.NaN);
                DeviceAttention.Gradients sparseGrads = DeviceAttention.backward(ddOut, dq, dk, dv, sparse, mask,
                        Float.NaN);
                Attention.Result denseRef = Attention.forward(q, k, v);
                Attention.Gradients denseRefGrads = Attention.backward(dOut, q, k, v, denseRef.out(),
                        denseRef.logsumexp(), Attention.Options.defaults());
                Tensor maskTensor = mask.toHost().toTensor()) {
            check(denseRefGrads, denseGrads, backend + " dense");
            SparseAttention.Config config = SparseAttention.Config.defaults().withMask(maskTensor)
                    .withMode(MaskMode.MASK);
            try (SparseAttention.Result sparseRef = SparseAttention.forward(q, k, v, config);
                    Attention.Gradients sparseRefGrads = SparseAttention.backward(dOut, q, k, v, sparseRef, config)) {
                check(sparseRefGrads, sparseGrads, backend + " sparse");
            }
        }
    }

    /**
     * Cross-attention shapes (batch 2, 2 heads): queries, keys, d. d 48 runs the row kernels; d 64 and 128 the flash
     * backward with keys other than tokens: 13 keys (less than one 64-key tile), 77 (two key blocks, the last of
     * 13), 200 and 150 queries (a short last query block).
     */
    static final int[][] CROSS_SHAPES = {{37, 13, 48}, {200, 13, 64}, {150, 77, 128}, {37, 130, 64}};

    static List<Arguments> crossCases() {
        List<Arguments> out = new ArrayList<>();
        for (String backend : BACKENDS) {
            for (int[] shape : CROSS_SHAPES) {
                for (DType dtype : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                    out.add(Arguments.of(backend, shape[0], shape[1], shape[2], dtype));
                }
            }
        }
        return out;
    }

    /**
     * Cross-attention's backward against the CPU's and against a float64 reference computed here from q, k, v and
     * dO alone. bf16 and f16 inputs: the device widens them to f32, so the references take the rounded values.
     */
    @ParameterizedTest(name = "{0} nq={1} nk={2} d={3} {4}")
    @MethodSource("crossCases")
    void crossAttentionBackwardMatchesCpu(String backend, int nq, int nk, int d, DType dtype) {
        SplittableRandom rnd = new SplittableRandom(36L * nq + nk + d);
        try (DeviceSession s = DeviceSessions.open(backend);
                Tensor q = rounded(randn(rnd, 1, 2, 2, nq, d), dtype);
                Tensor k = rounded(randn(rnd, 1, 2, 2, nk, d), dtype);
                Tensor v = rounded(randn(rnd, 1, 2, 2, nk, d), dtype);
                Tensor dOut = randn(rnd, 1, 2, 2, nq, d);
                Tensor qIn = q.to(dtype);
                Tensor kIn = k.to(dtype);
                Tensor vIn = v.to(dtype);
                DeviceTensor dq = s.upload(qIn);
                DeviceTensor dk = s.upload(kIn);
                DeviceTensor dv = s.upload(vIn);
                DeviceTensor ddOut = s.upload(dOut);
                DeviceAttention.Result fwd = DeviceAttention.dense(dq, dk, dv, Float.NaN);
                DeviceAttention.Gradients grads = DeviceAttention.backward(ddOut, dq, dk, dv, fwd, null, Float.NaN);
                Attention.Result ref = Attention.forward(q, k, v);
                Attention.Gradients refGrads = Attention.backward(dOut, q, k, v, ref.out(), ref.logsumexp(),
                        Attention.Options.defaults())) {
            String what = backend + " cross " + nq + "x" + nk + " d" + d + " " + dtype;
            check(refGrads, grads, what);
            double[][] exact = float64Gradients(q.toDoubleArray(), k.toDoubleArray(), v.toDoubleArray(),
                    dOut.toDoubleArray(), 4, nq, nk, d);
            assertClose(exact[0], host(grads.dq()), 1e-5, 1e-5, what + " dq (float64)");
            assertClose(exact[1], host(grads.dk()), 1e-5, 1e-5, what + " dk (float64)");
            assertClose(exact[2], host(grads.dv()), 1e-5, 1e-5, what + " dv (float64)");
        }
    }

    /** t (f32) rounded to dtype and back, so that the references see the values a bf16 or f16 upload holds. */
    private static Tensor rounded(Tensor t, DType dtype) {
        if (dtype == DType.F32) {
            return t;
        }
        try (Tensor narrow = t.to(dtype)) {
            t.close();
            return narrow.to(DType.F32);
        }
    }

    /**
     * dq, dk, dv of {@code softmax(q k^T / sqrt(d)) v} per head in float64: {@code P = softmax(S)},
     * {@code dP = dO V^T}, {@code dS = P (dP - rowsum(dO * O))}, {@code dQ = dS K / sqrt(d)},
     * {@code dK = dS^T Q / sqrt(d)}, {@code dV = P^T dO}.
     */
    static double[][] float64Gradients(double[] q, double[] k, double[] v, double[] dOut, int heads, int nq, int nk,
            int d) {
        double scale = 1 / Math.sqrt(d);
        double[] dq = new double[heads * nq * d];
        double[] dk = new double[heads * nk * d];
        double[] dv = new double[heads * nk * d];
        for (int h = 0; h < heads; h++) {
            int qb = h * nq * d;
            int kb = h * nk * d;
            for (int i = 0; i < nq; i++) {
                double[] p = new double[nk];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < nk; j++) {
                    double dot = 0;
                    for (int e = 0; e < d; e++) {
                        dot += q[qb + i * d + e] * k[kb + j * d + e];
                    }
                    p[j] = dot * scale;
                    max = Math.max(max, p[j]);
                }
                double sum = 0;
                for (int j = 0; j < nk; j++) {
                    p[j] = Math.exp(p[j] - max);
                    sum += p[j];
                }
                double delta = 0;
                double[] dp = new double[nk];
                for (int j = 0; j < nk; j++) {
                    p[j] /= sum;
                    for (int e = 0; e < d; e++) {
                        dp[j] += dOut[qb + i * d + e] * v[kb + j * d + e];
                    }
                    delta += p[j] * dp[j];
                }
                for (int j = 0; j < nk; j++) {
                    double ds = p[j] * (dp[j] - delta);
                    for (int e = 0; e < d; e++) {
                        dq[qb + i * d + e] += ds * k[kb + j * d + e] * scale;
                        dk[kb + j * d + e] += ds * q[qb + i * d + e] * scale;
                        dv[kb + j * d + e] += p[j] * dOut[qb + i * d + e];
                    }
                }
            }
        }
        return new double[][] {dq, dk, dv};
    }

    private static void check(Attention.Gradients ref, DeviceAttention.Gradients got, String what) {
        assertClose(ref.dq().toDoubleArray(), host(got.dq()), 1e-5, 1e-5, what + " dq");
        assertClose(ref.dk().toDoubleArray(), host(got.dk()), 1e-5, 1e-5, what + " dk");
        assertClose(ref.dv().toDoubleArray(), host(got.dv()), 1e-5, 1e-5, what + " dv");
    }
}
