package io.sparge4j.engine.cpu.attention;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link TileMath} on the Vector API: a register-blocked GEMM (6 or 4 rows x 4 vectors of accumulators) and a
 * degree-6 polynomial 2^x. Load only after {@code SimdSupport.available()} is true.
 */
public final class SimdTileMath implements TileMath {
    /** The shared instance (stateless). */
    public static final SimdTileMath INSTANCE = new SimdTileMath();

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED.length() <= 16
            ? FloatVector.SPECIES_PREFERRED : FloatVector.SPECIES_512;
    private static final int L = S.length();

    /** 1.5 * 2^23: adding and subtracting it rounds a float of magnitude below 2^22 to an integer. */
    private static final float ROUND = 12582912f;
    // 2^f ~ 1 + C1 f + ... + C6 f^6 on |f| <= 1/2, fitted for relative error (about 2e-9, below f32 rounding).
    private static final float C1 = 0.6931472055878362f;
    private static final float C2 = 0.24022648461599336f;
    private static final float C3 = 0.05550329011647436f;
    private static final float C4 = 0.00961837327664341f;
    private static final float C5 = 0.0013399857839053507f;
    private static final float C6 = 0.00015370715497362914f;

    private SimdTileMath() {
    }

    @Override
    public void gemm(float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff, int ldc,
                     int m, int n, int k, float[] rowScale, boolean accumulate) {
        int i = 0;
        if (n % (4 * L) == 0) {
            // Six rows at a time (24 accumulators per 10 loads), as long as the rows left stay a multiple of 4.
            int sixes = m / 6;
            if ((m - 6 * sixes) % 4 != 0) {
                sixes--;
            }
            for (; i < 6 * sixes; i += 6) {
                for (int col = 0; col < n; col += 4 * L) {
                    block6x4(a, aOff + i * lda, lda, b, bOff + col, ldb, c, cOff + i * ldc + col, ldc, k, rowScale, i,
                            accumulate);
                }
            }
        }
        for (; i < m; i += 4) {
            int col = 0;
            for (; col + 4 * L <= n; col += 4 * L) {
                block4x4(a, aOff + i * lda, lda, b, bOff + col, ldb, c, cOff + i * ldc + col, ldc, k, rowScale, i,
                        accumulate);
            }
            for (; col < n; col += L) {
                block4x1(a, aOff + i * lda, lda, b, bOff + col, ldb, c, cOff + i * ldc + col, ldc, k, rowScale, i,
                        accumulate);
            }
        }
    }

