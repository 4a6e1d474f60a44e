package io.sparge4j.engine.sparse;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Selection rules on hand-built rows: one head, one query block, nk key blocks. */
class BlockSelectorTest {
    private static PooledAttentionMap row(float... probs) {
        return PooledAttentionMap.ofProbabilities(1, 1, new BlockGrid(1, 1), new BlockGrid(probs.length, 1), probs);
    }

    private static int[] keptBlocks(BlockMask m) {
        return java.util.Arrays.copyOfRange(m.rowBlocks(), m.rowStart()[0], m.rowStart()[1]);
    }

    @Test
    void topkCountRoundsUpWithEpsilonAndKeepsAtLeastOne() {
        assertEquals(7, BlockSelector.topkCount(0.07, 100)); // 0.07*100 = 7.000000000000001 in binary
        assertEquals(8, BlockSelector.topkCount(0.0701, 100));
        assertEquals(1, BlockSelector.topkCount(0.001, 10)); // k*nk < 1 still keeps one block
        assertEquals(10, BlockSelector.topkCount(1.0, 10));
        assertEquals(2, BlockSelector.topkCount(0.03, 64)); // the paper's k = 0.03 on 64 blocks: ceil(1.92)
    }

    @Test
    void topkTakesLargestAndBreaksTiesByLowerIndex() {
        BlockMask m = BlockSelector.select(row(0.1f, 0.3f, 0.1f, 0.3f, 0.2f), MaskMode.TOPK, 0.4, 1);
        assertArrayEquals(new int[] {1, 3}, keptBlocks(m));
        m = BlockSelector.select(row(0.25f, 0.25f, 0.25f, 0.25f), MaskMode.TOPK, 0.5, 1);
        assertArrayEquals(new int[] {0, 1}, keptBlocks(m), "ties go to the lower block index");
    }

    @Test
    void toppKeepsTheEntryThatCrossesP() {
        float[] p = {0.05f, 0.5f, 0.3f, 0.15f};
        // descending: 0.5 (1), 0.3 (2), 0.15 (3), 0.05 (0)
        assertArrayEquals(new int[] {1}, keptBlocks(BlockSelector.select(row(p), MaskMode.TOPP, 0, 0.4)));
        assertArrayEquals(new int[] {1}, keptBlocks(BlockSelector.select(row(p), MaskMode.TOPP, 0, 0.5)),
                "preceding mass 0.5 is not below p = 0.5, so the second entry is dropped");
        assertArrayEquals(new int[] {1, 2}, keptBlocks(BlockSelector.select(row(p), MaskMode.TOPP, 0, 0.51)));
        assertArrayEquals(new int[] {1, 2, 3}, keptBlocks(BlockSelector.select(row(p), MaskMode.TOPP, 0, 0.9)));
        assertArrayEquals(new int[] {0, 1, 2, 3}, keptBlocks(BlockSelector.select(row(p), MaskMode.TOPP, 0, 1.0)));
    }

    @Test
    void toppWithPOneKeepsRowEvenWhenMassFallsShortOfOne() {
        // The float sum of these is below 1; p = 1 must still keep the whole row.
        float[] p = {0.3333333f, 0.3333333f, 0.3333333f, 0f};
        assertEquals(4, BlockSelector.select(row(p), MaskMode.TOPP, 0, 1.0).keptBlocks());
    }

    @Test
    void hybridIsTheUnionOnFlatAndSinkRows() {
        // Sink row: Top-p (0.5) keeps only the sink; Top-k (2 of 5) adds the next block.
        float[] sink = {0.9f, 0.04f, 0.03f, 0.02f, 0.01f};
        assertArrayEquals(new int[] {0}, keptBlocks(BlockSelector.select(row(sink), MaskMode.TOPP, 0, 0.5)));
        assertArrayEquals(new int[] {0, 1}, keptBlocks(BlockSelector.select(row(sink), MaskMode.HYBRID, 0.4, 0.5)));
        // Flat row: Top-k (1 of 5) keeps one; Top-p (0.5) needs three.
        float[] flat = {0.22f, 0.2f, 0.2f, 0.19f, 0.19f};
        assertArrayEquals(new int[] {0}, keptBlocks(BlockSelector.select(row(flat), MaskMode.TOPK, 0.2, 0.5)));
        assertArrayEquals(new int[] {0, 1, 2}, keptBlocks(BlockSelector.select(row(flat), MaskMode.HYBRID, 0.2, 0.5)));
    }

