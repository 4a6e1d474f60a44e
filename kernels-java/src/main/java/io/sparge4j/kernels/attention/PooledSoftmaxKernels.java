package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.types.arrays.FloatArray;

/**
 * The pooled map P = softmax_rowwise(scale * Qp Kp^T): one row per (b, h, query block) over all key blocks, in
 * float with the row maximum subtracted. The CPU reference ({@code PooledAttentionMap}) works in float64, so the
 * two agree to float rounding, not bit for bit.
 */
public final class PooledSoftmaxKernels {
    /** Work-group size. */
    public static final int GROUP = 256;
    /** Query blocks per work-group: they share each read of a key row. */
    public static final int ROWS = 4;
    /** Largest head dimension: the query row is staged in a local array of this many floats. */
    public static final int MAX_D = 256;

    private PooledSoftmaxKernels() {
    }

    /**
     * One work-group of {@link #GROUP} work-items per {@link #ROWS} query blocks {@code i0 .. i0 + ROWS - 1} of one
     * head (fewer at the head's end); each work-item takes key blocks {@code j = lid, lid + GROUP, ...} (nk may be
     * in the thousands) and computes the ROWS scores of each from one read of the key row, which divides the
     * key traffic by ROWS. The scores are staged in {@code probs} itself (each work-item rereads only what it
     * wrote), then each row's max and sum go through local-memory trees.
     * Launch: 1D grid of {@code heads * ceil(nq / ROWS) * GROUP}, local size {@link #GROUP}; {@code d <= MAX_D}.
     *
     * @param ctx the work-item
     * @param qPooled pooled queries (heads, nq, d)
     * @param kPooled pooled keys (heads, nk, d)
     * @param probs output (heads, nq, nk), each row sums to 1
     * @param nq query blocks per head
     * @param nk key blocks per head
     * @param d head dimension
     * @param scale softmax scale (usually 1/sqrt(d))
     */
    public static void pooledSoftmax(KernelContext ctx, FloatArray qPooled, FloatArray kPooled, FloatArray probs,
            int nq, int nk, int d, float scale) {
        float[] qRows = ctx.allocateFloatLocalArray(ROWS * MAX_D);
        float[] red = ctx.allocateFloatLocalArray(GROUP);
        float[] acc = new float[ROWS];
        int lid = ctx.localIdx;
        int groupsPerHead = (nq + ROWS - 1) / ROWS;
        int bh = ctx.groupIdx / groupsPerHead;
        int i0 = (ctx.groupIdx % groupsPerHead) * ROWS;
        int live = KernelMath.min(ROWS, nq - i0);
        int qBase = (bh * nq + i0) * d;
        int kBase = bh * nk * d;
        int pBase = (bh * nq + i0) * nk;
        for (int e = lid; e < ROWS * d; e += GROUP) {
            qRows[e] = e < live * d ? qPooled.get(qBase + e) : 0f;
        }
        ctx.localBarrier();
        for (int j = lid; j < nk; j += GROUP) {
            for (int r = 0; r < ROWS; r++) {
                acc[r] = 0f;
            }
            int kRow = kBase + j * d;
            for (int c = 0; c < d; c++) {
                float kv = kPooled.get(kRow + c);
                for (int r = 0; r < ROWS; r++) {
                    acc[r] = KernelMath.fma(qRows[r * d + c], kv, acc[r]);
                }
            }
            for (int r = 0; r < ROWS; r++) {
                if (r < live) {
                    probs.set(pBase + r * nk + j, acc[r] * scale);
                }
            }
        }
        // Every work-item reaches every barrier: a row past the head's end runs with no columns rather than being
        // skipped, because barriers under a condition crash PoCL's work-group compiler.
        for (int r = 0; r < ROWS; r++) {
            softmaxRow(ctx, probs, red, pBase + r * nk, r < live ? nk : 0, lid);
        }
    }

    /**
     * Softmax in place of the scores {@code probs[base .. base + nk)}; each work-item touches its own columns. With
     * {@code nk = 0} it only takes part in the barriers.
     */
    private static void softmaxRow(KernelContext ctx, FloatArray probs, float[] red, int base, int nk, int lid) {
        float max = Float.NEGATIVE_INFINITY;
        for (int j = lid; j < nk; j += GROUP) {
            max = KernelMath.max(max, probs.get(base + j));
        }
        red[lid] = max;
        ctx.localBarrier();
        for (int stride = GROUP / 2; stride > 0; stride /= 2) {
            if (lid < stride) {
                red[lid] = KernelMath.max(red[lid], red[lid + stride]);
            }
            ctx.localBarrier();
        }
        max = red[0];
        ctx.localBarrier();
        float sum = 0f;
        for (int j = lid; j < nk; j += GROUP) {
            float e = KernelMath.exp(probs.get(base + j) - max);
            probs.set(base + j, e);
            sum += e;
        }
        red[lid] = sum;
        ctx.localBarrier();
        for (int stride = GROUP / 2; stride > 0; stride /= 2) {
            if (lid < stride) {
                red[lid] += red[lid + stride];
            }
            ctx.localBarrier();
        }
        sum = red[0];
        ctx.localBarrier();
        for (int j = lid; j < nk; j += GROUP) {
            probs.set(base + j, probs.get(base + j) / sum);
        }
    }
}
