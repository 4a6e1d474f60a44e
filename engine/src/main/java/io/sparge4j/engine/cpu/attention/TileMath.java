package io.sparge4j.engine.cpu.attention;

/**
 * The arithmetic an attention tile needs: a small GEMM and the softmax steps, on float arrays.
 *
 * <p>Scores are kept in base 2 (the query is pre-multiplied by {@code scale * log2(e)}), so the
 * exponentials are powers of two. Implementations: {@link ScalarTileMath} (plain Java) and a Vector
 * API one (see {@link TileMaths}); the kernels are written once against this interface.
 */
public interface TileMath {
    /**
     * C = diag(rowScale) C + A B when {@code accumulate}, else C = A B. A is m x k, B is k x n, C is m x n,
     * all row-major with the given leading dimensions.
     *
     * @param m rows of A and C, a multiple of 4
     * @param n columns of B and C, a multiple of 16
     * @param k inner dimension
     * @param rowScale per-row factor applied to C before accumulating, or null for none
     * @param accumulate whether to add to C (else C is overwritten)
     */
    void gemm(float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff, int ldc,
              int m, int n, int k, float[] rowScale, boolean accumulate);

    /** Floats of {@code rowSum} per row in {@link #onlineSoftmax}: lane-wise partial sums, added up at the end. */
    int SUM_STRIDE = 16;

    /**
     * One online-softmax step on a rows x cols score tile (base 2). Row i of the tile is row
     * {@code r = firstRow + i} of the running state: it keeps a reference max m ({@code rowMax[r]}) and a sum
     * ({@code rowSum[r * SUM_STRIDE ...]}, whose {@code SUM_STRIDE} entries
     * add up to the row's sum of {@code 2^(s - m)}). The step may raise m (it must when a score exceeds it
     * by more than {@link #MAX_OVERSHOOT}); the factor {@code 2^(oldMax - newMax)} by which older sums and
     * outputs must be rescaled goes to {@code alpha[i]} (indexed by tile row). Scores are replaced by {@code 2^(s - m)}; columns
     * from {@code validCols} on are padding and become 0.
     *
     * @param cols the tile width (a multiple of 16), also its leading dimension
     * @return false if every alpha is 1 (nothing to rescale)
     */
    boolean onlineSoftmax(float[] s, int rows, int cols, int validCols, float[] rowMax, float[] rowSum, int firstRow,
                          float[] alpha);

    /** How far (base 2) a score may exceed the reference max before the max must be raised: p stays below 2^8. */
    float MAX_OVERSHOOT = 8f;

    /**
     * The softmax backward on a rows x cols tile: {@code p = 2^(s - shift)} replaces s, and
     * {@code ds = p * (dp - delta)} replaces dp. Shift (base-2 logsumexp) and delta (rowsum(dO * O)) are
     * indexed by row, or by column when {@code perColumn} (the transposed tile of the dK/dV pass).
     * Columns from {@code validCols} on are padding: both outputs become 0 there.
     *
     * @param cols the tile width (a multiple of 16), also its leading dimension
     */
    void softmaxGrad(float[] s, float[] dp, int rows, int cols, int validCols, float[] shift, int shiftOff,
                     float[] delta, int deltaOff, boolean perColumn);

    /**
     * Copies a rows x cols block transposed: {@code dst[dstOff + c * dstStride + r] = src[srcOff + r * srcStride + c]}.
     * Nothing else in dst is written.
     */
    void transpose(float[] src, int srcOff, int srcStride, int rows, int cols, float[] dst, int dstOff, int dstStride);
}
