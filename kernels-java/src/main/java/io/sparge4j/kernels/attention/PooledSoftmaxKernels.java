package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.annotations.LaunchBounds;
import io.sparge4j.kernels.types.arrays.ByteArray;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

/**
 * The pooled map P = softmax_rowwise(scale * Qp Kp^T): one row per (b, h, query block) over all key blocks, in
 * float with the row maximum subtracted. The CPU reference ({@code PooledAttentionMap}) works in float64, so the
 * two agree to float rounding, not bit for bit.
 */
public final class PooledSoftmaxKernels {
    /** Work-group size. */
    public static final int GROUP = 256;
    /**
     * Query blocks per work-group: they share each read of a key tile. 8, not 16: wan13b-480p's 12 heads x 256 query
     * blocks then make 384 groups, about three per multiprocessor at once instead of one or two, and the selection
     * runs one row per 32 work-items instead of two in turn; both phases are latency chains, not throughput bound.
     */
    public static final int ROWS = 8;
    /** Largest head dimension: the query rows are staged in a local array of {@code ROWS * MAX_D} floats. */
    public static final int MAX_D = 256;

    /** Rows per work-item: the group is ROWS / ROW_STEP row sets of KEY_LANES work-items. */
    private static final int ROW_STEP = 2;
    /** Work-items sharing a row set; each takes KEY_STEP keys of a chunk, KEY_LANES apart. */
    private static final int KEY_LANES = GROUP * ROW_STEP / ROWS;
    /** Keys per work-item per chunk. */
    private static final int KEY_STEP = 4;
    /** Keys per chunk of the key tile. */
    private static final int KEY_CHUNK = KEY_LANES * KEY_STEP;
    /** Columns per slice of the key tile. */
    private static final int D_CHUNK = 16;
    /** Row pitch of the key tile: one more than D_CHUNK, so that the lanes' reads of one column hit distinct banks. */
    private static final int PITCH = D_CHUNK + 1;

    private PooledSoftmaxKernels() {
    }

