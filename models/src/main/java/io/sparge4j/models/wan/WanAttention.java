package io.sparge4j.models.wan;

import io.sparge4j.engine.ops.Attention;
import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.SparseAttention;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Set;

/**
 * How a {@link WanModel} runs its self-attention: SpargeAttention2's mask mode, Top-k and Top-p, block sizes, and
 * which transformer blocks and denoising steps stay dense regardless of the mode (users of sparse attention
 * commonly keep the first blocks and the first steps dense, where the attention is least concentrated).
 * Cross-attention is always dense.
 *
 * <pre>{@code
 * var attention = WanAttention.defaults().withTopk(0.03).withTopp(0.2).withDenseLayers(1).withDenseSteps(5);
 * }</pre>
 *
 * @param mode dense, topk, topp or hybrid ({@link MaskMode#MASK} is not accepted: a model has no fixed mask)
 * @param topk Top-k fraction of key blocks per query block, in (0, 1] (used by topk and hybrid)
 * @param topp Top-p pooled-mass threshold, in (0, 1] (used by topp and hybrid)
 * @param queryBlock tokens per query block
 * @param keyBlock tokens per key block
 * @param denseLayers the first this many transformer blocks run dense attention
 * @param denseSteps the first this many denoising steps (step index below it) run dense attention
 * @param lateTopk 0 (off), or the Top-k fraction, in (0, 1], used instead of {@code topk} at noise levels at or
 *     below {@code lateNoiseLevel}: the late, low-noise steps of sampling, where a mask trained or calibrated at one k
 *     leaves the most error (bench/tiny-demo/RECIPE.md: a larger k there buys most of what dense late steps do)
 * @param lateNoiseLevel the noise level (timestep / 1000), in [0, 1], at and below which {@code lateTopk} applies;
 *     0 when {@code lateTopk} is 0
 */
