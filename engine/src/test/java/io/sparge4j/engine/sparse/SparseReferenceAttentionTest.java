package io.sparge4j.engine.sparse;

import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.sparse.SparseReference.Dims;
import io.sparge4j.engine.sparse.SparseReference.Problem;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ReferenceAttention (the benchmarks' yardstick for max_rel_err) against the test's own float64 model. Both are
 * float64 over the same values, differing only in summation order: 1e-12 relative.
 */
class SparseReferenceAttentionTest {
    @Test
    void matchesTheTestModelWithAndWithoutAMask() {
        Dims dims = new Dims(2, 3, 70, 45, 24, 16, 8);
        boolean[] kept = SparseAttentionTest.randomMask(401, dims);
        BlockMask mask = BlockMask.of(2, 3, new BlockGrid(70, 16), new BlockGrid(45, 8), kept);
        boolean[] all = new boolean[kept.length];
        Arrays.fill(all, true);
        try (Problem pr = SparseReference.problem(402, dims, AttentionLayout.BHND, DType.BF16)) {
            float scale = 0.3f;
            double[] sparse = ReferenceAttention.forward(pr.q(), pr.k(), pr.v(), mask, scale);
            SparseReference.assertClose(SparseReference.attention(pr.qd(), pr.kd(), pr.vd(), kept, dims, scale).out(),
                    sparse, 1e-12, 1e-12, "masked");
            double[] dense = ReferenceAttention.forward(pr.q(), pr.k(), pr.v(), null, scale);
            SparseReference.assertClose(SparseReference.attention(pr.qd(), pr.kd(), pr.vd(), all, dims, scale).out(),
                    dense, 1e-12, 1e-12, "dense");
            double[] row = ReferenceAttention.row(pr.q(), pr.k(), pr.v(), mask, scale, 1, 2, 69);
            int at = ((1 * 3 + 2) * 70 + 69) * 24;
            SparseReference.assertClose(Arrays.copyOfRange(sparse, at, at + 24), row, 0, 0, "row (1, 2, 69)");
        }
    }

    @Test
    void rejectsMismatchedInputs() {
        try (Tensor q = Tensor.zeros(1, 2, 10, 8);
             Tensor k = Tensor.zeros(1, 2, 12, 8);
             Tensor kBnhd = Tensor.zeros(1, 12, 2, 8);
             Tensor v = Tensor.zeros(1, 2, 11, 8)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ReferenceAttention.forward(q, kBnhd, kBnhd, null, 1f));
            assertTrue(e.getMessage().contains("ReferenceAttention: k has shape [1, 12, 2, 8], expected [1, 2, *, 8]"),
                    e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ReferenceAttention.forward(q, k, v, null, 1f));
            assertTrue(e.getMessage().contains("v has shape [1, 2, 11, 8], expected [1, 2, 12, 8]"), e.getMessage());
            BlockMask wrong = BlockMask.dense(1, 2, new BlockGrid(10, 4), new BlockGrid(13, 4));
            e = assertThrows(IllegalArgumentException.class, () -> ReferenceAttention.forward(q, k, k, wrong, 1f));
            assertTrue(e.getMessage().contains("mask is B=1 H=2 Nq=10 Nk=13, expected B=1 H=2 Nq=10 Nk=12"),
                    e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ReferenceAttention.row(q, k, k, null, 1f, 0, 2, 0));
            assertTrue(e.getMessage().contains("(b, h, row) is (0, 2, 0)"), e.getMessage());
        }
    }
}
