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

    /**
     * One online-softmax step on a rows x cols score tile (base 2): for each row, folds the tile into the
     * running max and sum, writes {@code alpha = 2^(oldMax - newMax)}, and replaces the scores with
     * {@code 2^(s - newMax)}. Columns from {@code validCols} on are padding and become 0.
     *
     * @param cols the tile width (a multiple of 16), also its leading dimension
     */
    void onlineSoftmax(float[] s, int rows, int cols, int validCols, float[] rowMax, float[] rowSum, float[] alpha);

    /**
     * The softmax backward on a rows x cols tile: {@code p = 2^(s - shift)} replaces s, and
     * {@code ds = p * (dp - delta)} replaces dp. Shift (base-2 logsumexp) and delta (rowsum(dO * O)) are
     * indexed by row, or by column when {@code perColumn} (the transposed tile of the dK/dV pass).
     * Columns from {@code validCols} on are padding: both outputs become 0 there.
     *
     * @param cols the tile width (a multiple of 16), also its leading dimension
     */
    void softmaxGrad(float[] s, float[] dp, int rows, int cols, int validCols, float[] shift, float[] delta,
                     int vecOff, boolean perColumn);
}
