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
    /** Work-group size: launch {@code rows * GROUP} work-items in groups of {@code GROUP}. */
    public static final int GROUP = 256;
    /** Largest head dimension: the query row is staged in a local array of this many floats. */
    public static final int MAX_D = 256;

    private PooledSoftmaxKernels() {
    }

    /**
     * One work-group of {@link #GROUP} work-items per row {@code r = bh * nq + i}; each work-item takes key blocks
     * {@code j = lid, lid + GROUP, ...} (nk may be in the thousands). The scores are staged in {@code probs}
     * itself (each work-item rereads only what it wrote), then max and sum go through local-memory trees.
     * Launch: 1D grid of {@code rows * GROUP}, local size {@link #GROUP}; {@code d <= MAX_D}.
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
        float[] qRow = ctx.allocateFloatLocalArray(MAX_D);
        float[] red = ctx.allocateFloatLocalArray(GROUP);
        int lid = ctx.localIdx;
        int row = ctx.groupIdx;
        int bh = row / nq;
        int qBase = row * d;
        int kBase = bh * nk * d;
        int pBase = row * nk;
        for (int c = lid; c < d; c += GROUP) {
            qRow[c] = qPooled.get(qBase + c);
        }
        ctx.localBarrier();
        float max = Float.NEGATIVE_INFINITY;
        for (int j = lid; j < nk; j += GROUP) {
            float s = 0f;
            int kRow = kBase + j * d;
            for (int c = 0; c < d; c++) {
                s = KernelMath.fma(qRow[c], kPooled.get(kRow + c), s);
            }
            s = s * scale;
            probs.set(pBase + j, s);
            max = KernelMath.max(max, s);
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
            float e = KernelMath.exp(probs.get(pBase + j) - max);
            probs.set(pBase + j, e);
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
        for (int j = lid; j < nk; j += GROUP) {
            probs.set(pBase + j, probs.get(pBase + j) / sum);
        }
    }
}
