package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.annotations.LaunchBounds;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

/**
 * Block mean pooling of queries or keys: (B, H, n, d) or (B, n, H, d) row-major into (B, H, blocks, d), where block
 * {@code i} covers tokens {@code [i * blockSize, min(n, (i + 1) * blockSize))}; a short last block is averaged over its
 * true length, as the CPU's {@code PooledAttentionMap} does.
 */
public final class BlockPoolingKernels {
    /**
     * Work-items per compute unit the pooling kernels' register budget allows: 1536 (12 groups of 128), so 40
     * registers on sm_90, enough for a work-item's loads of eight tokens (16 in the pair pooling) to be in flight at
     * once. nvcc's own choice, full occupancy at 32 registers, issues them a few at a time between the adds that
     * consume them (ptxas 11.8's SASS, bench/sass.sh; ptxas 13 gives the same register counts).
     */
    public static final int POOL_WORK_ITEMS_PER_UNIT = 1536;
    /** Tokens per batch of loads of the pooling kernels. */
    private static final int TOKENS_IN_FLIGHT = 8;

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
    @LaunchBounds(minWorkItemsPerComputeUnit = POOL_WORK_ITEMS_PER_UNIT)
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
            float[] values = new float[TOKENS_IN_FLIGHT];
            int t = 0;
            // eight loads in flight before the adds, which stay in token order (the same sum, bit for bit)
            for (; t + TOKENS_IN_FLIGHT <= len; t += TOKENS_IN_FLIGHT) {
                for (int u = 0; u < TOKENS_IN_FLIGHT; u++) {
                    values[u] = x.get(base + (t + u) * tokenStride);
                }
                for (int u = 0; u < TOKENS_IN_FLIGHT; u++) {
                    acc += values[u];
                }
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
     * <p>One work-item per two pooled pairs of columns, {@code (bh, block, p)} and {@code p + span} where span is
     * {@link #pairSpan}(d): work-items {@code 0 .. heads * nqb * span} pool q into {@code qPooled}, the next
     * {@code heads * nkb * span} pool k into {@code kPooled}. Adjacent work-items read adjacent ints of a token row
     * (coalesced) and write adjacent float pairs.
     * Launch: 1D grid of at least {@code heads * (nqb + nkb) * pairSpan(d)} work-items, any local size (e.g. 128); d
     * even, strides even.
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
    @LaunchBounds(minWorkItemsPerComputeUnit = POOL_WORK_ITEMS_PER_UNIT)
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
    @LaunchBounds(minWorkItemsPerComputeUnit = POOL_WORK_ITEMS_PER_UNIT)
    public static void poolPairsF16(KernelContext ctx, IntArray q, IntArray k, FloatArray qPooled,
            FloatArray kPooled, int heads, int headsPerBatch, int n, int d, int queryBlock, int keyBlock,
            int headStride, int tokenStride) {
        poolPairs(ctx, q, k, qPooled, kPooled, heads, headsPerBatch, n, d, queryBlock, keyBlock, headStride,
                tokenStride, false);
    }

    /**
     * The body of the pair pooling; bf16 is a constant at each call, so the JIT folds the format. A work-item sums
     * two pairs of columns, {@code p} and {@code p + span} ({@link #pairSpan}), so that a warp's loads of one token
     * cover a whole row of d = 128 (256 bytes, two back-to-back 128-byte loads) and not half of it, the other half
     * coming from another warp at another time.
     */
    private static void poolPairs(KernelContext ctx, IntArray q, IntArray k, FloatArray qPooled, FloatArray kPooled,
            int heads, int headsPerBatch, int n, int d, int queryBlock, int keyBlock, int headStride, int tokenStride,
            boolean bf16) {
        int half = d / 2;
        int span = pairSpan(d);
        int qBlocks = (n + queryBlock - 1) / queryBlock;
        int kBlocks = (n + keyBlock - 1) / keyBlock;
        int qItems = heads * qBlocks * span;
        int idx = ctx.globalIdx;
        boolean isQ = idx < qItems;
        int item = isQ ? idx : idx - qItems;
        int blocks = isQ ? qBlocks : kBlocks;
        int blockSize = isQ ? queryBlock : keyBlock;
        if (item < heads * blocks * span) {
            int p = item % span;
            int blk = (item / span) % blocks;
            int bh = item / (span * blocks);
            int start = blk * blockSize;
            int len = KernelMath.min(blockSize, n - start);
            int base = ((bh / headsPerBatch) * headsPerBatch * n * d + (bh % headsPerBatch) * headStride
                    + start * tokenStride) / 2 + p;
            int step = tokenStride / 2;
            // the second pair, span further on; with an odd number of pairs the last work-item has none: it rereads
            // its first pair instead and writes nothing for it
            boolean second = p + span < half;
            int other = second ? span : 0;
            float lo = 0f;
            float hi = 0f;
            float lo2 = 0f;
            float hi2 = 0f;
            int[] firstPairs = new int[TOKENS_IN_FLIGHT];
            int[] secondPairs = new int[TOKENS_IN_FLIGHT];
            int t = 0;
            // eight tokens' loads in flight before the adds, which stay in token order (the same sums, bit for bit):
            // the pooling streams all of q and k from memory, so bytes in flight per work-item set its speed
            for (; t + TOKENS_IN_FLIGHT <= len; t += TOKENS_IN_FLIGHT) {
                for (int u = 0; u < TOKENS_IN_FLIGHT; u++) {
                    firstPairs[u] = pairAt(q, k, isQ, base + (t + u) * step);
                    secondPairs[u] = pairAt(q, k, isQ, base + (t + u) * step + other);
                }
                for (int u = 0; u < TOKENS_IN_FLIGHT; u++) {
                    lo += low(firstPairs[u], bf16);
                    hi += high(firstPairs[u], bf16);
                    lo2 += low(secondPairs[u], bf16);
                    hi2 += high(secondPairs[u], bf16);
                }
            }
            for (; t < len; t++) {
                int a = pairAt(q, k, isQ, base + t * step);
                int b = pairAt(q, k, isQ, base + t * step + other);
                lo += low(a, bf16);
                hi += high(a, bf16);
                lo2 += low(b, bf16);
                hi2 += high(b, bf16);
            }
            int out = ((bh * blocks + blk) * d) + 2 * p;
            int out2 = out + 2 * span;
            if (isQ) {
                qPooled.set(out, lo / len);
                qPooled.set(out + 1, hi / len);
                if (second) {
                    qPooled.set(out2, lo2 / len);
                    qPooled.set(out2 + 1, hi2 / len);
                }
            } else {
                kPooled.set(out, lo / len);
                kPooled.set(out + 1, hi / len);
                if (second) {
                    kPooled.set(out2, lo2 / len);
                    kPooled.set(out2 + 1, hi2 / len);
                }
            }
        }
    }

    /**
     * Work-items per pooled row of {@link #poolPairsBF16} and {@link #poolPairsF16}: each sums column pairs
     * {@code p} and {@code p + span} of the {@code d / 2} ({@code p + span} only where it exists).
     *
     * @param d head dimension, even
     * @return {@code ceil(d / 4)}
     */
    public static int pairSpan(int d) {
        return (d / 2 + 1) / 2;
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