    private static void block6x4(float[] a, int a0, int lda, float[] b, int b0, int ldb, float[] c, int c0, int ldc,
                                 int k, float[] rowScale, int row, boolean accumulate) {
        FloatVector c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33;
        FloatVector c40, c41, c42, c43, c50, c51, c52, c53;
        int c1 = c0 + ldc;
        int c2 = c1 + ldc;
        int c3 = c2 + ldc;
        int c4 = c3 + ldc;
        int c5 = c4 + ldc;
        if (accumulate) {
            float s0 = 1f, s1 = 1f, s2 = 1f, s3 = 1f, s4 = 1f, s5 = 1f;
            if (rowScale != null) {
                s0 = rowScale[row];
                s1 = rowScale[row + 1];
                s2 = rowScale[row + 2];
                s3 = rowScale[row + 3];
                s4 = rowScale[row + 4];
                s5 = rowScale[row + 5];
            }
            c00 = FloatVector.fromArray(S, c, c0).mul(s0);
            c01 = FloatVector.fromArray(S, c, c0 + L).mul(s0);
            c02 = FloatVector.fromArray(S, c, c0 + 2 * L).mul(s0);
            c03 = FloatVector.fromArray(S, c, c0 + 3 * L).mul(s0);
            c10 = FloatVector.fromArray(S, c, c1).mul(s1);
            c11 = FloatVector.fromArray(S, c, c1 + L).mul(s1);
            c12 = FloatVector.fromArray(S, c, c1 + 2 * L).mul(s1);
            c13 = FloatVector.fromArray(S, c, c1 + 3 * L).mul(s1);
            c20 = FloatVector.fromArray(S, c, c2).mul(s2);
            c21 = FloatVector.fromArray(S, c, c2 + L).mul(s2);
            c22 = FloatVector.fromArray(S, c, c2 + 2 * L).mul(s2);
            c23 = FloatVector.fromArray(S, c, c2 + 3 * L).mul(s2);
            c30 = FloatVector.fromArray(S, c, c3).mul(s3);
            c31 = FloatVector.fromArray(S, c, c3 + L).mul(s3);
            c32 = FloatVector.fromArray(S, c, c3 + 2 * L).mul(s3);
            c33 = FloatVector.fromArray(S, c, c3 + 3 * L).mul(s3);
            c40 = FloatVector.fromArray(S, c, c4).mul(s4);
            c41 = FloatVector.fromArray(S, c, c4 + L).mul(s4);
            c42 = FloatVector.fromArray(S, c, c4 + 2 * L).mul(s4);
            c43 = FloatVector.fromArray(S, c, c4 + 3 * L).mul(s4);
            c50 = FloatVector.fromArray(S, c, c5).mul(s5);
            c51 = FloatVector.fromArray(S, c, c5 + L).mul(s5);
            c52 = FloatVector.fromArray(S, c, c5 + 2 * L).mul(s5);
            c53 = FloatVector.fromArray(S, c, c5 + 3 * L).mul(s5);
        } else {
            FloatVector z = FloatVector.zero(S);
            c00 = z; c01 = z; c02 = z; c03 = z;
            c10 = z; c11 = z; c12 = z; c13 = z;
            c20 = z; c21 = z; c22 = z; c23 = z;
            c30 = z; c31 = z; c32 = z; c33 = z;
            c40 = z; c41 = z; c42 = z; c43 = z;
            c50 = z; c51 = z; c52 = z; c53 = z;
        }
        int a1 = a0 + lda;
        int a2 = a1 + lda;
        int a3 = a2 + lda;
        int a4 = a3 + lda;
        int a5 = a4 + lda;
        for (int p = 0, bp = b0; p < k; p++, bp += ldb) {
            FloatVector b0v = FloatVector.fromArray(S, b, bp);
            FloatVector b1v = FloatVector.fromArray(S, b, bp + L);
            FloatVector b2v = FloatVector.fromArray(S, b, bp + 2 * L);
            FloatVector b3v = FloatVector.fromArray(S, b, bp + 3 * L);
            FloatVector x = FloatVector.broadcast(S, a[a0 + p]);
            c00 = x.fma(b0v, c00);
            c01 = x.fma(b1v, c01);
            c02 = x.fma(b2v, c02);
            c03 = x.fma(b3v, c03);
            x = FloatVector.broadcast(S, a[a1 + p]);
            c10 = x.fma(b0v, c10);
            c11 = x.fma(b1v, c11);
            c12 = x.fma(b2v, c12);
            c13 = x.fma(b3v, c13);
            x = FloatVector.broadcast(S, a[a2 + p]);
            c20 = x.fma(b0v, c20);
            c21 = x.fma(b1v, c21);
            c22 = x.fma(b2v, c22);
            c23 = x.fma(b3v, c23);
            x = FloatVector.broadcast(S, a[a3 + p]);
            c30 = x.fma(b0v, c30);
            c31 = x.fma(b1v, c31);
            c32 = x.fma(b2v, c32);
            c33 = x.fma(b3v, c33);
            x = FloatVector.broadcast(S, a[a4 + p]);
            c40 = x.fma(b0v, c40);
            c41 = x.fma(b1v, c41);
            c42 = x.fma(b2v, c42);
            c43 = x.fma(b3v, c43);
            x = FloatVector.broadcast(S, a[a5 + p]);
            c50 = x.fma(b0v, c50);
            c51 = x.fma(b1v, c51);
            c52 = x.fma(b2v, c52);
            c53 = x.fma(b3v, c53);
        }
        c00.intoArray(c, c0);
        c01.intoArray(c, c0 + L);
        c02.intoArray(c, c0 + 2 * L);
        c03.intoArray(c, c0 + 3 * L);
        c10.intoArray(c, c1);
        c11.intoArray(c, c1 + L);
        c12.intoArray(c, c1 + 2 * L);
        c13.intoArray(c, c1 + 3 * L);
        c20.intoArray(c, c2);
        c21.intoArray(c, c2 + L);
        c22.intoArray(c, c2 + 2 * L);
        c23.intoArray(c, c2 + 3 * L);
        c30.intoArray(c, c3);
        c31.intoArray(c, c3 + L);
        c32.intoArray(c, c3 + 2 * L);
        c33.intoArray(c, c3 + 3 * L);
        c40.intoArray(c, c4);
        c41.intoArray(c, c4 + L);
        c42.intoArray(c, c4 + 2 * L);
        c43.intoArray(c, c4 + 3 * L);
        c50.intoArray(c, c5);
        c51.intoArray(c, c5 + L);
        c52.intoArray(c, c5 + 2 * L);
        c53.intoArray(c, c5 + 3 * L);
    }