    /**
     * One work-group of {@link #GROUP} work-items per {@link #ROWS} query blocks {@code i0 .. i0 + ROWS - 1} of one
     * head (fewer at the head's end). The query rows are staged in local memory; the head's pooled keys stream
     * through a local tile of {@code 256 keys x 16 columns}, read coalesced from global memory once per group. Each
     * work-item owns 2 rows x 4 keys of every 256-key chunk (register tile: 6 local reads per 8 fma, bank-conflict
     * free), so the key traffic is divided by ROWS and no work-item reads a key row on its own (the old kernel's
     * one-row-per-work-item reads touched 32 cache lines per warp load).
     *
     * <p>Each score is {@code fma} over the columns in order, times scale, as before. The softmax then runs on the
     * scores in {@code probs}, each work-item rereading only what it wrote (a local barrier orders local memory
     * only): row maxima and sums of the 64 work-items of a row set go through local-memory trees, all 8 rows at
     * once (14 barriers in all).
     * Launch: 1D grid of {@code heads * ceil(nq / ROWS) * GROUP}, local size {@link #GROUP}; {@code d <= MAX_D}.
     * Local memory: 8 KiB of query rows, 17 KiB of key tile, 2 KiB of reduction.
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
        float[] qs = ctx.allocateFloatLocalArray(ROWS * MAX_D);
        float[] kt = ctx.allocateFloatLocalArray(KEY_CHUNK * PITCH);
        float[] red = ctx.allocateFloatLocalArray(ROWS * KEY_LANES);
        softmaxGroup(ctx, qs, kt, red, qPooled, kPooled, probs, nq, nk, d, scale);
    }

    /**
     * {@link #pooledSoftmax} and then, in the same launch, {@code BlockSelectKernels.selectRows} on the rows the
     * work-group has just written (its 8 query blocks are the selection's work-group of the same id): one launch
     * and no second read of the map from L2 by another kernel. The map and the mask are those of the two kernels
     * run one after the other, bit for bit. Launch: as {@link #pooledSoftmax}; {@code nk} at most
     * {@code BlockSelectKernels.MAX_KEY_BLOCKS}. Local memory: that of both kernels (34 KiB). Registers: at most 80
     * on CUDA (three groups per multiprocessor), so that wan13b-480p's 384 work-groups run in one wave on 132.
     *
     * @param ctx the work-item
     * @param qPooled pooled queries (heads, nq, d)
     * @param kPooled pooled keys (heads, nk, d)
     * @param probs output (heads, nq, nk), each row sums to 1
     * @param keep output (heads * nq, nk): 1 where the block is kept, else 0
     * @param keepBits output (heads * nq, ceil(nk / 32)): the keep flags as bits
     * @param counts output (heads * nq): kept blocks per row
     * @param groupTotals output (heads * ceil(nq / ROWS)): kept blocks per work-group
     * @param nq query blocks per head
     * @param nk key blocks per head
     * @param d head dimension
     * @param scale softmax scale (usually 1/sqrt(d))
     * @param topk Top-k count (see {@code BlockSelectKernels})
     * @param pBits Top-p threshold bits (see {@code BlockSelectKernels})
     * @param pCeil {@code BlockSelectKernels.pCeil(p)}
     */
    @LaunchBounds(minWorkItemsPerComputeUnit = 3 * GROUP)
    public static void pooledSoftmaxSelect(KernelContext ctx, FloatArray qPooled, FloatArray kPooled,
            FloatArray probs, ByteArray keep, IntArray keepBits, IntArray counts, IntArray groupTotals, int nq, int nk,
            int d, float scale, int topk, long pBits, long pCeil) {
        float[] qs = ctx.allocateFloatLocalArray(ROWS * MAX_D);
        float[] kt = ctx.allocateFloatLocalArray(KEY_CHUNK * PITCH);
        float[] red = ctx.allocateFloatLocalArray(ROWS * KEY_LANES);
        int[] flags = ctx.allocateIntLocalArray(BlockSelectKernels.WARPS);
        int[] bestKey = ctx.allocateIntLocalArray(BlockSelectKernels.GROUP);
        int[] bestIndex = ctx.allocateIntLocalArray(BlockSelectKernels.GROUP);
        int[] s0 = ctx.allocateIntLocalArray(BlockSelectKernels.GROUP);
        int[] s1 = ctx.allocateIntLocalArray(BlockSelectKernels.GROUP);
        int[] s2 = ctx.allocateIntLocalArray(BlockSelectKernels.GROUP);
        int[] s3 = ctx.allocateIntLocalArray(BlockSelectKernels.GROUP);
        int[] p0 = ctx.allocateIntLocalArray(BlockSelectKernels.PARTIALS);
        int[] p1 = ctx.allocateIntLocalArray(BlockSelectKernels.PARTIALS);
        int[] p2 = ctx.allocateIntLocalArray(BlockSelectKernels.PARTIALS);
        int[] p3 = ctx.allocateIntLocalArray(BlockSelectKernels.PARTIALS);
        softmaxGroup(ctx, qs, kt, red, qPooled, kPooled, probs, nq, nk, d, scale);
        // the group's rows, written by all its work-items, are read by others below
        ctx.globalBarrier();
        BlockSelectKernels.selectGroup(ctx, flags, bestKey, bestIndex, s0, s1, s2, s3, p0, p1, p2, p3, probs, keep,
                keepBits, counts, groupTotals, nq, nk, topk, pBits, pCeil);
    }

