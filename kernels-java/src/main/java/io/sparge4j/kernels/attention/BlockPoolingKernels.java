package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

/**
 * Block mean pooling of queries or keys: (B, H, n, d) or (B, n, H, d) row-major into (B, H, blocks, d), where block {@code i}
 * covers tokens {@code [i * blockSize, min(n, (i + 1) * blockSize))}; a short last block is averaged over its
 * true length, as the CPU's {@code PooledAttentionMap} does.
 */
public final class BlockPoolingKernels {
    private BlockPoolingKernels() {
    }

    /**
     * One work-item per pooled element {@code (bh, block, c)}: the float sum of the block's tokens in column c,
     * divided by the block's length. Adjacent work-items read adjacent columns, so reads coalesce. The input is
     * (B, H, n, d) ({@code headStride = n * d, tokenStride = d}) or (B, n, H, d) ({@code headStride = d,
     * tokenStride = H * d}); the output is always (B, H, blocks, d).
     * Launch: 1D grid of at least {@code heads * blocks * d} work-items, any local size (e.g. 128).
     *
     * @param ctx the work-item
     * @param x input, row-major, {@code heads * n * d} values
     * @param pooled output (heads, blocks, d), row-major
     * @param heads B * H
     * @param headsPerBatch H
     * @param n tokens per head
     * @param d head dimension
     * @param blockSize tokens per block
     * @param headStride elements between heads h and h + 1 of one batch
     * @param tokenStride elements between tokens t and t + 1 of one head
     */
    public static void poolBlocks(KernelContext ctx, FloatArray x, FloatArray pooled, int heads, int headsPerBatch,
            int n, int d, int blockSize, int headStride, int tokenStride) {
        int blocks = (n + blockSize - 1) / blockSize;
        int total = heads * blocks * d;
        int idx = ctx.globalIdx;
        if (idx < total) {
            int c = idx % d;
            int blk = (idx / d) % blocks;
            int bh = idx / (d * blocks);
            int start = blk * blockSize;
            int len = KernelMath.min(blockSize, n - start);
            int base = (bh / headsPerBatch) * headsPerBatch * n * d + (bh % headsPerBatch) * headStride
                    + start * tokenStride + c;
            float acc = 0f;
            int t = 0;
            // four loads in flight before the adds, which stay in token order (the same sum, bit for bit)
            for (; t + 4 <= len; t += 4) {
                float x0 = x.get(base + t * tokenStride);
                float x1 = x.get(base + (t + 1) * tokenStride);
                float x2 = x.get(base + (t + 2) * tokenStride);
                float x3 = x.get(base + (t + 3) * tokenStride);
                acc += x0;
                acc += x1;
                acc += x2;
                acc += x3;
            }
            for (; t < len; t++) {
                acc += x.get(base + t * tokenStride);
            }
            pooled.set(idx, acc / len);
        }
    }

    /**
     * {@link #poolBlocks} of q and k together (one launch) from bf16 inputs read as int pairs (two elements per int,
     * element {@code 2p} in the low half, as the tensor-core kernels read them), so no f32 copy of q or k is made.
     * Each bf16 value widens to f32 exactly and the sums run in f32 in token order, so the pooled values equal
     * {@link #poolBlocks}' over f32 copies of the same values, bit for bit.
     *
     * <p>One work-item per pooled pair of columns {@code (bh, block, p)}: work-items {@code 0 .. heads * nqb * d/2}
     * pool q into {@code qPooled}, the next {@code heads * nkb * d/2} pool k into {@code kPooled}. Adjacent
     * work-items read adjacent ints of a token row (coalesced) and write adjacent float pairs.
     * Launch: 1D grid of at least {@code heads * (nqb + nkb) * d / 2} work-items, any local size (e.g. 128); d even,
     * strides even.
     *
     * @param ctx the work-item
     * @param q queries as int pairs, {@code heads * n * d / 2} ints
     * @param k keys as int pairs, laid out as q
     * @param qPooled output (heads, ceil(n / queryBlock), d)
     * @param kPooled output (heads, ceil(n / keyBlock), d)
     * @param heads B * H
     * @param headsPerBatch H
     * @param n tokens per head
     * @param d head dimension, even
     * @param queryBlock tokens per query block
     * @param keyBlock tokens per key block
     * @param headStride elements between heads h and h + 1 of one batch (even)
     * @param tokenStride elements between tokens t and t + 1 of one head (even)
     */
    public static void poolPairsBF16(KernelContext ctx, IntArray q, IntArray k, FloatArray qPooled,
            FloatArray kPooled, int heads, int headsPerBatch, int n, int d, int queryBlock, int keyBlock,
            int headStride, int tokenStride) {
        poolPairs(ctx, q, k, qPooled, kPooled, heads, headsPerBatch, n, d, queryBlock, keyBlock, headStride,
                tokenStride, true);
    }

