package io.sparge4j.engine.sparse;

/**
 * SpargeAttention2's selection rules over a {@link PooledAttentionMap}: Top-k, Top-p and their union.
 *
 * <ul>
 *   <li>Top-k keeps the {@code max(1, ceil(k * nk - 1e-9))} largest entries of a row (the epsilon makes
 *       0.07 * 100 keep 7, not 8); ties go to the lower block index.</li>
 *   <li>Top-p walks the row in descending order and keeps every entry whose preceding mass is below p, so the
 *       entry that crosses p is kept; p &gt;= 1 keeps the whole row.</li>
 *   <li>Hybrid keeps the union of both.</li>
 * </ul>
 */
public final class BlockSelector {
    private BlockSelector() {
    }

    /**
     * @param k Top-k fraction in (0, 1]
     * @param nk key blocks in a row
     * @return how many blocks Top-k keeps
     */
    public static int topkCount(double k, int nk) {
        return Math.min(nk, Math.max(1, (int) Math.ceil(k * nk - 1e-9)));
    }

    /**
     * Selects blocks.
     *
     * @param map the pooled map
     * @param mode {@link MaskMode#DENSE}, {@link MaskMode#TOPK}, {@link MaskMode#TOPP} or {@link MaskMode#HYBRID}
     * @param k Top-k fraction in (0, 1] (ignored by TOPP and DENSE)
     * @param p Top-p threshold in (0, 1] (ignored by TOPK and DENSE)
     * @return the block mask
     */
    public static BlockMask select(PooledAttentionMap map, MaskMode mode, double k, double p) {
        return BlockMask.of(map.batch(), map.heads(), map.queryGrid(), map.keyGrid(), keptFlags(map, mode, k, p));
    }

    static boolean[] keptFlags(PooledAttentionMap map, MaskMode mode, double k, double p) {
        if (mode == MaskMode.MASK) {
            throw new IllegalArgumentException("mode: 'mask' needs a given mask, not a selection rule");
        }
        boolean useK = mode == MaskMode.TOPK || mode == MaskMode.HYBRID;
        boolean useP = mode == MaskMode.TOPP || mode == MaskMode.HYBRID;
        if (useK) {
            checkFraction("topk", k);
        }
        if (useP) {
            checkFraction("topp", p);
        }
        int nk = map.keyGrid().blocks();
        int rows = map.batch() * map.heads() * map.queryGrid().blocks();
        boolean[] kept = new boolean[rows * nk];
        if (mode == MaskMode.DENSE) {
            java.util.Arrays.fill(kept, true);
            return kept;
        }
        float[] probs = map.probs();
        int[] order = map.order();
        int topk = useK ? topkCount(k, nk) : 0;
        for (int r = 0; r < rows; r++) {
            int base = r * nk;
            int keep = topk;
            if (useP) {
                keep = Math.max(keep, toppCount(probs, order, base, nk, p));
            }
            // Both rules take a prefix of the same descending order, so their union is the longer prefix.
            for (int e = 0; e < keep; e++) {
                kept[base + order[base + e]] = true;
            }
        }
        return kept;
    }

    /** @return how many entries of a row Top-p keeps (the crossing entry included) */
    static int toppCount(float[] probs, int[] order, int base, int nk, double p) {
        if (p >= 1) {
            return nk;
        }
        double mass = 0;
        int e = 0;
        while (e < nk && mass < p) {
            mass += probs[base + order[base + e]];
            e++;
        }
        return Math.max(1, e);
    }

    static void checkFraction(String name, double v) {
        if (!(v > 0 && v <= 1)) {
            throw new IllegalArgumentException(name + ": got " + v + ", expected a fraction in (0, 1]");
        }
    }
}
