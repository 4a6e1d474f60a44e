package io.sparge4j.engine.sparse.analysis;

import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.BlockSelector;
import io.sparge4j.engine.sparse.Calibration;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.PooledAttentionMap;
import io.sparge4j.engine.sparse.ReferenceAttention;
import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The paper's Case 1 study in miniature: on a flat attention map and on a sink-dominated one, compare Top-k, Top-p
 * and hybrid at equal sparsity by the relative L1 error of the attention output against dense attention.
 *
 * <p>Equal sparsity: every rule keeps the same number of key blocks per row on average, round((1 - target) * nk).
 * Top-k's k is that budget as a fraction of nk; Top-p's p is calibrated by bisection to the same sparsity; hybrid
 * gives 60% of the budget to k (the paper's ratio, k = 0.03 at about 5% density) and calibrates p for the rest.
 * With sequence lengths that are multiples of the block sizes, equal mean kept blocks and equal sparsity are the
 * same thing.
 */
public final class MaskStudy {
    /** Which synthetic attention map to build. */
    public enum Case {
        /** Most rows spread their mass evenly over a plateau of blocks; a few rows are sharp. */
        FLAT,
        /** Every row gives a sink block much of its mass, more in some rows than others; three blocks carry the signal. */
        SINK
    }

    /**
     * One rule's outcome on one case.
     *
     * @param caseName the map
     * @param mode the rule
     * @param k Top-k fraction used (NaN for Top-p)
     * @param p Top-p threshold used (NaN for Top-k)
     * @param sparsity sparsity achieved
     * @param relativeL1 sum |O_sparse - O_dense| / sum |O_dense|
     */
    public record Row(Case caseName, MaskMode mode, double k, double p, double sparsity, double relativeL1) {
    }

    /**
     * The inputs of one case.
     *
     * @param q queries (1,1,N,d)
     * @param k keys (1,1,N,d)
     * @param v values (1,1,N,d)
     */
    public record Inputs(Tensor q, Tensor k, Tensor v) {
    }

    /**
     * A rule with its parameters and mask.
     *
     * @param mode the rule
     * @param k Top-k fraction (NaN when unused)
     * @param p Top-p threshold (NaN when unused)
     * @param mask the mask it chose
     */
    public record Selection(MaskMode mode, double k, double p, BlockMask mask) {
    }

    /** The maps need a sink block plus 8 distinct others per row. */
    public static final int MIN_KEY_BLOCKS = 9;

    private final int tokens;
    private final int headDim;
    private final int queryBlock;
    private final int keyBlock;
    private final double targetSparsity;
    private final long seed;

    /**
     * @param tokens sequence length N, a multiple of both block sizes
     * @param headDim d, at least the number of key blocks N / keyBlock
     * @param queryBlock query block size
     * @param keyBlock key block size
     * @param targetSparsity the common sparsity, in (0, 1)
     * @param seed generator seed
     */
    public MaskStudy(int tokens, int headDim, int queryBlock, int keyBlock, double targetSparsity, long seed) {
        if (!(targetSparsity > 0 && targetSparsity < 1)) {
            throw new IllegalArgumentException("target sparsity: got " + targetSparsity + ", expected a fraction in (0, 1)");
        }
        if (queryBlock <= 0 || keyBlock <= 0 || tokens % queryBlock != 0 || tokens % keyBlock != 0) {
            throw new IllegalArgumentException("mask study: tokens " + tokens + " must be a positive multiple of the block"
                    + " sizes, got bq=" + queryBlock + " bkv=" + keyBlock);
        }
        if (tokens / keyBlock < MIN_KEY_BLOCKS) {
            throw new IllegalArgumentException("mask study: got " + tokens / keyBlock + " key blocks (tokens " + tokens
                    + " / bkv " + keyBlock + "), expected at least " + MIN_KEY_BLOCKS + " (a sink plus 8 others)");
        }
        if (tokens / keyBlock > headDim) {
            throw new IllegalArgumentException("mask study: " + tokens / keyBlock + " key blocks need head dim >= "
                    + tokens / keyBlock + ", got " + headDim);
        }
        this.tokens = tokens;
        this.headDim = headDim;
        this.queryBlock = queryBlock;
        this.keyBlock = keyBlock;
        this.targetSparsity = targetSparsity;
        this.seed = seed;
    }

    /** @return the softmax scale, 1/sqrt(d) */
    public float scale() {
        return (float) (1 / Math.sqrt(headDim));
    }

    /**
     * Builds the synthetic inputs from designed block logits L[i][j]. Key block j's keys are the unit vector e_j
     * plus a little noise in the coordinates no block uses; query block i's queries are sqrt(d) * sum_j L[i][j] e_j
     * plus noise there, so every token-level score q.k/sqrt(d) is L[i][j] plus noise. Values of block j are a random
     * block vector plus noise.
     *
     * @param c the case
     * @return q, k and v
     */
    public Inputs inputs(Case c) {
        SplittableRandom rng = new SplittableRandom(seed + c.ordinal());
        int nk = tokens / keyBlock;
        int nq = tokens / queryBlock;
        double[][] logits = logits(c, nq, nk, rng);
        Tensor q = Tensor.zeros(1, 1, tokens, headDim);
        Tensor k = Tensor.zeros(1, 1, tokens, headDim);
        Tensor v = Tensor.zeros(1, 1, tokens, headDim);
        double[][] blockValue = new double[nk][headDim];
        for (int j = 0; j < nk; j++) {
            double amp = 1.0;
            for (int e = 0; e < headDim; e++) {
                blockValue[j][e] = amp * rng.nextGaussian();
            }
        }
        double sqrtD = Math.sqrt(headDim);
        for (int t = 0; t < tokens; t++) {
            int j = t / keyBlock;
            int i = t / queryBlock;
            for (int e = 0; e < headDim; e++) {
                double key = e == j ? 1.0 : e >= nk ? 0.3 * rng.nextGaussian() : 0.0;
                double query = e < nk ? sqrtD * logits[i][e] : 0.3 * rng.nextGaussian();
                k.set((float) key, 0, 0, t, e);
                q.set((float) query, 0, 0, t, e);
                v.set((float) (blockValue[j][e] + 0.3 * rng.nextGaussian()), 0, 0, t, e);
            }
        }
        return new Inputs(q, k, v);
    }

    /**
     * Block logits. FLAT: three rows in four spread their mass over a plateau of 8 blocks, the rest put it on one
     * block, so the number of blocks that matter varies by row (Top-p's favourable case). SINK: every row has a sink,
     * block 0, whose logit varies from row to row (3 to 6: from about a third to nine tenths of the mass), and three
     * informative blocks, so four blocks matter in every row (Top-k's favourable case).
     */
    /**
     * Hybrid's share of the block budget given to Top-k; Top-p is calibrated for the rest. 0.6 is the paper's ratio
     * (k = 0.03 at about 5% density).
     */
    static final double HYBRID_TOPK_SHARE = 0.6;

    /** Logit of blocks a row does not attend to: e^-2.5 keeps each one's mass small. */
    private static final double BACKGROUND = -2.5;

    private static double[][] logits(Case c, int nq, int nk, SplittableRandom rng) {
        double[][] l = new double[nq][nk];
        for (double[] row : l) {
            java.util.Arrays.fill(row, BACKGROUND);
        }
        for (int i = 0; i < nq; i++) {
            boolean minority = i % 4 == 0;
            int[] picks = rng.ints(1, nk).distinct().limit(8).toArray();
            if (c == Case.FLAT) {
                if (minority) {
                    l[i][picks[0]] = 5.0;
                } else {
                    for (int m = 0; m < 8; m++) {
                        l[i][picks[m]] = 2.0;
                    }
                }
            } else {
                l[i][0] = 3.0 + 3.0 * rng.nextDouble();
                for (int m = 0; m < 3; m++) {
                    l[i][picks[m]] = 2.5;
                }
            }
        }
        return l;
    }

    /** @return the pooled map of a case's inputs */
    public PooledAttentionMap pooledMap(Inputs in) {
        return PooledAttentionMap.compute(in.q(), in.k(), queryBlock, keyBlock, scale(), AttentionLayout.BHND);
    }

    /**
     * The masks of the three rules at equal sparsity, in the order Top-k, Top-p, hybrid.
     *
     * @param map the pooled map
     * @return each rule with its parameters and mask
     */
    public List<Selection> equalSparsityMasks(PooledAttentionMap map) {
        int nk = map.keyGrid().blocks();
        int keptPerRow = Math.max(1, (int) Math.round((1 - targetSparsity) * nk));
        double budget = (double) keptPerRow / nk;
        double sparsity = 1 - budget;
        Calibration.Result topp = Calibration.calibrateP(map, MaskMode.TOPP, 1, sparsity);
        Calibration.Result hybrid = Calibration.calibrateP(map, MaskMode.HYBRID, budget * HYBRID_TOPK_SHARE, sparsity);
        List<Selection> out = new ArrayList<>();
        out.add(new Selection(MaskMode.TOPK, budget, Double.NaN, BlockSelector.select(map, MaskMode.TOPK, budget, 1)));
        out.add(new Selection(MaskMode.TOPP, Double.NaN, topp.p(), BlockSelector.select(map, MaskMode.TOPP, 1, topp.p())));
        out.add(new Selection(MaskMode.HYBRID, budget * HYBRID_TOPK_SHARE, hybrid.p(),
                BlockSelector.select(map, MaskMode.HYBRID, budget * HYBRID_TOPK_SHARE, hybrid.p())));
        return out;
    }

    /**
     * Runs the study on one case.
     *
     * @param c the case
     * @return one row per rule
     */
    public List<Row> run(Case c) {
        Inputs in = inputs(c);
        PooledAttentionMap map = pooledMap(in);
        double[] dense = ReferenceAttention.forward(in.q(), in.k(), in.v(), null, scale());
        double denseL1 = 0;
        for (double x : dense) {
            denseL1 += Math.abs(x);
        }
        List<Row> rows = new ArrayList<>();
        for (Selection s : equalSparsityMasks(map)) {
            double[] sparse = ReferenceAttention.forward(in.q(), in.k(), in.v(), s.mask(), scale());
            double diff = 0;
            for (int i = 0; i < dense.length; i++) {
                diff += Math.abs(sparse[i] - dense[i]);
            }
            rows.add(new Row(c, s.mode(), s.k(), s.p(), s.mask().sparsity(), diff / denseL1));
        }
        return rows;
    }
}
