package io.sparge4j.engine.sparse;

import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.sparse.SparseReference.Dims;
import io.sparge4j.engine.sparse.SparseReference.Problem;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * MaskStatistics against counts made in the test: sparsity from a token-by-token count over the kept flags (so short
 * last blocks weigh by their true area), kept blocks per row, and retained pooled mass from a float64 pooled map.
 *
 * <p>Tolerances: sparsities are ratios of exact integer counts, so 1e-12; retained mass sums the code's f32 map
 * (relative error 6e-8 per entry), so 1e-6.
 */
class SparseMaskStatisticsTest {
    /** Sparsity of each (b, h) by counting kept (query, key) token pairs one by one. */
    private static double[] tokenSparsity(boolean[] kept, Dims dims) {
        int nqb = dims.queryBlocks();
        int nkb = dims.keyBlocks();
        double[] s = new double[dims.batch() * dims.heads()];
        for (int bh = 0; bh < s.length; bh++) {
            long keptPairs = 0;
            for (int tq = 0; tq < dims.queries(); tq++) {
                for (int tk = 0; tk < dims.keys(); tk++) {
                    if (kept[(bh * nqb + tq / dims.queryBlock()) * nkb + tk / dims.keyBlock()]) {
                        keptPairs++;
                    }
                }
            }
            s[bh] = 1 - (double) keptPairs / ((long) dims.queries() * dims.keys());
        }
        return s;
    }

    private static void assertSparsity(MaskStatistics st, boolean[] kept, Dims dims) {
        double[] perBh = tokenSparsity(kept, dims);
        double overall = 0;
        for (int h = 0; h < dims.heads(); h++) {
            double head = 0;
            for (int b = 0; b < dims.batch(); b++) {
                head += perBh[b * dims.heads() + h] / dims.batch();
            }
            assertEquals(head, st.sparsityPerHead()[h], 1e-12, "sparsity of head " + h);
            overall += head / dims.heads();
        }
        assertEquals(dims.heads(), st.sparsityPerHead().length);
        assertEquals(overall, st.sparsity(), 1e-12, "overall sparsity");
        int nkb = dims.keyBlocks();
        int rows = kept.length / nkb;
        int min = Integer.MAX_VALUE;
        int max = 0;
        long total = 0;
        for (int r = 0; r < rows; r++) {
            int n = 0;
            for (int j = 0; j < nkb; j++) {
                n += kept[r * nkb + j] ? 1 : 0;
            }
            min = Math.min(min, n);
            max = Math.max(max, n);
            total += n;
        }
        assertEquals(min, st.keptPerRowMin());
        assertEquals(max, st.keptPerRowMax());
        assertEquals((double) total / rows, st.keptPerRowMean(), 1e-12);
    }

    @Test
    void hybridStatisticsMatchCountsAndTheFloat64PooledMap() {
        // 300 x 200 tokens in 32 x 16 blocks: both last blocks short (12 and 8 tokens), so areas differ.
        Dims dims = new Dims(2, 3, 300, 200, 64, 32, 16);
        for (AttentionLayout layout : AttentionLayout.values()) {
            try (Problem pr = SparseReference.problem(201, dims, layout, DType.F32)) {
                double scale = (float) (1 / Math.sqrt(64));
                var config = SparseAttention.Config.defaults().withBlocks(32, 16).withLayout(layout).withTopk(0.1)
                        .withTopp(0.5);
                SparseAttention.Selection s = SparseAttention.selectBlocks(pr.q(), pr.k(), config);
                boolean[] kept = SparseAttentionTest.rulesOnReferenceMap(pr, dims, scale, MaskMode.HYBRID, 0.1, 0.5);
                assertArrayEquals(kept, SparseReference.flags(s.mask()));
                MaskStatistics st = s.statistics();
                assertSparsity(st, kept, dims);
                assertTrue(st.keptPerRowMin() < st.keptPerRowMax(), "the case should have rows of different lengths");

                double[] map = SparseReference.pooledMap(pr.qd(), pr.kd(), dims, scale);
                int nkb = dims.keyBlocks();
                int rows = kept.length / nkb;
                double massMin = Double.POSITIVE_INFINITY;
                double massMax = 0;
                double massSum = 0;
                for (int r = 0; r < rows; r++) {
                    double mass = 0;
                    for (int j = 0; j < nkb; j++) {
                        mass += kept[r * nkb + j] ? map[r * nkb + j] : 0;
                    }
                    assertTrue(mass >= 0.5, "Top-p 0.5 keeps at least half the mass of every row");
                    massMin = Math.min(massMin, mass);
                    massMax = Math.max(massMax, mass);
                    massSum += mass;
                }
                assertEquals(massMin, st.retainedMassMin(), 1e-6);
                assertEquals(massMax, st.retainedMassMax(), 1e-6);
                assertEquals(massSum / rows, st.retainedMassMean(), 1e-6);
                // The map handed back is the float64 map rounded to f32.
                for (int i = 0; i < map.length; i += 7) {
                    int nqb = dims.queryBlocks();
                    int r = i / nkb;
                    assertEquals(map[i], s.pooledMap().prob(r / nqb / 3, r / nqb % 3, r % nqb, i % nkb),
                            1e-6 * map[i] + 1e-12);
                }
            }
        }
    }

    @Test
    void userMaskAndDenseStatistics() {
        Dims dims = new Dims(2, 3, 300, 200, 64, 32, 16);
        boolean[] kept = SparseAttentionTest.randomMask(211, dims);
        try (Problem pr = SparseReference.problem(212, dims, AttentionLayout.BHND, DType.F32);
             Tensor mask = SparseAttentionTest.maskTensor(kept, dims, DType.U8)) {
            var config = SparseAttention.Config.defaults().withBlocks(32, 16).withMask(mask);
            SparseAttention.Selection s = SparseAttention.selectBlocks(pr.q(), pr.k(), config);
            assertArrayEquals(kept, SparseReference.flags(s.mask()));
            assertSparsity(s.statistics(), kept, dims);
            assertTrue(Double.isNaN(s.statistics().retainedMassMean()), "no pooled map, no retained mass");
            assertEquals(null, s.pooledMap());

            SparseAttention.Selection d = SparseAttention.selectBlocks(pr.q(), pr.k(), config.withMode(MaskMode.DENSE));
            assertEquals(0.0, d.statistics().sparsity());
            assertEquals(dims.keyBlocks(), d.statistics().keptPerRowMin());
            assertEquals(dims.keyBlocks(), d.statistics().keptPerRowMax());
        }
    }
}
