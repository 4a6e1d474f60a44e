package io.sparge4j.engine.cpu.attention;

import io.sparge4j.engine.tensor.Tensor;

/**
 * Copies one block of a head's rows out of a (B,H,N,d) or (B,N,H,d) tensor into a zero-padded f32 tile,
 * either as rows (tile x paddedDim) or transposed (paddedDim x tile, so that a GEMM over the head
 * dimension reads contiguous vectors). Padding stays zero, so it adds nothing to any product.
 */
final class TilePacker {
    private TilePacker() {
    }

    /**
     * @param seqLen the tensor's sequence length
     * @param blockSize rows per block
     * @param tile padded rows per tile
     * @param block the block to pack
     * @param mul factor applied to every element
     * @param dst per-head buffer; block {@code block} starts at {@code block * tile * paddedDim}
     */
    static void rows(Tensor t, AttentionShape sh, int seqLen, int b, int h, int blockSize, int tile, int block,
                     float mul, float[] dst) {
        int dp = sh.paddedDim();
        int first = block * blockSize;
        int count = Math.min(blockSize, seqLen - first);
        for (int r = 0; r < count; r++) {
            RowIo.read(t, sh.rowIndex(seqLen, b, h, first + r), dst, (block * tile + r) * dp, sh.headDim(), mul);
        }
    }

    /**
     * Like {@link #rows} but transposed: element (row r, column c) of block {@code block} lands at
     * {@code block * tile * paddedDim + c * tile + r}.
     *
     * @param row scratch of at least headDim floats
     */
    static void transposed(Tensor t, AttentionShape sh, int seqLen, int b, int h, int blockSize, int tile, int block,
                           float mul, float[] dst, float[] row) {
        int d = sh.headDim();
        int base = block * tile * sh.paddedDim();
        int first = block * blockSize;
        int count = Math.min(blockSize, seqLen - first);
        for (int r = 0; r < count; r++) {
            RowIo.read(t, sh.rowIndex(seqLen, b, h, first + r), row, 0, d, mul);
            for (int c = 0; c < d; c++) {
                dst[base + c * tile + r] = row[c];
            }
        }
    }

    /** @return how many heads to pack at once so that the packed copies stay within a memory budget */
    static int headsPerChunk(AttentionShape sh, long floatsPerHead) {
        long budget = 32L << 20; // floats (128 MiB)
        return (int) Math.max(1, Math.min(sh.batchHeads(), budget / Math.max(1, floatsPerHead)));
    }
}
