package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.types.arrays.FloatArray;

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
            for (int t = 0; t < len; t++) {
                acc += x.get(base + t * tokenStride);
            }
            pooled.set(idx, acc / len);
        }
    }
}
