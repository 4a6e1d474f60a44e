package io.sparge4j.kernels.nn;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.types.arrays.FloatArray;

/**
 * Dense softmax attention with its own key count, one work-group per query row: the cross-attention of a DiT
 * (image tokens attending to a few hundred text rows) at the head dimensions the flash kernels (d of 64 or 128,
 * which also take cross-attention) do not cover. Any d up to {@link #MAX_D}, any query and key counts. Each row
 * reads every key and value, and the dK/dV pass re-reads every query row per key: fine for small models, slow for
 * long sequences.
 *
 * <p>q is (heads, nq, d), k and v (heads, nk, d), out (heads, nq, d), lse (heads, nq); all row-major. The keys are
 * taken {@link #GROUP} at a time: each work-item scores one key against the row (held in local memory), the group
 * takes the chunk's maximum and sum, rescales its running output as online softmax does, and each work-item
 * accumulates the output dimensions it owns ({@code e = lid} and {@code e = lid + GROUP}). The logsumexp is the
 * natural log of the scaled scores' softmax denominator, as {@code io.sparge4j.engine.ops.Attention} reports it.
 * Grid: {@link #grid}; fewer groups than rows loop over the rows.
 *
 * <p>The backward is two kernels in the same shape, recomputing the probabilities {@code p = exp(s - lse)} from the
 * forward's logsumexp: {@link #backwardDq}, one group per query row (as the forward), and {@link #backwardDkDv}, one
 * group per key row, each work-item taking one query of a chunk. With {@code D_i = dO_i . O_i} and
 * {@code ds_ij = p_ij (dO_i . v_j - D_i)}: {@code dq_i = scale sum_j ds_ij k_j}, {@code dk_j = scale sum_i ds_ij q_i},
 * {@code dv_j = sum_i p_ij dO_i}.
 */
public final class RowAttentionKernels {
    /** Work-items per group, a power of two: the keys scored at once. */
    public static final int GROUP = 128;
    /** Largest head dimension: two output dimensions per work-item. */
    public static final int MAX_D = 2 * GROUP;

    private RowAttentionKernels() {
    }

    /**
     * {@code out = softmax(scale * q k^T) v} per head, with the logsumexp.
     *
     * @param ctx the work-item
     * @param q queries (heads, nq, d)
     * @param k keys (heads, nk, d)
     * @param v values (heads, nk, d)
     * @param out output (heads, nq, d), written
     * @param lse logsumexp (heads, nq), written
     * @param heads B * H
     * @param nq queries per head, at least 1
     * @param nk keys per head, at least 1
     * @param d head dimension, 1 to {@link #MAX_D}
     * @param scale the softmax scale
     */
    public static void attention(KernelContext ctx, FloatArray q, FloatArray k, FloatArray v, FloatArray out,
            FloatArray lse, int heads, int nq, int nk, int d, float scale) {
        float[] row = ctx.allocateFloatLocalArray(MAX_D);
        float[] p = ctx.allocateFloatLocalArray(GROUP);
        float[] red = ctx.allocateFloatLocalArray(GROUP);
        int lid = ctx.localIdx;
        int groups = ctx.globalGroupSizeX / ctx.localGroupSizeX;
        int rows = heads * nq;
        for (int r = ctx.groupIdx; r < rows; r += groups) {
            int head = r / nq;
            for (int e = lid; e < d; e += GROUP) {
                row[e] = q.get(r * d + e);
            }
            ctx.localBarrier();
            float m = Float.NEGATIVE_INFINITY;
            float l = 0f;
            float acc0 = 0f;
            float acc1 = 0f;
            int keyBase = head * nk;
            for (int c = 0; c < nk; c += GROUP) {
                int j = c + lid;
                float s = Float.NEGATIVE_INFINITY;
                if (j < nk) {
                    int kBase = (keyBase + j) * d;
                    float dot = 0f;
                    for (int e = 0; e < d; e++) {
                        dot = KernelMath.fma(row[e], k.get(kBase + e), dot);
                    }
                    s = dot * scale;
                }
                float chunkMax = groupMax(ctx, red, s);
                float mNew = KernelMath.max(m, chunkMax);
                float pj = j < nk ? KernelMath.exp(s - mNew) : 0f;
                p[lid] = pj;
                float chunkSum = groupSum(ctx, red, pj);
                // m is -inf only before the first chunk, whose key 0 is real: the old terms are all 0 then
                float correction = m == Float.NEGATIVE_INFINITY ? 0f : KernelMath.exp(m - mNew);
                l = l * correction + chunkSum;
                int count = nk - c < GROUP ? nk - c : GROUP;
                int vBase = (keyBase + c) * d;
                float sum0 = 0f;
                float sum1 = 0f;
                for (int t = 0; t < count; t++) {
                    float w = p[t];
                    if (lid < d) {
                        sum0 = KernelMath.fma(w, v.get(vBase + t * d + lid), sum0);
                    }
                    if (lid + GROUP < d) {
                        sum1 = KernelMath.fma(w, v.get(vBase + t * d + lid + GROUP), sum1);
                    }
                }
                acc0 = acc0 * correction + sum0;
                acc1 = acc1 * correction + sum1;
                m = mNew;
                ctx.localBarrier();
            }
            float inv = 1f / l;
            if (lid < d) {
                out.set(r * d + lid, acc0 * inv);
            }
            if (lid + GROUP < d) {
                out.set(r * d + lid + GROUP, acc1 * inv);
            }
            if (lid == 0) {
                lse.set(r, m + KernelMath.log(l));
            }
            ctx.localBarrier();
        }
    }

