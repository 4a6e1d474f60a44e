package io.sparge4j.engine.sparse;

import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.sparse.SparseReference.Dims;
import io.sparge4j.engine.sparse.SparseReference.Problem;
import io.sparge4j.engine.tensor.DType;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Calibration on structured random inputs ({@link SparseReference#structured}: q and k share four directions whose
 * coefficients vary smoothly along the sequence, plus unit Gaussian noise), 1 x 2 heads x 2048 tokens, d = 32, in
 * 16 x 16 blocks (128 x 128 blocks per head, so one block of one row moves the sparsity by only 3e-5).
 */
class SparseCalibrationTest {
    private static final Dims DIMS = new Dims(1, 2, 2048, 2048, 32, 16, 16);
    private static final double TARGET = 0.95;

    private static PooledAttentionMap map() {
        try (Problem pr = SparseReference.problem(301, DIMS, AttentionLayout.BHND, DType.F32)) {
            return PooledAttentionMap.compute(pr.q(), pr.k(), 16, 16, (float) (1 / Math.sqrt(32)), AttentionLayout.BHND);
        }
    }

    @Test
    void hybridPCalibratesToTargetAndSparsityFallsMonotonicallyInP() {
        PooledAttentionMap map = map();
        double k = 0.03; // ceil(0.03 * 128) = 4 blocks per row: at most 96.9% sparse, so p must add the rest
        double previous = 1;
        for (int i = 1; i <= 100; i++) {
            double p = i / 100.0;
            double s = BlockSelector.select(map, MaskMode.HYBRID, k, p).sparsity();
            assertTrue(s <= previous, "sparsity must not rise with p: " + s + " at p = " + p + " after " + previous);
            previous = s;
        }
        assertEquals(0.0, previous, "p = 1 keeps everything");
        Calibration.Result r = Calibration.calibrateP(map, MaskMode.HYBRID, k, TARGET);
        assertEquals(k, r.k());
        assertTrue(r.p() > 0 && r.p() <= 1, "p in (0, 1]: " + r.p());
        assertEquals(TARGET, r.sparsity(), 0.005, "achieved sparsity at p = " + r.p());
        // The reported sparsity is what the rules give at the reported p.
        assertEquals(BlockSelector.select(map, MaskMode.HYBRID, k, r.p()).sparsity(), r.sparsity(), 0.0);
        // Top-p alone reaches the target as well.
        Calibration.Result topp = Calibration.calibrateP(map, MaskMode.TOPP, Double.NaN, TARGET);
        assertEquals(TARGET, topp.sparsity(), 0.005, "top-p alone at p = " + topp.p());
    }

    @Test
    void topkCalibratesToTargetAndSparsityFallsMonotonicallyInK() {
        PooledAttentionMap map = map();
        double previous = 1;
        for (int i = 1; i <= 100; i++) {
            double k = i / 100.0;
            double s = BlockSelector.select(map, MaskMode.TOPK, k, Double.NaN).sparsity();
            assertTrue(s <= previous, "sparsity must not rise with k");
            previous = s;
        }
        Calibration.Result r = Calibration.calibrateK(map, MaskMode.TOPK, Double.NaN, TARGET);
        // Every row keeps the same count, so sparsity moves in steps of 1/128: within half a step of the target.
        assertEquals(TARGET, r.sparsity(), 0.5 / 128 + 1e-12, "achieved sparsity at k = " + r.k());
        assertEquals(BlockSelector.select(map, MaskMode.TOPK, r.k(), 1).sparsity(), r.sparsity(), 0.0);
        Calibration.Result h = Calibration.calibrateK(map, MaskMode.HYBRID, 0.2, 0.9);
        assertEquals(0.2, h.p());
        assertEquals(0.9, h.sparsity(), 0.005, "hybrid k at p = 0.2");
    }
}