public record WanAttention(MaskMode mode, double topk, double topp, int queryBlock, int keyBlock, int denseLayers,
        int denseSteps, double lateTopk, double lateNoiseLevel) {
    /**
     * The noise level at and below which a late Top-k applies unless told otherwise: the last 8 of 20 UniPC steps at
     * timestep shift 5.
     */
    public static final double DEFAULT_LATE_NOISE_LEVEL = 0.77;

    /** The modes a model's self-attention can run: all but {@link MaskMode#MASK} (a model has no fixed mask). */
    public static final Set<MaskMode> MODES = Collections.unmodifiableSet(EnumSet.of(MaskMode.DENSE, MaskMode.TOPK,
            MaskMode.TOPP, MaskMode.HYBRID));

    /**
     * @throws IllegalArgumentException naming the field, the value and what is expected
     */
    public WanAttention {
        if (mode == null || mode == MaskMode.MASK) {
            throw new IllegalArgumentException("WanAttention: mode is " + mode
                    + ", expected one of dense, topk, topp, hybrid");
        }
        if ((mode == MaskMode.TOPK || mode == MaskMode.HYBRID) && !(topk > 0 && topk <= 1)) {
            throw new IllegalArgumentException("WanAttention: topk is " + topk + ", expected a fraction in (0, 1]");
        }
        if ((mode == MaskMode.TOPP || mode == MaskMode.HYBRID) && !(topp > 0 && topp <= 1)) {
            throw new IllegalArgumentException("WanAttention: topp is " + topp + ", expected a fraction in (0, 1]");
        }
        block("queryBlock", queryBlock);
        block("keyBlock", keyBlock);
        if (denseLayers < 0) {
            throw new IllegalArgumentException("WanAttention: denseLayers is " + denseLayers
                    + ", expected 0 or more");
        }
        if (denseSteps < 0) {
            throw new IllegalArgumentException("WanAttention: denseSteps is " + denseSteps + ", expected 0 or more");
        }
        if (!(lateTopk == 0 || lateTopk > 0 && lateTopk <= 1)) {
            throw new IllegalArgumentException("WanAttention: lateTopk is " + lateTopk
                    + ", expected 0 (off) or a fraction in (0, 1]");
        }
        if (!(lateNoiseLevel >= 0 && lateNoiseLevel <= 1)) {
            throw new IllegalArgumentException("WanAttention: lateNoiseLevel is " + lateNoiseLevel
                    + ", expected a noise level in [0, 1]");
        }
        if (lateTopk == 0) {
            lateNoiseLevel = 0;   // one form for "off", whatever level came with it
        }
    }

    /** The settings without a late Top-k ({@link #lateTopk} 0). */
    public WanAttention(MaskMode mode, double topk, double topp, int queryBlock, int keyBlock, int denseLayers,
            int denseSteps) {
        this(mode, topk, topp, queryBlock, keyBlock, denseLayers, denseSteps, 0, 0);
    }

    /** @return dense attention everywhere (blocks 128 x 64, the paper's k 0.03 and p 0.2 kept for a later mode) */
    public static WanAttention dense() {
        return defaults().withMode(MaskMode.DENSE);
    }

    /** @return the paper's settings: hybrid, k 0.03, p 0.2, blocks 128 x 64, nothing forced dense */
    public static WanAttention defaults() {
        return new WanAttention(MaskMode.HYBRID, 0.03, 0.2, 128, 64, 0, 0);
    }

    /** @return a copy with another mode */
    public WanAttention withMode(MaskMode newMode) {
        return new WanAttention(newMode, topk, topp, queryBlock, keyBlock, denseLayers, denseSteps, lateTopk,
                lateNoiseLevel);
    }

    /** @return a copy with another Top-k fraction */
    public WanAttention withTopk(double newTopk) {
        return new WanAttention(mode, newTopk, topp, queryBlock, keyBlock, denseLayers, denseSteps, lateTopk,
                lateNoiseLevel);
    }

    /** @return a copy with another Top-p threshold */
    public WanAttention withTopp(double newTopp) {
        return new WanAttention(mode, topk, newTopp, queryBlock, keyBlock, denseLayers, denseSteps, lateTopk,
                lateNoiseLevel);
    }

    /** @return a copy with other block sizes */
    public WanAttention withBlocks(int newQueryBlock, int newKeyBlock) {
        return new WanAttention(mode, topk, topp, newQueryBlock, newKeyBlock, denseLayers, denseSteps, lateTopk,
                lateNoiseLevel);
    }

    /** @return a copy keeping the first {@code n} transformer blocks dense */
    public WanAttention withDenseLayers(int n) {
        return new WanAttention(mode, topk, topp, queryBlock, keyBlock, n, denseSteps, lateTopk, lateNoiseLevel);
    }

    /** @return a copy keeping the first {@code m} denoising steps dense */
    public WanAttention withDenseSteps(int m) {
        return new WanAttention(mode, topk, topp, queryBlock, keyBlock, denseLayers, m, lateTopk, lateNoiseLevel);
    }

    /**
     * @param k the Top-k fraction at low noise levels, in (0, 1], or 0 to turn it off
     * @param noiseLevel the noise level at and below which it applies, in [0, 1]
     * @return a copy with a late Top-k ({@link #lateTopk})
     */
    public WanAttention withLateTopk(double k, double noiseLevel) {
        return new WanAttention(mode, topk, topp, queryBlock, keyBlock, denseLayers, denseSteps, k, noiseLevel);
    }

    /**
     * @param timestep the forward's timestep on Wan's 0..1000 scale
     * @return the settings one forward at that timestep runs: this, or with {@link #lateTopk} as its Top-k where the
     *     noise level is at or below {@link #lateNoiseLevel}
     */
    public WanAttention at(double timestep) {
        if (lateTopk == 0 || timestep > lateNoiseLevel * 1000) {
            return this;
        }
        return new WanAttention(mode, lateTopk, topp, queryBlock, keyBlock, denseLayers, denseSteps);
    }

    /**
     * @param layer transformer block index, from 0
     * @param step denoising step index, from 0
     * @return whether self-attention at that block and step runs dense
     */
    public boolean denseAt(int layer, int step) {
        return mode == MaskMode.DENSE || layer < denseLayers || step < denseSteps;
    }

    /**
     * The sparse-attention config for one block at one step, in the (B, N, H, d) layout the model holds q, k, v in,
     * with the softmax scale 1/sqrt(d) as in Wan2.1.
     *
     * @param layer transformer block index, from 0
     * @param step denoising step index, from 0
     * @return the config; mode dense where {@link #denseAt} says so
     */
    public SparseAttention.Config configAt(int layer, int step) {
        MaskMode m = denseAt(layer, step) ? MaskMode.DENSE : mode;
        return new SparseAttention.Config(m, topk, topp, queryBlock, keyBlock, AttentionLayout.BNHD, Float.NaN, null);
    }

    private static void block(String name, int size) {
        if (size <= 0 || size > Attention.MAX_BLOCK) {
            throw new IllegalArgumentException("WanAttention: " + name + " is " + size
                    + ", expected a block size in [1, " + Attention.MAX_BLOCK + "]");
        }
    }
}