    private static void block4x4(float[] a, int a0, int lda, float[] b, int b0, int ldb, float[] c, int c0, int ldc,
                                 int k, float[] rowScale, int row, boolean accumulate) {
        FloatVector c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33;
        int c1 = c0 + ldc;
        int c2 = c1 + ldc;
        int c3 = c2 + ldc;
        if (accumulate) {
            c00 = FloatVector.fromArray(S, c, c0);
            c01 = FloatVector.fromArray(S, c, c0 + L);
            c02 = FloatVector.fromArray(S, c, c0 + 2 * L);
            c03 = FloatVector.fromArray(S, c, c0 + 3 * L);
            c10 = FloatVector.fromArray(S, c, c1);
            c11 = FloatVector.fromArray(S, c, c1 + L);
            c12 = FloatVector.fromArray(S, c, c1 + 2 * L);
            c13 = FloatVector.fromArray(S, c, c1 + 3 * L);
            c20 = FloatVector.fromArray(S, c, c2);
            c21 = FloatVector.fromArray(S, c, c2 + L);
            c22 = FloatVector.fromArray(S, c, c2 + 2 * L);
            c23 = FloatVector.fromArray(S, c, c2 + 3 * L);
            c30 = FloatVector.fromArray(S, c, c3);
            c31 = FloatVector.fromArray(S, c, c3 + L);
            c32 = FloatVector.fromArray(S, c, c3 + 2 * L);
            c33 = FloatVector.fromArray(S, c, c3 + 3 * L);
            if (rowScale != null) {
                float s0 = rowScale[row];
                float s1 = rowScale[row + 1];
                float s2 = rowScale[row + 2];
                float s3 = rowScale[row + 3];
                c00 = c00.mul(s0);
                c01 = c01.mul(s0);
                c02 = c02.mul(s0);
                c03 = c03.mul(s0);
                c10 = c10.mul(s1);
                c11 = c11.mul(s1);
                c12 = c12.mul(s1);
                c13 = c13.mul(s1);
                c20 = c20.mul(s2);
                c21 = c21.mul(s2);
                c22 = c22.mul(s2);
                c23 = c23.mul(s2);
                c30 = c30.mul(s3);
                c31 = c31.mul(s3);
                c32 = c32.mul(s3);
                c33 = c33.mul(s3);
            }
        } else {
            FloatVector z = FloatVector.zero(S);
            c00 = z; c01 = z; c02 = z; c03 = z;
            c10 = z; c11 = z; c12 = z; c13 = z;
            c20 = z; c21 = z; c22 = z; c23 = z;
            c30 = z; c31 = z; c32 = z; c33 = z;
        }
        int a1 = a0 + lda;
        int a2 = a1 + lda;
        int a3 = a2 + lda;
        for (int p = 0, bp = b0; p < k; p++, bp += ldb) {
            FloatVector b0v = FloatVector.fromArray(S, b, bp);
            FloatVector b1v = FloatVector.fromArray(S, b, bp + L);
            FloatVector b2v = FloatVector.fromArray(S, b, bp + 2 * L);
            FloatVector b3v = FloatVector.fromArray(S, b, bp + 3 * L);
            FloatVector x = FloatVector.broadcast(S, a[a0 + p]);
            c00 = x.fma(b0v, c00);
            c01 = x.fma(b1v, c01);
            c02 = x.fma(b2v, c02);
            c03 = x.fma(b3v, c03);
            x = FloatVector.broadcast(S, a[a1 + p]);
            c10 = x.fma(b0v, c10);
            c11 = x.fma(b1v, c11);
            c12 = x.fma(b2v, c12);
            c13 = x.fma(b3v, c13);
            x = FloatVector.broadcast(S, a[a2 + p]);
            c20 = x.fma(b0v, c20);
            c21 = x.fma(b1v, c21);
            c22 = x.fma(b2v, c22);
            c23 = x.fma(b3v, c23);
            x = FloatVector.broadcast(S, a[a3 + p]);
            c30 = x.fma(b0v, c30);
            c31 = x.fma(b1v, c31);
            c32 = x.fma(b2v, c32);
            c33 = x.fma(b3v, c33);
        }
        c00.intoArray(c, c0);
        c01.intoArray(c, c0 + L);
        c02.intoArray(c, c0 + 2 * L);
        c03.intoArray(c, c0 + 3 * L);
        c10.intoArray(c, c1);
        c11.intoArray(c, c1 + L);
        c12.intoArray(c, c1 + 2 * L);
        c13.intoArray(c, c1 + 3 * L);
        c20.intoArray(c, c2);
        c21.intoArray(c, c2 + L);
        c22.intoArray(c, c2 + 2 * L);
        c23.intoArray(c, c2 + 3 * L);
        c30.intoArray(c, c3);
        c31.intoArray(c, c3 + L);
        c32.intoArray(c, c3 + 2 * L);
        c33.intoArray(c, c3 + 3 * L);
    }