    /** The body of {@link #pooledSoftmax} on the caller's local arrays. */
    private static void softmaxGroup(KernelContext ctx, float[] qs, float[] kt, float[] red, FloatArray qPooled,
            FloatArray kPooled, FloatArray probs, int nq, int nk, int d, float scale) {
        float[] acc = new float[ROW_STEP * KEY_STEP];
        float[] qv = new float[ROW_STEP];
        float[] kv = new float[KEY_STEP];
        float[] part = new float[ROW_STEP];
        float[] total = new float[ROW_STEP];
        int lid = ctx.localIdx;
        int set = lid / KEY_LANES;
        int lane = lid % KEY_LANES;
        int groupsPerHead = (nq + ROWS - 1) / ROWS;
        int bh = ctx.groupIdx / groupsPerHead;
        int i0 = (ctx.groupIdx % groupsPerHead) * ROWS;
        int live = KernelMath.min(ROWS, nq - i0);
        int qBase = (bh * nq + i0) * d;
        int kBase = bh * nk * d;
        int pBase = (bh * nq + i0) * nk;
        int row0 = set * ROW_STEP;
        for (int e = lid; e < ROWS * MAX_D; e += GROUP) {
            int r = e / MAX_D;
            int c = e % MAX_D;
            qs[e] = r < live && c < d ? qPooled.get(qBase + r * d + c) : 0f;
        }
        for (int r = 0; r < ROW_STEP; r++) {
            part[r] = Float.NEGATIVE_INFINITY;
        }
        ctx.localBarrier();
        // Scores, and each work-item's running maxima of its rows
        for (int j0 = 0; j0 < nk; j0 += KEY_CHUNK) {
            for (int a = 0; a < ROW_STEP * KEY_STEP; a++) {
                acc[a] = 0f;
            }
            for (int c0 = 0; c0 < d; c0 += D_CHUNK) {
                for (int e = lid; e < KEY_CHUNK * D_CHUNK; e += GROUP) {
                    int key = e / D_CHUNK;
                    int c = e % D_CHUNK;
                    kt[key * PITCH + c] = j0 + key < nk && c0 + c < d
                            ? kPooled.get(kBase + (j0 + key) * d + c0 + c) : 0f;
                }
                ctx.localBarrier();
                for (int c = 0; c < D_CHUNK; c++) {
                    for (int r = 0; r < ROW_STEP; r++) {
                        qv[r] = qs[(row0 + r) * MAX_D + c0 + c];
                    }
                    for (int m = 0; m < KEY_STEP; m++) {
                        kv[m] = kt[(lane + m * KEY_LANES) * PITCH + c];
                    }
                    for (int r = 0; r < ROW_STEP; r++) {
                        for (int m = 0; m < KEY_STEP; m++) {
                            acc[r * KEY_STEP + m] = KernelMath.fma(qv[r], kv[m], acc[r * KEY_STEP + m]);
                        }
                    }
                }
                ctx.localBarrier();
            }
            for (int r = 0; r < ROW_STEP; r++) {
                for (int m = 0; m < KEY_STEP; m++) {
                    int key = j0 + lane + m * KEY_LANES;
                    if (key < nk && row0 + r < live) {
                        float s = acc[r * KEY_STEP + m] * scale;
                        probs.set(pBase + (row0 + r) * nk + key, s);
                        part[r] = KernelMath.max(part[r], s);
                    }
                }
            }
        }
        reduce(ctx, red, part, total, set, lane, true);
        // exp(s - max) in place, and the running sums
        for (int r = 0; r < ROW_STEP; r++) {
            part[r] = 0f;
        }
        for (int j0 = 0; j0 < nk; j0 += KEY_CHUNK) {
            for (int r = 0; r < ROW_STEP; r++) {
                for (int m = 0; m < KEY_STEP; m++) {
                    int key = j0 + lane + m * KEY_LANES;
                    if (key < nk && row0 + r < live) {
                        int at = pBase + (row0 + r) * nk + key;
                        float e = KernelMath.exp(probs.get(at) - total[r]);
                        probs.set(at, e);
                        part[r] += e;
                    }
                }
            }
        }
        reduce(ctx, red, part, total, set, lane, false);
        for (int j0 = 0; j0 < nk; j0 += KEY_CHUNK) {
            for (int r = 0; r < ROW_STEP; r++) {
                for (int m = 0; m < KEY_STEP; m++) {
                    int key = j0 + lane + m * KEY_LANES;
                    if (key < nk && row0 + r < live) {
                        int at = pBase + (row0 + r) * nk + key;
                        probs.set(at, probs.get(at) / total[r]);
                    }
                }
            }
        }
    }

    /**
     * Combines the {@link #KEY_LANES} work-items' values of each of the group's rows (max, or sum) through a local
     * tree, all rows at once; every work-item reaches every barrier (barriers under a condition crash PoCL's
     * work-group compiler). {@code total[r]} receives the result for the work-item's row {@code set * 4 + r}.
     */
    private static void reduce(KernelContext ctx, float[] red, float[] part, float[] total, int set, int lane,
            boolean max) {
        for (int r = 0; r < ROW_STEP; r++) {
            red[(set * ROW_STEP + r) * KEY_LANES + lane] = part[r];
        }
        ctx.localBarrier();
        for (int stride = KEY_LANES / 2; stride > 0; stride /= 2) {
            if (lane < stride) {
                for (int r = 0; r < ROW_STEP; r++) {
                    int at = (set * ROW_STEP + r) * KEY_LANES + lane;
                    red[at] = max ? KernelMath.max(red[at], red[at + stride]) : red[at] + red[at + stride];
                }
            }
            ctx.localBarrier();
        }
        for (int r = 0; r < ROW_STEP; r++) {
            total[r] = red[(set * ROW_STEP + r) * KEY_LANES];
        }
        ctx.localBarrier();
    }
}
