package io.sparge4j.engine.cpu.attention;

import io.sparge4j.engine.ops.AttentionLayout;

/**
 * The sizes of one attention problem and how they are tiled.
 *
 * <p>Query block {@code i} holds rows {@code [i * queryBlock, min(queryLen, (i + 1) * queryBlock))}, and
 * likewise for keys. Tiles are padded with zeros to {@link #queryTile()} x {@link #keyTile()} rows and
 * {@link #paddedDim()} columns (multiples of 16) so that the micro-kernels never handle ragged edges; a tile
 * is no larger than the sequence needs, so short sequences do not pay for long blocks.
 *
 * @param batch B
 * @param heads H
 * @param queryLen Nq
 * @param keyLen Nk
 * @param headDim d
 * @param layout element order of q, k, v and their gradients
 * @param queryBlock rows per query block
 * @param keyBlock rows per key block
 */
public record AttentionShape(int batch, int heads, int queryLen, int keyLen, int headDim, AttentionLayout layout,
                             int queryBlock, int keyBlock) {
    /** Padding unit: a full AVX-512 float vector. */
    static final int ALIGN = 16;

    /** @return B * H */
    public int batchHeads() {
        return batch * heads;
    }

    /** @return number of query blocks */
    public int queryBlocks() {
        return ceilDiv(queryLen, queryBlock);
    }

    /** @return number of key blocks */
    public int keyBlocks() {
        return ceilDiv(keyLen, keyBlock);
    }

    /** @return the head dimension rounded up to a multiple of 16 */
    public int paddedDim() {
        return roundUp(headDim, ALIGN);
    }

    /** @return rows per query tile: the most rows a query block holds, rounded up to a multiple of 16 */
    public int queryTile() {
        return roundUp(Math.min(queryBlock, queryLen), ALIGN);
    }

    /** @return rows per key tile: the most rows a key block holds, rounded up to a multiple of 16 */
    public int keyTile() {
        return roundUp(Math.min(keyBlock, keyLen), ALIGN);
    }

    /**
     * @param seqLen Nq or Nk (the tensor's sequence length)
     * @param b batch index
     * @param h head index
     * @param n sequence index
     * @return the flat element index of {@code (b, h, n, 0)} in a tensor of this layout
     */
    long rowIndex(int seqLen, int b, int h, int n) {
        return layout == AttentionLayout.BHND
                ? (((long) b * heads + h) * seqLen + n) * headDim
                : (((long) b * seqLen + n) * heads + h) * headDim;
    }

    static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    static int roundUp(int a, int unit) {
        return ceilDiv(a, unit) * unit;
    }
}
