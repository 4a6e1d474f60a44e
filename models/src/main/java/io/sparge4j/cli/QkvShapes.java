package io.sparge4j.cli;

import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.sparse.BlockGrid;
import io.sparge4j.engine.tensor.Tensor;

import java.util.Arrays;

/**
 * B, H, Nq, Nk and d read from q and k in either layout, with the checks that q, k (and v) agree.
 *
 * @param batch B
 * @param heads H
 * @param queries Nq
 * @param keys Nk
 * @param headDim d
 * @param layout the layout they were read in
 */
record QkvShapes(int batch, int heads, int queries, int keys, int headDim, AttentionLayout layout) {
    /** @return "(B,H,N,d)" or "(B,N,H,d)" */
    static String layoutName(AttentionLayout layout) {
        return layout == AttentionLayout.BNHD ? "(B,N,H,d)" : "(B,H,N,d)";
    }

    /**
     * @param q queries
     * @param k keys
     * @param v values, or null
     * @param layout how the tensors are laid out
     * @return the sizes
     * @throws IllegalArgumentException naming the tensor whose shape does not fit q
     */
    static QkvShapes of(Tensor q, Tensor k, Tensor v, AttentionLayout layout) {
        boolean bnhd = layout == AttentionLayout.BNHD;
        int b = q.dim(0);
        int h = bnhd ? q.dim(2) : q.dim(1);
        int nq = bnhd ? q.dim(1) : q.dim(2);
        int d = q.dim(3);
        int nk = bnhd ? k.dim(1) : k.dim(2);
        int[] expectedK = bnhd ? new int[] {b, nk, h, d} : new int[] {b, h, nk, d};
        if (!Arrays.equals(k.shape(), expectedK)) {
            throw new IllegalArgumentException("k has shape " + Arrays.toString(k.shape()) + ", expected "
                    + Arrays.toString(expectedK) + ": the same B, H and d as q " + Arrays.toString(q.shape()) + " in "
                    + layoutName(layout));
        }
        if (v != null && !Arrays.equals(v.shape(), k.shape())) {
            throw new IllegalArgumentException("v has shape " + Arrays.toString(v.shape()) + ", expected "
                    + Arrays.toString(k.shape()) + ", the shape of k");
        }
        if (d > io.sparge4j.engine.ops.Attention.MAX_HEAD_DIM) {
            throw new IllegalArgumentException("q has head dim d = " + d + ", expected at most "
                    + io.sparge4j.engine.ops.Attention.MAX_HEAD_DIM);
        }
        return new QkvShapes(b, h, nq, nk, d, layout);
    }

    /** @return the block mask shape (B, H, nq, nk) for these block sizes */
    int[] maskShape(int queryBlock, int keyBlock) {
        return new int[] {batch, heads, new BlockGrid(queries, queryBlock).blocks(), new BlockGrid(keys, keyBlock).blocks()};
    }
}
