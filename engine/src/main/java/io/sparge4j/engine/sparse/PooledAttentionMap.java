package io.sparge4j.engine.sparse;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.ops.Check;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;


/**
 * The pooled attention map P = softmax_rowwise(mean-pooled Q · mean-pooled K^T · scale), one row per query block
 * and one column per key block, for every (batch, head). Short last blocks are pooled over their true length.
 *
 * <p>Pooling and the softmax run in float64; P is kept in float32. Each row's key blocks are also kept sorted by
 * descending P, ties broken by the lower block index, which is the order Top-k and Top-p both walk.
 */
public final class PooledAttentionMap {
    private final int batch;
    private final int heads;
    private final BlockGrid queryGrid;
    private final BlockGrid keyGrid;
    private final float[] probs;
    private final int[] order;

    private PooledAttentionMap(int batch, int heads, BlockGrid queryGrid, BlockGrid keyGrid, float[] probs, int[] order) {
        this.batch = batch;
        this.heads = heads;
        this.queryGrid = queryGrid;
        this.keyGrid = keyGrid;
        this.probs = probs;
        this.order = order;
    }

    /**
     * Builds the pooled map.
     *
     * @param q queries, (B,H,Nq,d) or, in the BNHD layout, (B,Nq,H,d); f32, bf16 or f16
     * @param k keys in the same layout, (B,H,Nk,d) or (B,Nk,H,d)
     * @param queryBlock tokens per query block (paper: 128)
     * @param keyBlock tokens per key block (paper: 64)
     * @param scale softmax scale (usually 1/sqrt(d))
     * @param layout the memory order of q and k
     * @return the map
     */
    public static PooledAttentionMap compute(Tensor q, Tensor k, int queryBlock, int keyBlock, float scale,
            AttentionLayout layout) {
        boolean tokensBeforeHeads = layout == AttentionLayout.BNHD;
        String op = "PooledAttentionMap";
        Check.floating(op, "q", q);
        Check.floating(op, "k", k);
        Check.rank(op, "q", q, 4);
        Check.rank(op, "k", k, 4);
        Check.positive(op, "queryBlock", queryBlock);
        Check.positive(op, "keyBlock", keyBlock);
        int b = q.dim(0);
        int h = tokensBeforeHeads ? q.dim(2) : q.dim(1);
        int nq = tokensBeforeHeads ? q.dim(1) : q.dim(2);
        int nk = tokensBeforeHeads ? k.dim(1) : k.dim(2);
        int d = q.dim(3);
        int[] expectK = tokensBeforeHeads ? new int[] {b, -1, h, d} : new int[] {b, h, -1, d};
        Check.shape(op, "k", k, expectK);
        BlockGrid qg = new BlockGrid(nq, queryBlock);
        BlockGrid kg = new BlockGrid(nk, keyBlock);
        int rows = qg.blocks();
        int cols = kg.blocks();
        float[] probs = new float[b * h * rows * cols];
        int[] order = new int[probs.length];
        double[][] qPooled = new double[b * h][];
        double[][] kPooled = new double[b * h][];
        for (int bh = 0; bh < b * h; bh++) {
            qPooled[bh] = new double[rows * d];
            kPooled[bh] = new double[cols * d];
        }
        // Phase 1: one task per block of q or k, so that even a single head keeps every core busy.
        int blocksPerHead = rows + cols;
        CpuRuntime.parallelFor(b * h * blocksPerHead, item -> {
            int bh = item / blocksPerHead;
            int blk = item % blocksPerHead;
            if (blk < rows) {
                poolBlock(q, bh / h, bh % h, qg, blk, d, tokensBeforeHeads, h, qPooled[bh]);
            } else {
                poolBlock(k, bh / h, bh % h, kg, blk - rows, d, tokensBeforeHeads, h, kPooled[bh]);
            }
        });
        // Phase 2: scores, softmax and the descending order, one task per query block.
        CpuRuntime.parallelForRange(b * h * rows, 4, (from, to) -> {
            double[] row = new double[cols];
            long[] keys = new long[cols];
            for (int r = from; r < to; r++) {
                double[] qp = qPooled[r / rows];
                double[] kp = kPooled[r / rows];
                int i = r % rows;
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < cols; j++) {
                    row[j] = PoolingKernels.dot(qp, i * d, kp, j * d, d) * scale;
                    max = Math.max(max, row[j]);
                }
                double sum = 0;
                for (int j = 0; j < cols; j++) {
                    row[j] = Math.exp(row[j] - max);
                    sum += row[j];
                }
                int base = r * cols;
                for (int j = 0; j < cols; j++) {
                    probs[base + j] = (float) (row[j] / sum);
                }
                sortRow(probs, order, base, cols, keys);
            }
        });
        return new PooledAttentionMap(b, h, qg, kg, probs, order);
    }

    /**
     * A map from given row-stochastic probabilities, for analysis and tests.
     *
     * @param batch B
     * @param heads H
     * @param queryGrid query blocks (nq rows per head)
     * @param keyGrid key blocks (nk columns)
     * @param probs row-major (B,H,nq,nk) non-negative values; copied
     * @return the map
     */
    public static PooledAttentionMap ofProbabilities(int batch, int heads, BlockGrid queryGrid, BlockGrid keyGrid,
            float[] probs) {
        int nk = keyGrid.blocks();
        int expected = batch * heads * queryGrid.blocks() * nk;
        Check.that(probs.length == expected, "PooledAttentionMap", "probs.length", probs.length, String.valueOf(expected));
        float[] copy = probs.clone();
        for (float v : copy) {
            Check.that(v >= 0 && Float.isFinite(v), "PooledAttentionMap", "a probability", v, "a finite value >= 0");
        }
        int[] order = new int[copy.length];
        long[] keys = new long[nk];
        for (int base = 0; base < copy.length; base += nk) {
            sortRow(copy, order, base, nk, keys);
        }
        return new PooledAttentionMap(batch, heads, queryGrid, keyGrid, copy, order);
    }

    /** Writes the row's column indices by descending value, ties by ascending index. */
    private static void sortRow(float[] probs, int[] order, int base, int cols, long[] keys) {
        for (int j = 0; j < cols; j++) {
            // Non-negative floats order like their bits; the low word makes lower indices win ties.
            keys[j] = ((long) Float.floatToRawIntBits(probs[base + j] + 0.0f) << 32) | (0xffffffffL - j);
        }
        java.util.Arrays.sort(keys, 0, cols);
        for (int r = 0; r < cols; r++) {
            order[base + r] = (int) (0xffffffffL - (keys[cols - 1 - r] & 0xffffffffL));
        }
    }

    /** Mean of one block's token rows, accumulated in float64, into {@code pooled[blk * d ...]}. */
    private static void poolBlock(Tensor t, int bi, int hi, BlockGrid grid, int blk, int d, boolean tokensBeforeHeads,
            int heads, double[] pooled) {
        int n = grid.length();
        int start = grid.start(blk);
        int len = grid.size(blk);
        double[] acc = new double[d];
        if (t.dtype() == DType.F32) {
            long first = tokensBeforeHeads
                    ? (((long) bi * n + start) * heads + hi) * d
                    : (((long) bi * heads + hi) * n + start) * d;
            PoolingKernels.add(t.segment(), first, tokensBeforeHeads ? (long) heads * d : d, len, d, acc, 0);
        } else {
            for (int tok = start; tok < start + len; tok++) {
                long base = tokensBeforeHeads
                        ? (((long) bi * n + tok) * heads + hi) * d
                        : (((long) bi * heads + hi) * n + tok) * d;
                for (int c = 0; c < d; c++) {
                    acc[c] += t.getFloat(base + c);
                }
            }
        }
        for (int c = 0; c < d; c++) {
            pooled[blk * d + c] = acc[c] / len;
        }
    }

    /** @return batch size B */
    public int batch() {
        return batch;
    }

    /** @return number of heads H */
    public int heads() {
        return heads;
    }

    /** @return how queries split into blocks */
    public BlockGrid queryGrid() {
        return queryGrid;
    }

    /** @return how keys split into blocks */
    public BlockGrid keyGrid() {
        return keyGrid;
    }

    /** @return P[b,h,i,j] */
    public float prob(int b, int h, int i, int j) {
        return probs[((b * heads + h) * queryGrid.blocks() + i) * keyGrid.blocks() + j];
    }

    /** @return the row-major (B,H,nq,nk) probabilities, shared: do not modify */
    float[] probs() {
        return probs;
    }

    /** @return for each row, key-block indices by descending P (ties: lower index first), shared: do not modify */
    int[] order() {
        return order;
    }

    /** @return the map as an f32 tensor (B,H,nq,nk) */
    public Tensor toTensor() {
        return Tensor.of(probs.clone(), batch, heads, queryGrid.blocks(), keyGrid.blocks());
    }
}
