package io.sparge4j.engine.cpu.attention;

/** {@link TileMath} in plain Java: the path taken without the Vector API. */
public final class ScalarTileMath implements TileMath {
    /** The shared instance (stateless). */
    public static final ScalarTileMath INSTANCE = new ScalarTileMath();

    private static final double LN2 = Math.log(2);

    private ScalarTileMath() {
    }

    @Override
    public void gemm(float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff, int ldc,
                     int m, int n, int k, float[] rowScale, boolean accumulate) {
        for (int i = 0; i < m; i++) {
            int ci = cOff + i * ldc;
            if (!accumulate) {
                java.util.Arrays.fill(c, ci, ci + n, 0f);
            } else if (rowScale != null) {
                float s = rowScale[i];
                for (int j = 0; j < n; j++) {
                    c[ci + j] *= s;
                }
            }
            int ai = aOff + i * lda;
            for (int p = 0; p < k; p++) {
                float x = a[ai + p];
                int bp = bOff + p * ldb;
                for (int j = 0; j < n; j++) {
                    c[ci + j] = Math.fma(x, b[bp + j], c[ci + j]);
                }
            }
        }
    }

    @Override
    public boolean onlineSoftmax(float[] s, int rows, int cols, int validCols, float[] rowMax, float[] rowSum,
                                 int firstRow, float[] alpha) {
        // Always moves the max to the exact running max: the textbook online softmax.
        for (int i = 0; i < rows; i++) {
            int row = i * cols;
            int r = firstRow + i;
            float max = rowMax[r];
            for (int j = 0; j < validCols; j++) {
                max = Math.max(max, s[row + j]);
            }
            float sum = 0;
            for (int j = 0; j < validCols; j++) {
                float p = exp2(s[row + j] - max);
                s[row + j] = p;
                sum += p;
            }
            for (int j = validCols; j < cols; j++) {
                s[row + j] = 0f;
            }
            float a = exp2(rowMax[r] - max);
            alpha[i] = a;
            rowSum[r * SUM_STRIDE] = rowSum[r * SUM_STRIDE] * a + sum;
            rowMax[r] = max;
        }
        return true;
    }

    @Override
    public void softmaxGrad(float[] s, float[] dp, int rows, int cols, int validCols, float[] shift, int shiftOff,
                            float[] delta, int deltaOff, boolean perColumn) {
        for (int i = 0; i < rows; i++) {
            int row = i * cols;
            for (int j = 0; j < validCols; j++) {
                int v = perColumn ? j : i;
                float p = exp2(s[row + j] - shift[shiftOff + v]);
                s[row + j] = p;
                dp[row + j] = p * (dp[row + j] - delta[deltaOff + v]);
            }
            for (int j = validCols; j < cols; j++) {
                s[row + j] = 0f;
                dp[row + j] = 0f;
            }
        }
    }

    @Override
    public void transpose(float[] src, int srcOff, int srcStride, int rows, int cols, float[] dst, int dstOff,
                          int dstStride) {
        transposeRows(src, srcOff, srcStride, 0, rows, cols, dst, dstOff, dstStride);
    }

    /** {@link #transpose} of rows {@code [from, to)} only; also the SIMD path's tail. */
    static void transposeRows(float[] src, int srcOff, int srcStride, int from, int to, int cols, float[] dst,
                              int dstOff, int dstStride) {
        int r = from;
        // Eight rows at a time: eight independent loads per column, one contiguous run of stores.
        for (; r + 8 <= to; r += 8) {
            int s1 = srcStride;
            for (int c = 0, f = srcOff + r * srcStride, at = dstOff + r; c < cols; c++, f++, at += dstStride) {
                dst[at] = src[f];
                dst[at + 1] = src[f + s1];
                dst[at + 2] = src[f + 2 * s1];
                dst[at + 3] = src[f + 3 * s1];
                dst[at + 4] = src[f + 4 * s1];
                dst[at + 5] = src[f + 5 * s1];
                dst[at + 6] = src[f + 6 * s1];
                dst[at + 7] = src[f + 7 * s1];
            }
        }
        for (; r < to; r++) {
            for (int c = 0, f = srcOff + r * srcStride, at = dstOff + r; c < cols; c++, at += dstStride) {
                dst[at] = src[f + c];
            }
        }
    }

    /** 2^x, with 2^-inf = 0; NaN when the max itself is -inf (a fully masked row, which callers avoid). */
    static float exp2(float x) {
        return x == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(x * LN2);
    }
}