    /**
     * The query gradient of {@link #attention}: one group per query row.
     *
     * @param ctx the work-item
     * @param q queries (heads, nq, d)
     * @param k keys (heads, nk, d)
     * @param v values (heads, nk, d)
     * @param out the forward's output (heads, nq, d)
     * @param lse the forward's logsumexp (heads, nq)
     * @param dOut gradient of the output (heads, nq, d)
     * @param dq query gradient (heads, nq, d), written
     * @param heads B * H
     * @param nq queries per head
     * @param nk keys per head
     * @param d head dimension, 1 to {@link #MAX_D}
     * @param scale the forward's softmax scale
     */
    public static void backwardDq(KernelContext ctx, FloatArray q, FloatArray k, FloatArray v, FloatArray out,
            FloatArray lse, FloatArray dOut, FloatArray dq, int heads, int nq, int nk, int d, float scale) {
        float[] row = ctx.allocateFloatLocalArray(MAX_D);
        float[] dRow = ctx.allocateFloatLocalArray(MAX_D);
        float[] ds = ctx.allocateFloatLocalArray(GROUP);
        float[] red = ctx.allocateFloatLocalArray(GROUP);
        int lid = ctx.localIdx;
        int groups = ctx.globalGroupSizeX / ctx.localGroupSizeX;
        int rows = heads * nq;
        for (int r = ctx.groupIdx; r < rows; r += groups) {
            int head = r / nq;
            float part = 0f;
            for (int e = lid; e < d; e += GROUP) {
                row[e] = q.get(r * d + e);
                float g = dOut.get(r * d + e);
                dRow[e] = g;
                part = KernelMath.fma(g, out.get(r * d + e), part);
            }
            float dDot = groupSum(ctx, red, part);
            float rowLse = lse.get(r);
            float acc0 = 0f;
            float acc1 = 0f;
            int keyBase = head * nk;
            for (int c = 0; c < nk; c += GROUP) {
                int j = c + lid;
                float dsj = 0f;
                if (j < nk) {
                    int base = (keyBase + j) * d;
                    float s = 0f;
                    float dp = 0f;
                    for (int e = 0; e < d; e++) {
                        s = KernelMath.fma(row[e], k.get(base + e), s);
                        dp = KernelMath.fma(dRow[e], v.get(base + e), dp);
                    }
                    float p = KernelMath.exp(s * scale - rowLse);
                    dsj = p * (dp - dDot);
                }
                ds[lid] = dsj;
                ctx.localBarrier();
                int count = nk - c < GROUP ? nk - c : GROUP;
                int kBase = (keyBase + c) * d;
                for (int t = 0; t < count; t++) {
                    float w = ds[t];
                    if (lid < d) {
                        acc0 = KernelMath.fma(w, k.get(kBase + t * d + lid), acc0);
                    }
                    if (lid + GROUP < d) {
                        acc1 = KernelMath.fma(w, k.get(kBase + t * d + lid + GROUP), acc1);
                    }
                }
                ctx.localBarrier();
            }
            if (lid < d) {
                dq.set(r * d + lid, acc0 * scale);
            }
            if (lid + GROUP < d) {
                dq.set(r * d + lid + GROUP, acc1 * scale);
            }
            ctx.localBarrier();
        }
    }