    @Test
    void hybridEqualsUnionOfRulesOnRandomMaps() {
        SplittableRandom rng = new SplittableRandom(7);
        int nq = 5;
        int nk = 13;
        float[] probs = new float[2 * 3 * nq * nk];
        for (int r = 0; r < probs.length / nk; r++) {
            double sum = 0;
            for (int j = 0; j < nk; j++) {
                probs[r * nk + j] = (float) Math.exp(3 * rng.nextGaussian());
                sum += probs[r * nk + j];
            }
            for (int j = 0; j < nk; j++) {
                probs[r * nk + j] /= (float) sum;
            }
        }
        PooledAttentionMap map = PooledAttentionMap.ofProbabilities(2, 3, new BlockGrid(nq * 10, 10),
                new BlockGrid(nk * 7 - 3, 7), probs);
        BlockMask k = BlockSelector.select(map, MaskMode.TOPK, 0.1, 1);
        BlockMask p = BlockSelector.select(map, MaskMode.TOPP, 1, 0.6);
        BlockMask h = BlockSelector.select(map, MaskMode.HYBRID, 0.1, 0.6);
        for (int b = 0; b < 2; b++) {
            for (int hh = 0; hh < 3; hh++) {
                for (int i = 0; i < nq; i++) {
                    assertTrue(k.keptInRow(b, hh, i) == 2, "ceil(0.1 * 13) = 2");
                    for (int j = 0; j < nk; j++) {
                        assertEquals(k.kept(b, hh, i, j) || p.kept(b, hh, i, j), h.kept(b, hh, i, j));
                    }
                }
            }
        }
    }

    @Test
    void transposeListsMatchTheRows() {
        SplittableRandom rng = new SplittableRandom(3);
        BlockGrid qg = new BlockGrid(70, 16); // 5 query blocks, the last one short
        BlockGrid kg = new BlockGrid(45, 8); // 6 key blocks, the last one short
        boolean[] kept = new boolean[2 * 2 * 5 * 6];
        for (int i = 0; i < kept.length; i++) {
            kept[i] = rng.nextDouble() < 0.4;
        }
        BlockMask m = BlockMask.of(2, 2, qg, kg, kept);
        for (int bh = 0; bh < 4; bh++) {
            for (int j = 0; j < 6; j++) {
                int c = bh * 6 + j;
                int expectedCount = 0;
                for (int i = 0; i < 5; i++) {
                    if (kept[(bh * 5 + i) * 6 + j]) {
                        expectedCount++;
                    }
                }
                assertEquals(expectedCount, m.colStart()[c + 1] - m.colStart()[c]);
                for (int e = m.colStart()[c]; e < m.colStart()[c + 1]; e++) {
                    assertTrue(kept[(bh * 5 + m.colBlocks()[e]) * 6 + j]);
                }
            }
        }
        // Area-weighted sparsity against a token-level count.
        for (int b = 0; b < 2; b++) {
            for (int h = 0; h < 2; h++) {
                long keptPairs = 0;
                for (int q = 0; q < 70; q++) {
                    for (int k = 0; k < 45; k++) {
                        if (m.kept(b, h, q / 16, k / 8)) {
                            keptPairs++;
                        }
                    }
                }
                assertEquals(1 - keptPairs / (70.0 * 45), m.sparsity(b, h), 1e-12);
            }
        }
    }

    @Test
    void maskTensorRoundTripsAndIsValidated() {
        BlockGrid qg = new BlockGrid(10, 4);
        BlockGrid kg = new BlockGrid(9, 3);
        boolean[] kept = {true, false, false, false, true, true, true, true, true};
        BlockMask m = BlockMask.of(1, 1, qg, kg, kept);
        Tensor t = m.toTensor();
        assertEquals(DType.U8, t.dtype());
        BlockMask back = BlockMask.fromTensor(t, 1, 1, qg, kg);
        assertArrayEquals(m.rowBlocks(), back.rowBlocks());
        assertArrayEquals(m.rowStart(), back.rowStart());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BlockMask.fromTensor(Tensor.allocate(DType.U8, 1, 1, 3, 4), 1, 1, qg, kg));
        assertTrue(e.getMessage().contains("expected [1, 1, 3, 3]"), e.getMessage());
        Tensor empty = Tensor.allocate(DType.BOOL, 1, 1, 3, 3);
        empty.setLong(0, 1);
        empty.setLong(5, 1);
        e = assertThrows(IllegalArgumentException.class, () -> BlockMask.fromTensor(empty, 1, 1, qg, kg));
        assertTrue(e.getMessage().contains("query block 2") && e.getMessage().contains("keeps no key block"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> BlockMask.fromTensor(Tensor.zeros(1, 1, 3, 3), 1, 1, qg, kg));
        assertTrue(e.getMessage().contains("expected u8 or bool"), e.getMessage());
    }

    @Test
    void badFractionsAreRejected() {
        PooledAttentionMap map = row(0.5f, 0.5f);
        for (double bad : new double[] {0, -0.1, 1.5, Double.NaN}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> BlockSelector.select(map, MaskMode.TOPK, bad, 0.5));
            assertTrue(e.getMessage().startsWith("topk: got"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> BlockSelector.select(map, MaskMode.HYBRID, 0.5, bad));
            assertTrue(e.getMessage().startsWith("topp: got"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> new BlockGrid(10, 0));
        assertFalse(BlockSelector.select(map, MaskMode.DENSE, 0, 0).keptBlocks() != 2);
    }
}