    /**
     * As {@link #poolPairsBF16} with f16 inputs (each f16 value widens to f32 exactly).
     *
     * @param ctx the work-item
     * @param q queries as int pairs of f16
     * @param k keys as int pairs of f16
     * @param qPooled output (heads, ceil(n / queryBlock), d)
     * @param kPooled output (heads, ceil(n / keyBlock), d)
     * @param heads B * H
     * @param headsPerBatch H
     * @param n tokens per head
     * @param d head dimension, even
     * @param queryBlock tokens per query block
     * @param keyBlock tokens per key block
     * @param headStride elements between heads h and h + 1 of one batch (even)
     * @param tokenStride elements between tokens t and t + 1 of one head (even)
     */
    public static void poolPairsF16(KernelContext ctx, IntArray q, IntArray k, FloatArray qPooled,
            FloatArray kPooled, int heads, int headsPerBatch, int n, int d, int queryBlock, int keyBlock,
            int headStride, int tokenStride) {
        poolPairs(ctx, q, k, qPooled, kPooled, heads, headsPerBatch, n, d, queryBlock, keyBlock, headStride,
                tokenStride, false);
    }

    /** The body of the pair pooling; bf16 is a constant at each call, so the JIT folds the format. */
    private static void poolPairs(KernelContext ctx, IntArray q, IntArray k, FloatArray qPooled, FloatArray kPooled,
            int heads, int headsPerBatch, int n, int d, int queryBlock, int keyBlock, int headStride, int tokenStride,
            boolean bf16) {
        int half = d / 2;
        int qBlocks = (n + queryBlock - 1) / queryBlock;
        int kBlocks = (n + keyBlock - 1) / keyBlock;
        int qItems = heads * qBlocks * half;
        int idx = ctx.globalIdx;
        boolean isQ = idx < qItems;
        int item = isQ ? idx : idx - qItems;
        int blocks = isQ ? qBlocks : kBlocks;
        int blockSize = isQ ? queryBlock : keyBlock;
        if (item < heads * blocks * half) {
            int p = item % half;
            int blk = (item / half) % blocks;
            int bh = item / (half * blocks);
            int start = blk * blockSize;
            int len = KernelMath.min(blockSize, n - start);
            int base = ((bh / headsPerBatch) * headsPerBatch * n * d + (bh % headsPerBatch) * headStride
                    + start * tokenStride) / 2 + p;
            int step = tokenStride / 2;
            float lo = 0f;
            float hi = 0f;
            int t = 0;
            // eight loads in flight before the adds, which stay in token order (the same sums, bit for bit): the
            // pooling streams all of q and k from memory, so bytes in flight per work-item set its speed
            for (; t + 8 <= len; t += 8) {
                int p0 = pairAt(q, k, isQ, base + t * step);
                int p1 = pairAt(q, k, isQ, base + (t + 1) * step);
                int p2 = pairAt(q, k, isQ, base + (t + 2) * step);
                int p3 = pairAt(q, k, isQ, base + (t + 3) * step);
                int p4 = pairAt(q, k, isQ, base + (t + 4) * step);
                int p5 = pairAt(q, k, isQ, base + (t + 5) * step);
                int p6 = pairAt(q, k, isQ, base + (t + 6) * step);
                int p7 = pairAt(q, k, isQ, base + (t + 7) * step);
                lo += low(p0, bf16);
                hi += high(p0, bf16);
                lo += low(p1, bf16);
                hi += high(p1, bf16);
                lo += low(p2, bf16);
                hi += high(p2, bf16);
                lo += low(p3, bf16);
                hi += high(p3, bf16);
                lo += low(p4, bf16);
                hi += high(p4, bf16);
                lo += low(p5, bf16);
                hi += high(p5, bf16);
                lo += low(p6, bf16);
                hi += high(p6, bf16);
                lo += low(p7, bf16);
                hi += high(p7, bf16);
            }
            for (; t < len; t++) {
                int pair = pairAt(q, k, isQ, base + t * step);
                lo += low(pair, bf16);
                hi += high(pair, bf16);
            }
            int out = ((bh * blocks + blk) * d) + 2 * p;
            if (isQ) {
                qPooled.set(out, lo / len);
                qPooled.set(out + 1, hi / len);
            } else {
                kPooled.set(out, lo / len);
                kPooled.set(out + 1, hi / len);
            }
        }
    }

    /** q's or k's int at {@code i} (the JIT takes no array chosen by a condition, so the condition picks the load). */
    private static int pairAt(IntArray q, IntArray k, boolean isQ, int i) {
        return isQ ? q.get(i) : k.get(i);
    }

    private static float low(int pair, boolean bf16) {
        return bf16 ? Float.intBitsToFloat(pair << 16) : KernelMath.halfToFloat((short) pair);
    }

    private static float high(int pair, boolean bf16) {
        return bf16 ? Float.intBitsToFloat(pair & 0xffff0000) : KernelMath.halfToFloat((short) (pair >>> 16));
    }
}
