package io.sparge4j.engine.sparse;

/**
 * What a block mask keeps, for logs, plots and the CLI's JSON.
 *
 * @param sparsity fraction of dropped (query, key) token pairs, averaged over batch and heads
 * @param sparsityPerHead per head, averaged over the batch (length H)
 * @param keptPerRowMin fewest key blocks kept by a row
 * @param keptPerRowMean mean key blocks kept per row
 * @param keptPerRowMax most key blocks kept by a row
 * @param retainedMassMin smallest pooled mass kept by a row (NaN when no pooled map was used)
 * @param retainedMassMean mean pooled mass kept per row (NaN when no pooled map was used)
 * @param retainedMassMax largest pooled mass kept by a row (NaN when no pooled map was used)
 */
public record MaskStatistics(double sparsity, double[] sparsityPerHead, int keptPerRowMin, double keptPerRowMean,
        int keptPerRowMax, double retainedMassMin, double retainedMassMean, double retainedMassMax) {

    /**
     * @param mask the mask
     * @param map the pooled map it was chosen from, or null for a given mask
     * @return the statistics
     */
    public static MaskStatistics of(BlockMask mask, PooledAttentionMap map) {
        int b = mask.batch();
        int h = mask.heads();
        int nq = mask.queryGrid().blocks();
        int nk = mask.keyGrid().blocks();
        double[] perHead = new double[h];
        double total = 0;
        for (int hi = 0; hi < h; hi++) {
            for (int bi = 0; bi < b; bi++) {
                perHead[hi] += mask.sparsity(bi, hi) / b;
            }
            total += perHead[hi] / h;
        }
        int[] rowStart = mask.rowStart();
        int[] blocks = mask.rowBlocks();
        int rows = rowStart.length - 1;
        int min = Integer.MAX_VALUE;
        int max = 0;
        double massMin = Double.POSITIVE_INFINITY;
        double massMax = Double.NEGATIVE_INFINITY;
        double massSum = 0;
        float[] probs = map == null ? null : map.probs();
        for (int r = 0; r < rows; r++) {
            int kept = rowStart[r + 1] - rowStart[r];
            min = Math.min(min, kept);
            max = Math.max(max, kept);
            if (probs != null) {
                double mass = 0;
                for (int e = rowStart[r]; e < rowStart[r + 1]; e++) {
                    mass += probs[r * nk + blocks[e]];
                }
                massMin = Math.min(massMin, mass);
                massMax = Math.max(massMax, mass);
                massSum += mass;
            }
        }
        double nan = Double.NaN;
        return new MaskStatistics(total, perHead, min, (double) blocks.length / rows, max,
                probs == null ? nan : massMin, probs == null ? nan : massSum / rows, probs == null ? nan : massMax);
    }
}
