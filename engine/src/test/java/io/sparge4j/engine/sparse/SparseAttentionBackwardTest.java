package io.sparge4j.engine.sparse;

import io.sparge4j.engine.ops.Attention;
import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.sparse.SparseReference.Dims;
import io.sparge4j.engine.sparse.SparseReference.Problem;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static io.sparge4j.engine.ops.AttentionLayout.BHND;
import static io.sparge4j.engine.ops.AttentionLayout.BNHD;
import static io.sparge4j.engine.sparse.MaskMode.DENSE;
import static io.sparge4j.engine.sparse.MaskMode.HYBRID;
import static io.sparge4j.engine.sparse.MaskMode.TOPK;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SparseAttention's backward: dq, dk, dv against the float64 analytic gradient of the masked dense reference (built
 * from the kept flags the rules imply, re-derived in the test), against float64 central differences of that
 * reference on tiny shapes, and exactly zero for keys and values whose block no query block keeps.
 *
 * <p>Tolerances: 1e-5 relative plus 1e-5 x max|ref| absolute (f32 sums over at most a few hundred terms; gradients
 * cross zero). Finite differences use step 1e-5 in float64 (truncation error ~1e-10), so the same bound applies.
 */
class SparseAttentionBackwardTest {
    private static final double RTOL = 1e-5;
    private static final double ATOL_FRACTION = 1e-5;

    private record Outcome(SparseReference.Grads expected, double[] dq, double[] dk, double[] dv, boolean[] kept) {
    }

    /** Runs forward + backward and the float64 model on the same values. */
    private static Outcome run(Problem pr, SparseAttention.Config config, boolean[] kept, double scale, DType dOutType,
            long seed) {
        Dims dims = pr.dims();
        AttentionLayout layout = pr.layout();
        double[] dOut0 = SparseReference.gaussian(new SplittableRandom(seed), dims.batch() * dims.heads()
                * dims.queries() * dims.headDim(), 1);
        try (Tensor dOut = SparseReference.tensor(dOut0, dims, dims.queries(), layout, dOutType);
             SparseAttention.Result r = SparseAttention.forward(pr.q(), pr.k(), pr.v(), config);
             Attention.Gradients g = SparseAttention.backward(dOut, pr.q(), pr.k(), pr.v(), r, config)) {
            assertArrayEquals(kept, SparseReference.flags(r.selection().mask()), "kept flags");
            double[] dOutD = SparseReference.canonical(dOut, dims, dims.queries(), layout);
            SparseReference.Grads ref = SparseReference.gradients(pr.qd(), pr.kd(), pr.vd(), dOutD, kept, dims, scale);
            assertArrayEquals(pr.q().shape(), g.dq().shape());
            assertArrayEquals(pr.k().shape(), g.dk().shape());
            assertArrayEquals(pr.v().shape(), g.dv().shape());
            assertEquals(DType.F32, g.dq().dtype());
            return new Outcome(ref, SparseReference.canonical(g.dq(), dims, dims.queries(), layout),
                    SparseReference.canonical(g.dk(), dims, dims.keys(), layout),
                    SparseReference.canonical(g.dv(), dims, dims.keys(), layout), kept);
        }
    }

    private static void assertGradients(Outcome o, String what) {
        SparseReference.assertClose(o.expected().dq(), o.dq(), RTOL, ATOL_FRACTION, what + ": dq");
        SparseReference.assertClose(o.expected().dk(), o.dk(), RTOL, ATOL_FRACTION, what + ": dk");
        SparseReference.assertClose(o.expected().dv(), o.dv(), RTOL, ATOL_FRACTION, what + ": dv");
    }

    /**
     * Asserts dk = dv = 0 exactly on every key whose block no query block keeps, and that such keys exist (so the
     * check cannot pass vacuously).
     */
    private static void assertZeroThroughDroppedKeyBlocks(Outcome o, Dims dims) {
        int nqb = dims.queryBlocks();
        int nkb = dims.keyBlocks();
        int d = dims.headDim();
        int unkept = 0;
        for (int bh = 0; bh < dims.batch() * dims.heads(); bh++) {
            for (int j = 0; j < nkb; j++) {
                boolean any = false;
                for (int i = 0; i < nqb; i++) {
                    any |= o.kept()[(bh * nqb + i) * nkb + j];
                }
                if (any) {
                    continue;
                }
                unkept++;
                for (int t = j * dims.keyBlock(); t < Math.min(dims.keys(), (j + 1) * dims.keyBlock()); t++) {
                    for (int c = 0; c < d; c++) {
                        int idx = (bh * dims.keys() + t) * d + c;
                        assertEquals(0.0, o.dk()[idx], "dk of dropped key block " + j + " (bh " + bh + ")");
                        assertEquals(0.0, o.dv()[idx], "dv of dropped key block " + j + " (bh " + bh + ")");
                    }
                }
            }
        }
        assertTrue(unkept > 0, "the case must have a key block that no query block keeps");
    }

