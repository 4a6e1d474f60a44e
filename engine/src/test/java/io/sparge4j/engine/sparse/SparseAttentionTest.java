package io.sparge4j.engine.sparse;

import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.sparse.SparseReference.Dims;
import io.sparge4j.engine.sparse.SparseReference.Problem;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.SplittableRandom;
import java.util.stream.Stream;

import static io.sparge4j.engine.ops.AttentionLayout.BHND;
import static io.sparge4j.engine.ops.AttentionLayout.BNHD;
import static io.sparge4j.engine.sparse.MaskMode.DENSE;
import static io.sparge4j.engine.sparse.MaskMode.HYBRID;
import static io.sparge4j.engine.sparse.MaskMode.MASK;
import static io.sparge4j.engine.sparse.MaskMode.TOPK;
import static io.sparge4j.engine.sparse.MaskMode.TOPP;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SparseAttention's forward against the independent float64 model in {@link SparseReference}: the mask it used is
 * the one the rules imply (re-derived from a float64 pooled map), and output and logsumexp equal a masked dense
 * attention built from those kept flags.
 *
 * <p>Tolerances: out and lse within 1e-5 relative plus 1e-5 x max|ref| absolute (f32 accumulation over at most a
 * few hundred keys; outputs cross zero). bf16/f16 inputs are compared with a reference built from the rounded values,
 * so the same f32 tolerance applies.
 */
class SparseAttentionTest {
    private static final double RTOL = 1e-5;
    private static final double ATOL_FRACTION = 1e-5;
    /** The code keeps P in f32 (relative error 6e-8) and sums a row's f32 entries; decisions closer than this are ties. */
    private static final double DECISION_MARGIN = 1e-5;

    /** One forward case. {@code maskDtype} is the user mask's dtype in mode MASK (null otherwise). */
    record Case(String name, MaskMode mode, AttentionLayout layout, DType dtype, DType maskDtype, Dims dims, double k,
            double p, float scale) {
        @Override
        public String toString() {
            return name;
        }
    }

    private static Dims dims(int nq, int nk, int d, int bq, int bkv) {
        return new Dims(2, 3, nq, nk, d, bq, bkv);
    }

