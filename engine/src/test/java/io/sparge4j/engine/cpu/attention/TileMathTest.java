package io.sparge4j.engine.cpu.attention;

import io.sparge4j.engine.cpu.SimdSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static io.sparge4j.engine.testing.Assertions2.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Each {@link TileMath} primitive against float64, on both implementations. */
class TileMathTest {
    static List<TileMath> maths() {
        List<TileMath> m = new ArrayList<>();
        m.add(ScalarTileMath.INSTANCE);
        if (SimdSupport.available()) {
            m.add(TileMaths.simd());
        }
        return m;
    }

    private static float[] random(SplittableRandom rng, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rng.nextGaussian();
        }
        return a;
    }

    @ParameterizedTest
    @MethodSource("maths")
    void gemmOverwritesAccumulatesAndRescales(TileMath math) {
        // n = 80 exercises the 4-vector blocks and the single-vector remainder; offsets and leading dims are uneven.
        checkGemm(math, 12, 80, 19, 23, 85, 96, 5, 3, 7, 1);
    }

    @ParameterizedTest
    @MethodSource("maths")
    void gemmSixRowBlocksWithFourRowRemainder(TileMath math) {
        // n = 128 (a multiple of 4 vectors) takes the six-row blocks; m = 20 leaves 8 rows
        // (two 4-row blocks) and m = 16 leaves 4; m = 8 has no six-row block at all.
        for (int m : new int[] {20, 16, 8}) {
            checkGemm(math, m, 128, 21, 29, 131, 140, 2, 9, 4, m);
        }
    }

    private static void checkGemm(TileMath math, int m, int n, int k, int lda, int ldb, int ldc, int aOff, int bOff,
                                  int cOff, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[] a = random(rng, aOff + m * lda);
        float[] b = random(rng, bOff + k * ldb);
        float[] c0 = random(rng, cOff + m * ldc);
        float[] scale = random(rng, m);
        for (int mode = 0; mode < 3; mode++) {
            float[] c = c0.clone();
            boolean accumulate = mode > 0;
            float[] rowScale = mode == 2 ? scale : null;
            math.gemm(a, aOff, lda, b, bOff, ldb, c, cOff, ldc, m, n, k, rowScale, accumulate);
            double[] want = new double[m * n];
            float[] got = new float[m * n];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = accumulate ? c0[cOff + i * ldc + j] * (rowScale != null ? (double) rowScale[i] : 1) : 0;
                    for (int p = 0; p < k; p++) {
                        s += (double) a[aOff + i * lda + p] * b[bOff + p * ldb + j];
                    }
                    want[i * n + j] = s;
                    got[i * n + j] = c[cOff + i * ldc + j];
                }
            }
            // Up to 21 f32 products of N(0,1) values: 1e-5 relative plus 1e-5 absolute (sums cross zero).
            assertClose(want, got, 1e-5, 1e-5, "gemm m=" + m + " mode " + mode);
            // Elements outside the m x n window are untouched.
            for (int i = 0; i < m; i++) {
                for (int j = n; j < ldc; j++) {
                    assertEquals(c0[cOff + i * ldc + j], c[cOff + i * ldc + j], "outside C");
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("maths")
    void onlineSoftmaxOverTwoTilesMatchesFullSoftmax(TileMath math) {
        int rows = 8, cols = 32, valid = 27;
        SplittableRandom rng = new SplittableRandom(2);
        float[] first = random(rng, rows * cols);
        float[] second = random(rng, rows * cols);
        for (int i = 0; i < first.length; i++) {
            first[i] *= 4; // a spread of several powers of two
            second[i] = second[i] * 4 + (i % 3 == 0 ? 20 : 0); // some scores overshoot the first max by > 8
        }
        float[] s1 = first.clone();
        float[] s2 = second.clone();
        // The tile's rows are rows 3.. of the running state (the kernels walk a query tile in strips).
        int firstRow = 3;
        float[] state = new float[firstRow + rows];
        Arrays.fill(state, Float.NEGATIVE_INFINITY);
        float[] sum = new float[(firstRow + rows) * TileMath.SUM_STRIDE];
        float[] alpha1 = new float[rows];
        float[] alpha2 = new float[rows];
        math.onlineSoftmax(s1, rows, cols, cols, state, sum, firstRow, alpha1);
        math.onlineSoftmax(s2, rows, cols, valid, state, sum, firstRow, alpha2);
        float[] max = Arrays.copyOfRange(state, firstRow, firstRow + rows);
        for (int i = 0; i < firstRow; i++) {
            assertEquals(Float.NEGATIVE_INFINITY, state[i], "state before the tile's rows is untouched");
        }
        for (int i = 0; i < firstRow * TileMath.SUM_STRIDE; i++) {
            assertEquals(0f, sum[i], "sums before the tile's rows are untouched");
        }
        for (int i = 0; i < rows; i++) {
            double total = 0;
            for (int l = 0; l < TileMath.SUM_STRIDE; l++) {
                total += sum[(firstRow + i) * TileMath.SUM_STRIDE + l];
            }
            double ref = 0;
            for (int j = 0; j < cols; j++) {
                ref += Math.pow(2, first[i * cols + j] - max[i]);
                if (j < valid) {
                    ref += Math.pow(2, second[i * cols + j] - max[i]);
                }
            }
            // Sums of up to 64 terms in f32: 1e-5 relative.
            assertClose(new double[] {ref}, new float[] {(float) total}, 1e-5, 0, "row sum " + i);
            for (int j = 0; j < cols; j++) {
                // The first tile's p, rescaled by alpha2, is relative to the final max.
                double p1 = Math.pow(2, first[i * cols + j] - max[i]);
                double p2 = j < valid ? Math.pow(2, second[i * cols + j] - max[i]) : 0;
                assertClose(new double[] {p1, p2}, new float[] {s1[i * cols + j] * alpha2[i], s2[i * cols + j]},
                        1e-5, 1e-30, "p row " + i + " col " + j);
            }
            // The max may lag the true max by at most MAX_OVERSHOOT, never exceed it.
            double trueMax = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < cols; j++) {
                trueMax = Math.max(trueMax, first[i * cols + j]);
                if (j < valid) {
                    trueMax = Math.max(trueMax, second[i * cols + j]);
                }
            }
            assertTrue(max[i] <= trueMax && max[i] >= trueMax - TileMath.MAX_OVERSHOOT, "max " + max[i] + " vs " + trueMax);
        }
    }

    @ParameterizedTest
    @MethodSource("maths")
    void softmaxGradByRowAndByColumn(TileMath math) {
        // Shift and delta sit at different offsets (the kernels keep both in one packed array).
        int rows = 4, cols = 32, valid = 20, off = 3, deltaOff = 11;
        SplittableRandom rng = new SplittableRandom(4);
        float[] s0 = random(rng, rows * cols);
        float[] dp0 = random(rng, rows * cols);
        float[] shift = random(rng, off + cols);
        float[] delta = random(rng, deltaOff + cols);
        for (boolean perColumn : new boolean[] {false, true}) {
            float[] s = s0.clone();
            float[] dp = dp0.clone();
            math.softmaxGrad(s, dp, rows, cols, valid, shift, off, delta, deltaOff, perColumn);
            double[] wantP = new double[rows * cols];
            double[] wantDs = new double[rows * cols];
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < valid; j++) {
                    int v = perColumn ? j : i;
                    double p = Math.pow(2, (double) s0[i * cols + j] - shift[off + v]);
                    wantP[i * cols + j] = p;
                    wantDs[i * cols + j] = p * ((double) dp0[i * cols + j] - delta[deltaOff + v]);
                }
            }
            assertClose(wantP, s, 1e-6, 1e-7, "p perColumn=" + perColumn);
            assertClose(wantDs, dp, 1e-5, 1e-6, "ds perColumn=" + perColumn);
        }
    }

    @ParameterizedTest
    @MethodSource("maths")
    void transposeCopiesEveryElementAndNothingElse(TileMath math) {
        // 37 rows: two full 16-row groups plus 5 left over (and four 8-row groups plus 5); uneven strides.
        int rows = 37, cols = 21, srcOff = 4, srcStride = 23, dstOff = 6, dstStride = 41;
        SplittableRandom rng = new SplittableRandom(6);
        float[] src = random(rng, srcOff + rows * srcStride);
        float[] dst = new float[dstOff + cols * dstStride + 3];
        Arrays.fill(dst, Float.NaN);
        math.transpose(src, srcOff, srcStride, rows, cols, dst, dstOff, dstStride);
        boolean[] written = new boolean[dst.length];
        for (int c = 0; c < cols; c++) {
            for (int r = 0; r < rows; r++) {
                int at = dstOff + c * dstStride + r;
                assertEquals(src[srcOff + r * srcStride + c], dst[at], "row " + r + " column " + c);
                written[at] = true;
            }
        }
        for (int i = 0; i < dst.length; i++) {
            if (!written[i]) {
                assertTrue(Float.isNaN(dst[i]), "untouched element " + i);
            }
        }
    }

    @Test
    void simdExp2IsAccurateAndFlushesToZero() {
        assumeTrue(SimdSupport.available(), "Vector API not enabled");
        double worst = SimdExp2Probe.worstRelativeError(new SplittableRandom(5), 100_000);
        // A degree-6 fit on |f| <= 1/2 (2e-9) plus f32 rounding: below 2e-7 relative (about 1.5 ulp) over [-126, 8].
        assertTrue(worst < 2e-7, "worst relative error " + worst);
        float[] edges = SimdExp2Probe.evaluate(new float[] {0f, 1f, -1f, 8f, -126f, -127f, -200f, Float.NEGATIVE_INFINITY});
        assertEquals(1f, edges[0]);
        assertEquals(2f, edges[1]);
        assertEquals(0.5f, edges[2]);
        assertEquals(256f, edges[3]);
        assertEquals(Math.pow(2, -126), edges[4], 1e-45);
        assertEquals(0f, edges[5]);
        assertEquals(0f, edges[6]);
        assertEquals(0f, edges[7]);
    }
}