    @Test
    void hybridGradientsMatchAnalyticReferenceWithShortBlocks() {
        Dims dims = new Dims(2, 3, 300, 200, 64, 128, 64);
        try (Problem pr = SparseReference.problem(101, dims, BHND, DType.F32)) {
            double scale = (float) (1 / Math.sqrt(64));
            var config = new SparseAttention.Config(HYBRID, 0.25, 0.5, 128, 64, BHND, Float.NaN, null);
            boolean[] kept = SparseAttentionTest.rulesOnReferenceMap(pr, dims, scale, HYBRID, 0.25, 0.5);
            assertGradients(run(pr, config, kept, scale, DType.F32, 102), "hybrid 128x64");
        }
    }

    @Test
    void topkGradientsInBnhdWithOddHeadDimAndCustomScaleAreZeroThroughDroppedBlocks() {
        Dims dims = new Dims(2, 3, 300, 200, 33, 32, 16);
        try (Problem pr = SparseReference.problem(111, dims, BNHD, DType.F32)) {
            float scale = 0.23f;
            var config = new SparseAttention.Config(TOPK, 0.1, Double.NaN, 32, 16, BNHD, scale, null);
            boolean[] kept = SparseAttentionTest.rulesOnReferenceMap(pr, dims, scale, TOPK, 0.1, 1);
            Outcome o = run(pr, config, kept, scale, DType.F32, 112);
            assertGradients(o, "topk BNHD d33");
            assertZeroThroughDroppedKeyBlocks(o, dims);
        }
    }

    @Test
    void maskModeGradientsWithBf16InputsAreZeroThroughDroppedBlocks() {
        Dims dims = new Dims(2, 3, 300, 200, 64, 32, 16);
        boolean[] kept = SparseAttentionTest.randomMask(121, dims);
        try (Problem pr = SparseReference.problem(122, dims, BNHD, DType.BF16);
             Tensor mask = SparseAttentionTest.maskTensor(kept, dims, DType.BOOL)) {
            double scale = (float) (1 / Math.sqrt(64));
            var config = SparseAttention.Config.defaults().withBlocks(32, 16).withLayout(BNHD).withMask(mask);
            Outcome o = run(pr, config, kept, scale, DType.BF16, 123);
            assertGradients(o, "mask bf16");
            assertZeroThroughDroppedKeyBlocks(o, dims);
        }
    }

    @Test
    void denseGradientsWithMoreKeysThanQueries() {
        Dims dims = new Dims(2, 3, 90, 250, 128, 32, 64);
        try (Problem pr = SparseReference.problem(131, dims, BHND, DType.F32)) {
            double scale = (float) (1 / Math.sqrt(128));
            var config = SparseAttention.Config.defaults().withMode(DENSE).withBlocks(32, 64);
            boolean[] all = new boolean[dims.batch() * dims.heads() * dims.queryBlocks() * dims.keyBlocks()];
            java.util.Arrays.fill(all, true);
            assertGradients(run(pr, config, all, scale, DType.F32, 132), "dense 90x250");
        }
    }

    /** Tiny shapes: compare against float64 central differences of the masked reference (the mask is fixed). */
    @Test
    void gradientsMatchFiniteDifferencesOnTinyCases() {
        for (AttentionLayout layout : AttentionLayout.values()) {
            Dims dims = new Dims(1, 2, 7, 9, 5, 3, 4); // 3 x 3 blocks, both last blocks short
            boolean[] kept = {
                    true, false, false, // head 0: key block 1 kept by no row
                    false, false, true,
                    true, false, true,
                    false, true, false, // head 1
                    true, true, true,
                    false, false, true};
            try (Problem pr = SparseReference.problem(140 + layout.ordinal(), dims, layout, DType.F32);
                 Tensor mask = SparseAttentionTest.maskTensor(kept, dims, DType.U8)) {
                float scale = 0.37f;
                var config = SparseAttention.Config.defaults().withBlocks(3, 4).withLayout(layout).withScale(scale)
                        .withMask(mask);
                Outcome o = run(pr, config, kept, scale, DType.F32, 150);
                assertGradients(o, "tiny " + layout + " vs analytic");
                assertZeroThroughDroppedKeyBlocks(o, dims);
                // Finite differences of loss(q, k, v) = sum(out * dOut), all inputs in one vector.
                double[] dOut = SparseReference.gaussian(new SplittableRandom(150), 2 * 7 * 5, 1);
                double[] x = concat(pr.qd(), pr.kd(), pr.vd());
                int nq = pr.qd().length;
                int nk = pr.kd().length;
                double[] fd = GradCheck.gradient(z -> GradCheck.dot(dOut, SparseReference.attention(
                        java.util.Arrays.copyOfRange(z, 0, nq), java.util.Arrays.copyOfRange(z, nq, nq + nk),
                        java.util.Arrays.copyOfRange(z, nq + nk, nq + 2 * nk), kept, dims, scale).out()), x);
                SparseReference.assertClose(fd, concat(o.dq(), o.dk(), o.dv()), RTOL, ATOL_FRACTION,
                        "tiny " + layout + " vs finite differences");
            }
        }
    }

    private static double[] concat(double[]... parts) {
        int n = 0;
        for (double[] p : parts) {
            n += p.length;
        }
        double[] out = new double[n];
        int at = 0;
        for (double[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