    static Stream<Case> cases() {
        float dflt = Float.NaN;
        return Stream.of(
                new Case("dense 300x200 d64 128x64 BHND", DENSE, BHND, DType.F32, null, dims(300, 200, 64, 128, 64), 0, 0, dflt),
                new Case("dense 300x200 d128 BNHD", DENSE, BNHD, DType.F32, null, dims(300, 200, 128, 128, 64), 0, 0, dflt),
                new Case("topk 300x200 d64 32x16 BHND", TOPK, BHND, DType.F32, null, dims(300, 200, 64, 32, 16), 0.2, Double.NaN, dflt),
                new Case("topk 300x200 d64 32x16 BNHD f16", TOPK, BNHD, DType.F16, null, dims(300, 200, 64, 32, 16), 0.3, Double.NaN, dflt),
                new Case("topp 300x200 d64 32x16 BNHD", TOPP, BNHD, DType.F32, null, dims(300, 200, 64, 32, 16), Double.NaN, 0.6, dflt),
                new Case("topp 90x250 d64 32x64 BHND", TOPP, BHND, DType.F32, null, dims(90, 250, 64, 32, 64), Double.NaN, 0.45, dflt),
                new Case("hybrid 300x200 d128 128x64 BHND", HYBRID, BHND, DType.F32, null, dims(300, 200, 128, 128, 64), 0.25, 0.5, dflt),
                new Case("hybrid 300x200 d128 32x16 BNHD", HYBRID, BNHD, DType.F32, null, dims(300, 200, 128, 32, 16), 0.15, 0.5, dflt),
                new Case("hybrid 300x200 d33 32x16 scale 0.21", HYBRID, BHND, DType.F32, null, dims(300, 200, 33, 32, 16), 0.1, 0.4, 0.21f),
                new Case("hybrid 300x200 d64 32x16 BNHD bf16", HYBRID, BNHD, DType.BF16, null, dims(300, 200, 64, 32, 16), 0.15, 0.5, dflt),
                new Case("hybrid 300x200 d64 128x64 BHND f16 scale 0.3", HYBRID, BHND, DType.F16, null, dims(300, 200, 64, 128, 64), 0.25, 0.3, 0.3f),
                new Case("mask u8 300x200 d64 128x64 BHND", MASK, BHND, DType.F32, DType.U8, dims(300, 200, 64, 128, 64), 0, 0, dflt),
                new Case("mask bool 300x200 d48 32x16 BNHD", MASK, BNHD, DType.F32, DType.BOOL, dims(300, 200, 48, 32, 16), 0, 0, dflt),
                new Case("mask u8 300x200 d64 32x16 BNHD bf16", MASK, BNHD, DType.BF16, DType.U8, dims(300, 200, 64, 32, 16), 0, 0, 0.2f),
                // Awkward tiles: key blocks larger than query blocks, d not a multiple of the vector width, d at its
                // maximum of 256, blocks of 1 to 7 tokens, a single query or key.
                new Case("topp 300x200 d65 48x80 BNHD", TOPP, BNHD, DType.F32, null, dims(300, 200, 65, 48, 80), Double.NaN, 0.55, dflt),
                new Case("hybrid 37x41 d256 5x7 BHND", HYBRID, BHND, DType.F32, null, dims(37, 41, 256, 5, 7), 0.2, 0.3, dflt),
                new Case("topk 1x29 d7 1x3 BNHD", TOPK, BNHD, DType.F32, null, dims(1, 29, 7, 1, 3), 0.3, Double.NaN, dflt),
                new Case("mask bool 23x1 d16 4x1 BHND", MASK, BHND, DType.F32, DType.BOOL, dims(23, 1, 16, 4, 1), 0, 0, dflt),
                new Case("dense 50x60 d16 blocks larger than N", DENSE, BHND, DType.F32, null, dims(50, 60, 16, 128, 64), 0, 0, dflt),
                new Case("mask u8 40x50 d1 8x8 BNHD", MASK, BNHD, DType.F32, DType.U8, dims(40, 50, 1, 8, 8), 0, 0, dflt),
                new Case("hybrid B3 H5 64x96 d16 16x16 BNHD", HYBRID, BNHD, DType.F32, null, new Dims(3, 5, 64, 96, 16, 16, 16), 0.2, 0.4, dflt));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void forwardMatchesMaskedDenseReference(Case c) {
        Dims dims = c.dims();
        try (Problem pr = SparseReference.problem(c.name().hashCode(), dims, c.layout(), c.dtype())) {
            double scale = Float.isNaN(c.scale()) ? (float) (1 / Math.sqrt(dims.headDim())) : c.scale();
            SparseAttention.Config config = new SparseAttention.Config(c.mode() == MASK ? DENSE : c.mode(), c.k(), c.p(), dims.queryBlock(),
                    dims.keyBlock(), c.layout(), c.scale(), null);
            boolean[] expected;
            Tensor maskTensor = null;
            if (c.mode() == MASK) {
                expected = randomMask(c.name().hashCode() + 1, dims);
                maskTensor = maskTensor(expected, dims, c.maskDtype());
                config = config.withMask(maskTensor);
            } else {
                expected = rulesOnReferenceMap(pr, dims, scale, c.mode(), c.k(), c.p());
            }
            try (SparseAttention.Result r = SparseAttention.forward(pr.q(), pr.k(), pr.v(), config)) {
                assertArrayEquals(expected, SparseReference.flags(r.selection().mask()), c + ": kept flags");
                assertEquals(DType.F32, r.out().dtype());
                assertArrayEquals(pr.q().shape(), r.out().shape(), "out has q's shape and layout");
                assertArrayEquals(new int[] {dims.batch(), dims.heads(), dims.queries()}, r.logsumexp().shape());
                SparseReference.Forward ref = SparseReference.attention(pr.qd(), pr.kd(), pr.vd(), expected, dims, scale);
                SparseReference.assertClose(ref.out(),
                        SparseReference.canonical(r.out(), dims, dims.queries(), c.layout()), RTOL, ATOL_FRACTION, c + ": out");
                SparseReference.assertClose(ref.lse(), r.logsumexp().toDoubleArray(), RTOL, ATOL_FRACTION, c + ": lse");
            } finally {
                if (maskTensor != null) {
                    maskTensor.close();
                }
            }
        }
    }

    /** Top-k / Top-p / hybrid sets from a float64 pooled map, after checking the inputs have no near-ties. */
    static boolean[] rulesOnReferenceMap(Problem pr, Dims dims, double scale, MaskMode mode, double k, double p) {
        double[] map = SparseReference.pooledMap(pr.qd(), pr.kd(), dims, scale);
        int rows = dims.batch() * dims.heads() * dims.queryBlocks();
        if (mode != DENSE) {
            double[] m = SparseReference.margins(map, rows, dims.keyBlocks(), mode == TOPK ? 1 : p);
            assertTrue(m[0] > DECISION_MARGIN, "test inputs have a near-tie in the pooled map: " + m[0]);
            assertTrue(m[1] > DECISION_MARGIN, "test inputs have a prefix mass within " + m[1] + " of p");
        }
        return SparseReference.select(map, rows, dims.keyBlocks(), mode, k, p);
    }

    /** Random kept flags (about 40%), at least one per row, and key block 1 kept by no row of (b=0, h=1). */
    static boolean[] randomMask(long seed, Dims dims) {
        SplittableRandom rng = new SplittableRandom(seed);
        int nqb = dims.queryBlocks();
        int nkb = dims.keyBlocks();
        boolean[] kept = new boolean[dims.batch() * dims.heads() * nqb * nkb];
        for (int r = 0; r < kept.length / nkb; r++) {
            boolean emptyColumn = r / nqb == 1;
            int forced = rng.nextInt(nkb);
            if (emptyColumn && forced == 1) {
                forced = 0;
            }
            kept[r * nkb + forced] = true;
            for (int j = 0; j < nkb; j++) {
                if (rng.nextDouble() < 0.4 && !(emptyColumn && j == 1)) {
                    kept[r * nkb + j] = true;
                }
            }
        }
        return kept;
    }

    static Tensor maskTensor(boolean[] kept, Dims dims, DType dtype) {
        Tensor t = Tensor.allocate(dtype, dims.batch(), dims.heads(), dims.queryBlocks(), dims.keyBlocks());
        for (int i = 0; i < kept.length; i++) {
            // u8 masks: any nonzero byte means kept, so use 1, 7 and 255
            t.setLong(i, kept[i] ? (dtype == DType.U8 ? new int[] {1, 7, 255}[i % 3] : 1) : 0);
        }
        return t;
    }

    @Test
    void tinyTopkKeepsExactlyOneBlockPerRowAndIgnoresP() {
        Dims dims = dims(300, 200, 64, 32, 16);
        try (Problem pr = SparseReference.problem(11, dims, BHND, DType.F32)) {
            double scale = (float) (1 / Math.sqrt(64));
            // p is NaN: Top-k mode must not look at it.
            var config = new SparseAttention.Config(TOPK, 1e-3, Double.NaN, 32, 16, BHND, Float.NaN, null);
            boolean[] expected = rulesOnReferenceMap(pr, dims, scale, TOPK, 1e-3, 1);
            try (SparseAttention.Result r = SparseAttention.forward(pr.q(), pr.k(), pr.v(), config)) {
                assertEquals(1, r.statistics().keptPerRowMin());
                assertEquals(1, r.statistics().keptPerRowMax());
                assertArrayEquals(expected, SparseReference.flags(r.selection().mask()));
                SparseReference.Forward ref = SparseReference.attention(pr.qd(), pr.kd(), pr.vd(), expected, dims, scale);
                SparseReference.assertClose(ref.out(), r.out().toDoubleArray(), RTOL, ATOL_FRACTION, "out");
                SparseReference.assertClose(ref.lse(), r.logsumexp().toDoubleArray(), RTOL, ATOL_FRACTION, "lse");
            }
        }
    }

    @Test
    void rowsKeepingOnlyAOneTokenLastBlockReturnThatTokensValue() {
        // Nk = 193 in blocks of 16: the last key block holds one token. Softmax over one key is exactly 1, so out is
        // that token's value and lse its scaled score; padded key slots must contribute nothing.
        Dims dims = new Dims(2, 3, 70, 193, 40, 32, 16);
        int nkb = dims.keyBlocks();
        boolean[] kept = new boolean[dims.batch() * dims.heads() * dims.queryBlocks() * nkb];
        for (int r = 0; r < kept.length / nkb; r++) {
            kept[r * nkb + nkb - 1] = true;
        }
        for (AttentionLayout layout : AttentionLayout.values()) {
            try (Problem pr = SparseReference.problem(41, dims, layout, DType.F32);
                 Tensor mask = maskTensor(kept, dims, DType.U8)) {
                var config = SparseAttention.Config.defaults().withBlocks(32, 16).withLayout(layout).withMask(mask);
                try (SparseAttention.Result r = SparseAttention.forward(pr.q(), pr.k(), pr.v(), config)) {
                    double[] out = SparseReference.canonical(r.out(), dims, dims.queries(), layout);
                    float[] lse = r.logsumexp().toFloatArray();
                    double scale = (float) (1 / Math.sqrt(40));
                    int d = dims.headDim();
                    for (int bh = 0; bh < 6; bh++) {
                        int last = (bh * dims.keys() + dims.keys() - 1) * d;
                        for (int i = 0; i < dims.queries(); i++) {
                            double score = 0;
                            for (int c = 0; c < d; c++) {
                                assertEquals(pr.vd()[last + c], out[(bh * dims.queries() + i) * d + c], 1e-6,
                                        layout + " out of query " + i);
                                score += pr.qd()[(bh * dims.queries() + i) * d + c] * pr.kd()[last + c];
                            }
                            assertEquals(score * scale, lse[bh * dims.queries() + i], 1e-5 * (1 + Math.abs(score)));
                        }
                    }
                }
            }
        }
    }

    @Test
    void largeLogitsStayAccurate() {
        // scale 2 on d = 64: token scores reach the hundreds, so the online softmax must rescale without overflow.
        // lse is of the order of 100, so its absolute error is ~1e-5 * 100; out keeps the usual tolerance.
        Dims dims = dims(300, 200, 64, 32, 16);
        try (Problem pr = SparseReference.problem(51, dims, BNHD, DType.F32)) {
            var config = new SparseAttention.Config(HYBRID, 0.1, 0.5, 32, 16, BNHD, 2f, null);
            boolean[] expected = rulesOnReferenceMap(pr, dims, 2.0, HYBRID, 0.1, 0.5);
            try (SparseAttention.Result r = SparseAttention.forward(pr.q(), pr.k(), pr.v(), config)) {
                assertArrayEquals(expected, SparseReference.flags(r.selection().mask()));
                SparseReference.Forward ref = SparseReference.attention(pr.qd(), pr.kd(), pr.vd(), expected, dims, 2.0);
                assertTrue(SparseReference.maxAbs(ref.lse()) > 50, "the case must have large logits");
                SparseReference.assertClose(ref.out(), SparseReference.canonical(r.out(), dims, dims.queries(), BNHD),
                        1e-4, 1e-4, "out");
                SparseReference.assertClose(ref.lse(), r.logsumexp().toDoubleArray(), 1e-6, 1e-6, "lse");
            }
        }
    }

    @Test
    void resultsDoNotDependOnTheThreadCount() {
        Dims dims = dims(300, 200, 64, 32, 16);
        int threads = io.sparge4j.engine.cpu.CpuRuntime.threads();
        try (Problem pr = SparseReference.problem(61, dims, BHND, DType.F32);
             Tensor dOut = Tensor.randn(62, pr.q().shape())) {
            var config = SparseAttention.Config.defaults().withBlocks(32, 16).withTopk(0.1).withTopp(0.5);
            float[][] many = run(pr, dOut, config);
            io.sparge4j.engine.cpu.CpuRuntime.setThreads(1);
            float[][] one = run(pr, dOut, config);
            for (int i = 0; i < many.length; i++) {
                assertArrayEquals(many[i], one[i], "output " + i + " with 1 thread vs " + threads);
            }
        } finally {
            io.sparge4j.engine.cpu.CpuRuntime.setThreads(threads);
        }
    }

    private static float[][] run(Problem pr, Tensor dOut, SparseAttention.Config config) {
        try (SparseAttention.Result r = SparseAttention.forward(pr.q(), pr.k(), pr.v(), config);
             var g = SparseAttention.backward(dOut, pr.q(), pr.k(), pr.v(), r, config)) {
            return new float[][] {r.out().toFloatArray(), r.logsumexp().toFloatArray(), g.dq().toFloatArray(),
                    g.dk().toFloatArray(), g.dv().toFloatArray()};
        }
    }

    @Test
    void hybridWithPOneEqualsDense() {
        Dims dims = dims(300, 200, 64, 32, 16);
        try (Problem pr = SparseReference.problem(12, dims, BNHD, DType.F32)) {
            var hybrid = new SparseAttention.Config(HYBRID, 0.03, 1.0, 32, 16, BNHD, Float.NaN, null);
            try (SparseAttention.Result h = SparseAttention.forward(pr.q(), pr.k(), pr.v(), hybrid);
                 SparseAttention.Result d = SparseAttention.forward(pr.q(), pr.k(), pr.v(), hybrid.withMode(DENSE))) {
                assertEquals(0.0, h.statistics().sparsity());
                assertEquals(dims.keyBlocks(), h.statistics().keptPerRowMin());
                assertArrayEquals(SparseReference.flags(d.selection().mask()), SparseReference.flags(h.selection().mask()));
                // Same tiles, so equal up to summation order (a dense fast path may order them differently).
                SparseReference.assertClose(d.out().toDoubleArray(), h.out().toDoubleArray(), 1e-6, 1e-6, "out");
                SparseReference.assertClose(d.logsumexp().toDoubleArray(), h.logsumexp().toDoubleArray(), 1e-6, 1e-6, "lse");
            }
        }
    }

    @Test
    void keysOfDroppedBlocksDoNotAffectTheOutput() {
        Dims dims = dims(300, 200, 64, 32, 16);
        boolean[] kept = randomMask(21, dims);
        try (Problem pr = SparseReference.problem(22, dims, BHND, DType.F32);
             Tensor mask = maskTensor(kept, dims, DType.U8)) {
            var config = SparseAttention.Config.defaults().withBlocks(32, 16).withMask(mask);
            try (SparseAttention.Result before = SparseAttention.forward(pr.q(), pr.k(), pr.v(), config)) {
                // Overwrite keys and values of key block 1 in (b=0, h=1), which no query block keeps, with huge values.
                int nk = dims.keys();
                int d = dims.headDim();
                for (int t = 16; t < 32; t++) {
                    for (int c = 0; c < d; c++) {
                        long i = ((long) (0 * dims.heads() + 1) * nk + t) * d + c;
                        pr.k().setFloat(i, 1e4f);
                        pr.v().setFloat(i, -1e4f);
                    }
                }
                try (SparseAttention.Result after = SparseAttention.forward(pr.q(), pr.k(), pr.v(), config)) {
                    assertArrayEquals(before.out().toFloatArray(), after.out().toFloatArray());
                    assertArrayEquals(before.logsumexp().toFloatArray(), after.logsumexp().toFloatArray());
                }
            }
        }
    }

    @Test
    void prebuiltSelectionGivesTheSameResultAsBuildingIt() {
        Dims dims = dims(300, 200, 64, 32, 16);
        try (Problem pr = SparseReference.problem(31, dims, BHND, DType.F32)) {
            var config = SparseAttention.Config.defaults().withBlocks(32, 16).withTopk(0.1).withTopp(0.5);
            SparseAttention.Selection s = SparseAttention.selectBlocks(pr.q(), pr.k(), config);
            try (SparseAttention.Result a = SparseAttention.forward(pr.q(), pr.k(), pr.v(), s, config);
                 SparseAttention.Result b = SparseAttention.forward(pr.q(), pr.k(), pr.v(), config)) {
                assertArrayEquals(SparseReference.flags(s.mask()), SparseReference.flags(b.selection().mask()));
                assertArrayEquals(a.out().toFloatArray(), b.out().toFloatArray());
            }
        }
    }
}
