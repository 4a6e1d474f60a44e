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

    /** 2^x, with 2^-inf = 0; NaN when the max itself is -inf (a fully masked row, which callers avoid). */
    static float exp2(float x) {
        return x == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(x * LN2);
    }
}