    private static void block4x1(float[] a, int a0, int lda, float[] b, int b0, int ldb, float[] c, int c0, int ldc,
                                 int k, float[] rowScale, int row, boolean accumulate) {
        int c1 = c0 + ldc;
        int c2 = c1 + ldc;
        int c3 = c2 + ldc;
        FloatVector r0, r1, r2, r3;
        if (accumulate) {
            r0 = FloatVector.fromArray(S, c, c0);
            r1 = FloatVector.fromArray(S, c, c1);
            r2 = FloatVector.fromArray(S, c, c2);
            r3 = FloatVector.fromArray(S, c, c3);
            if (rowScale != null) {
                r0 = r0.mul(rowScale[row]);
                r1 = r1.mul(rowScale[row + 1]);
                r2 = r2.mul(rowScale[row + 2]);
                r3 = r3.mul(rowScale[row + 3]);
            }
        } else {
            r0 = FloatVector.zero(S);
            r1 = r0;
            r2 = r0;
            r3 = r0;
        }
        int a1 = a0 + lda;
        int a2 = a1 + lda;
        int a3 = a2 + lda;
        for (int p = 0, bp = b0; p < k; p++, bp += ldb) {
            FloatVector bv = FloatVector.fromArray(S, b, bp);
            r0 = FloatVector.broadcast(S, a[a0 + p]).fma(bv, r0);
            r1 = FloatVector.broadcast(S, a[a1 + p]).fma(bv, r1);
            r2 = FloatVector.broadcast(S, a[a2 + p]).fma(bv, r2);
            r3 = FloatVector.broadcast(S, a[a3 + p]).fma(bv, r3);
        }
        r0.intoArray(c, c0);
        r1.intoArray(c, c1);
        r2.intoArray(c, c2);
        r3.intoArray(c, c3);
    }