    /**
     * The key and value gradients of {@link #attention}: one group per key row, the queries {@link #GROUP} at a
     * time. Grid: {@link #grid} of heads * nk.
     *
     * @param ctx the work-item
     * @param q queries (heads, nq, d)
     * @param k keys (heads, nk, d)
     * @param v values (heads, nk, d)
     * @param out the forward's output (heads, nq, d)
     * @param lse the forward's logsumexp (heads, nq)
     * @param dOut gradient of the output (heads, nq, d)
     * @param dk key gradient (heads, nk, d), written
     * @param dv value gradient (heads, nk, d), written
     * @param heads B * H
     * @param nq queries per head
     * @param nk keys per head
     * @param d head dimension, 1 to {@link #MAX_D}
     * @param scale the forward's softmax scale
     */
    public static void backwardDkDv(KernelContext ctx, FloatArray q, FloatArray k, FloatArray v, FloatArray out,
            FloatArray lse, FloatArray dOut, FloatArray dk, FloatArray dv, int heads, int nq, int nk, int d,
            float scale) {
        float[] kRow = ctx.allocateFloatLocalArray(MAX_D);
        float[] vRow = ctx.allocateFloatLocalArray(MAX_D);
        float[] p = ctx.allocateFloatLocalArray(GROUP);
        float[] ds = ctx.allocateFloatLocalArray(GROUP);
        int lid = ctx.localIdx;
        int groups = ctx.globalGroupSizeX / ctx.localGroupSizeX;
        int rows = heads * nk;
        for (int r = ctx.groupIdx; r < rows; r += groups) {
            int head = r / nk;
            for (int e = lid; e < d; e += GROUP) {
                kRow[e] = k.get(r * d + e);
                vRow[e] = v.get(r * d + e);
            }
            ctx.localBarrier();
            float dk0 = 0f;
            float dk1 = 0f;
            float dv0 = 0f;
            float dv1 = 0f;
            int queryBase = head * nq;
            for (int c = 0; c < nq; c += GROUP) {
                int i = c + lid;
                float pi = 0f;
                float dsi = 0f;
                if (i < nq) {
                    int base = (queryBase + i) * d;
                    float s = 0f;
                    float dp = 0f;
                    float dDot = 0f;
                    for (int e = 0; e < d; e++) {
                        float g = dOut.get(base + e);
                        s = KernelMath.fma(q.get(base + e), kRow[e], s);
                        dp = KernelMath.fma(g, vRow[e], dp);
                        dDot = KernelMath.fma(g, out.get(base + e), dDot);
                    }
                    pi = KernelMath.exp(s * scale - lse.get(queryBase + i));
                    dsi = pi * (dp - dDot);
                }
                p[lid] = pi;
                ds[lid] = dsi;
                ctx.localBarrier();
                int count = nq - c < GROUP ? nq - c : GROUP;
                int qBase = (queryBase + c) * d;
                for (int t = 0; t < count; t++) {
                    float wp = p[t];
                    float wd = ds[t];
                    if (lid < d) {
                        dv0 = KernelMath.fma(wp, dOut.get(qBase + t * d + lid), dv0);
                        dk0 = KernelMath.fma(wd, q.get(qBase + t * d + lid), dk0);
                    }
                    if (lid + GROUP < d) {
                        dv1 = KernelMath.fma(wp, dOut.get(qBase + t * d + lid + GROUP), dv1);
                        dk1 = KernelMath.fma(wd, q.get(qBase + t * d + lid + GROUP), dk1);
                    }
                }
                ctx.localBarrier();
            }
            if (lid < d) {
                dk.set(r * d + lid, dk0 * scale);
                dv.set(r * d + lid, dv0);
            }
            if (lid + GROUP < d) {
                dk.set(r * d + lid + GROUP, dk1 * scale);
                dv.set(r * d + lid + GROUP, dv1);
            }
            ctx.localBarrier();
        }
    }

    /** The group's maximum of {@code value}, on every work-item (a tree in local memory). */
    private static float groupMax(KernelContext ctx, float[] red, float value) {
        int lid = ctx.localIdx;
        red[lid] = value;
        ctx.localBarrier();
        for (int stride = GROUP / 2; stride > 0; stride /= 2) {
            if (lid < stride) {
                red[lid] = KernelMath.max(red[lid], red[lid + stride]);
            }
            ctx.localBarrier();
        }
        float result = red[0];
        ctx.localBarrier();
        return result;
    }

    /** The group's sum of {@code value}, on every work-item (a tree in local memory, the same order everywhere). */
    private static float groupSum(KernelContext ctx, float[] red, float value) {
        int lid = ctx.localIdx;
        red[lid] = value;
        ctx.localBarrier();
        for (int stride = GROUP / 2; stride > 0; stride /= 2) {
            if (lid < stride) {
                red[lid] = red[lid] + red[lid + stride];
            }
            ctx.localBarrier();
        }
        float result = red[0];
        ctx.localBarrier();
        return result;
    }

    /**
     * @param rows heads * nq
     * @return one group of {@link #GROUP} work-items per row (at least one group)
     */
    public static WorkerGrid1D grid(int rows) {
        WorkerGrid1D g = new WorkerGrid1D((long) Math.max(1, rows) * GROUP);
        g.setLocalWork(GROUP, 1, 1);
        return g;
    }
}
