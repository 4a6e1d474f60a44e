package io.sparge4j.engine.cpu.attention;

import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.tensor.Tensor;

import java.util.Arrays;

/**
 * Copies one block of a head's rows out of a (B,H,N,d) or (B,N,H,d) tensor into zero-padded f32 tiles:
 * as rows (tile x paddedDim), read straight into place, or transposed (paddedDim x tile, so that a GEMM
 * over the head dimension reads contiguous vectors), from rows already packed or {@link #stage staged}
 * (one bulk read when the rows are contiguous). Every padding element is written as zero, so reused
 * buffers never carry stale values into a product.
 */
final class TilePacker {
    private TilePacker() {
    }

    /** @return the rows block {@code block} holds: {@code blockSize}, or fewer for the last block */
    static int count(int seqLen, int blockSize, int block) {
        return Math.min(blockSize, seqLen - block * blockSize);
    }

    /**
     * Reads the rows of block {@code block} of head (b, h), times {@code mul}, into
     * {@code stage[r * headDim + c]}.
     *
     * @param seqLen the tensor's sequence length
     * @param stage at least {@code blockSize * headDim} floats
     * @return the number of rows read
     */
    static int stage(Tensor t, AttentionShape sh, int seqLen, int b, int h, int blockSize, int block, float mul,
                     float[] stage) {
        int d = sh.headDim();
        int first = block * blockSize;
        int count = count(seqLen, blockSize, block);
        if (sh.layout() == AttentionLayout.BHND) {
            // A head's rows are contiguous in BHND: one read for the whole block.
            RowIo.read(t, sh.rowIndex(seqLen, b, h, first), stage, 0, count * d, mul);
        } else {
            for (int r = 0; r < count; r++) {
                RowIo.read(t, sh.rowIndex(seqLen, b, h, first + r), stage, r * d, d, mul);
            }
        }
        return count;
    }

    /**
     * Packs the rows of block {@code block} of head (b, h), times {@code mul}, as a {@code tile x paddedDim}
     * tile at {@code dst[off]}, zero padded. Rows are read straight into place: a BHND block whose head
     * dimension needs no padding is one bulk read.
     *
     * @return the number of rows packed
     */
    static int rows(Tensor t, AttentionShape sh, int seqLen, int b, int h, int blockSize, int block, float mul,
                    int tile, float[] dst, int off) {
        int d = sh.headDim();
        int dp = sh.paddedDim();
        int first = block * blockSize;
        int count = count(seqLen, blockSize, block);
        if (d == dp && sh.layout() == AttentionLayout.BHND) {
            RowIo.read(t, sh.rowIndex(seqLen, b, h, first), dst, off, count * d, mul);
        } else {
            for (int r = 0; r < count; r++) {
                int at = off + r * dp;
                RowIo.read(t, sh.rowIndex(seqLen, b, h, first + r), dst, at, d, mul);
                Arrays.fill(dst, at + d, at + dp, 0f);
            }
        }
        Arrays.fill(dst, off + count * dp, off + tile * dp, 0f);
        return count;
    }

    /**
     * Lays {@code count} rows of {@code headDim} floats, row r at {@code src[srcOff + r * srcStride]}, out
     * transposed: element (row r, column c) lands at {@code dst[off + c * tile + r]}; padding rows and columns
     * are zero.
     */
    static void transposed(TileMath math, float[] src, int srcOff, int srcStride, int count, AttentionShape sh,
                           int tile, float[] dst, int off) {
        int d = sh.headDim();
        int dp = sh.paddedDim();
        math.transpose(src, srcOff, srcStride, count, d, dst, off, tile);
        if (count < tile) {
            for (int c = 0; c < d; c++) {
                Arrays.fill(dst, off + c * tile + count, off + (c + 1) * tile, 0f);
            }
        }
        Arrays.fill(dst, off + d * tile, off + dp * tile, 0f);
    }

    /** @return how many heads to pack at once so that the packed copies stay within a memory budget */
    static int headsPerChunk(AttentionShape sh, long floatsPerHead) {
        long budget = 32L << 20; // floats (128 MiB)
        return (int) Math.max(1, Math.min(sh.batchHeads(), budget / Math.max(1, floatsPerHead)));
    }
}