    @Override
    public boolean onlineSoftmax(float[] s, int rows, int cols, int validCols, float[] rowMax, float[] rowSum,
                                 int firstRow, float[] alpha) {
        // Lazy rescaling: the reference max only moves when a score overshoots it by more than
        // MAX_OVERSHOOT, which after the first tiles is rare; that skips the horizontal max and the
        // rescaling of the output accumulator. Sums stay lane-wise, so no horizontal add either.
        boolean rescaled = false;
        for (int i = 0; i < rows; i++) {
            int row = i * cols;
            for (int j = validCols; j < cols; j++) {
                s[row + j] = Float.NEGATIVE_INFINITY;
            }
            FloatVector mv = FloatVector.fromArray(S, s, row);
            for (int j = L; j < cols; j += L) {
                mv = mv.max(FloatVector.fromArray(S, s, row + j));
            }
            float m = rowMax[firstRow + i];
            float a = 1f;
            if (mv.compare(VectorOperators.GT, m + MAX_OVERSHOOT).anyTrue()) {
                float newMax = Math.max(m, mv.reduceLanes(VectorOperators.MAX));
                a = ScalarTileMath.exp2(m - newMax);
                m = newMax;
                rowMax[firstRow + i] = m;
                rescaled = true;
            }
            alpha[i] = a;
            int sumAt = (firstRow + i) * SUM_STRIDE;
            FloatVector sum = FloatVector.fromArray(S, rowSum, sumAt);
            if (a != 1f) {
                sum = sum.mul(a);
            }
            for (int j = 0; j < cols; j += L) {
                FloatVector p = exp2(FloatVector.fromArray(S, s, row + j).sub(m));
                p.intoArray(s, row + j);
                sum = sum.add(p);
            }
            sum.intoArray(rowSum, sumAt);
        }
        return rescaled;
    }

    @Override
    public void softmaxGrad(float[] s, float[] dp, int rows, int cols, int validCols, float[] shift, int shiftOff,
                            float[] delta, int deltaOff, boolean perColumn) {
        for (int i = 0; i < rows; i++) {
            int row = i * cols;
            if (perColumn) {
                for (int j = 0; j < cols; j += L) {
                    FloatVector p = exp2(FloatVector.fromArray(S, s, row + j)
                            .sub(FloatVector.fromArray(S, shift, shiftOff + j)));
                    p.intoArray(s, row + j);
                    p.mul(FloatVector.fromArray(S, dp, row + j).sub(FloatVector.fromArray(S, delta, deltaOff + j)))
                            .intoArray(dp, row + j);
                }
            } else {
                float sh = shift[shiftOff + i];
                float de = delta[deltaOff + i];
                for (int j = 0; j < cols; j += L) {
                    FloatVector p = exp2(FloatVector.fromArray(S, s, row + j).sub(sh));
                    p.intoArray(s, row + j);
                    p.mul(FloatVector.fromArray(S, dp, row + j).sub(de)).intoArray(dp, row + j);
                }
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
        // Each column of L rows is one gather and one contiguous store; leftover rows go the scalar way.
        int[] rowStarts = new int[L];
        for (int i = 0; i < L; i++) {
            rowStarts[i] = i * srcStride;
        }
        int r = 0;
        for (; r + L <= rows; r += L) {
            for (int c = 0, f = srcOff + r * srcStride, at = dstOff + r; c < cols; c++, f++, at += dstStride) {
                FloatVector.fromArray(S, src, f, rowStarts, 0).intoArray(dst, at);
            }
        }
        ScalarTileMath.transposeRows(src, srcOff, srcStride, r, rows, cols, dst, dstOff, dstStride);
    }

    /**
     * 2^x for x up to 127: x = n + f with n an integer and |f| <= 1/2, 2^f by polynomial and 2^n by
     * building the exponent bits. Anything at or below -127 (including -inf) gives exactly 0.
     */
    static FloatVector exp2(FloatVector x) {
        FloatVector xc = x.max(-127f);
        FloatVector shifted = xc.add(ROUND);
        FloatVector n = shifted.sub(ROUND);
        FloatVector f = xc.sub(n);
        FloatVector poly = f.fma(C6, C5);
        poly = poly.fma(f, FloatVector.broadcast(S, C4));
        poly = poly.fma(f, FloatVector.broadcast(S, C3));
        poly = poly.fma(f, FloatVector.broadcast(S, C2));
        poly = poly.fma(f, FloatVector.broadcast(S, C1));
        poly = poly.fma(f, FloatVector.broadcast(S, 1f));
        // The low mantissa bits of x + 1.5 * 2^23 hold n; move n + 127 into the exponent field.
        IntVector bits = shifted.reinterpretAsInts().add(127 - 0x4B400000).lanewise(VectorOperators.LSHL, 23);
        return poly.mul(bits.reinterpretAsFloats());
    }
}
