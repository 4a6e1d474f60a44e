package io.sparge4j.engine.sparse;

import io.sparge4j.engine.cpu.SimdSupport;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PoolingKernelsTest {
    @Test
    void bothPathsMatchFloat64ColumnSumsAtAwkwardSizes() {
        assertTrue(SimdSupport.available(), "the build runs tests with the Vector API");
        int[][] cases = {{1, 1, 1}, {7, 5, 5}, {13, 16, 16}, {128, 64, 64}, {9, 33, 40}, {31, 80, 3 * 80}};
        for (int[] c : cases) {
            int rows = c[0];
            int d = c[1];
            int stride = c[2];
            Tensor t = Tensor.randn(rows * 7L + d, rows * stride + 5);
            long first = 3;
            double[] expected = new double[d];
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < d; j++) {
                    expected[j] += t.getFloat(first + (long) r * stride + j);
                }
            }
            double[] simd = new double[d + 2];
            double[] scalar = new double[d + 2];
            SimdPoolingKernels.add(t.segment(), first, stride, rows, d, simd, 1);
            PoolingKernels.scalar(t.segment(), first, stride, rows, d, scalar, 1);
            for (int j = 0; j < d; j++) {
                // Float partials over at most 8 rows of N(0,1): error below 8 * 2^-24 * 8 * 4 per chunk, far under 1e-5.
                assertEquals(expected[j], simd[j + 1], 1e-5, "simd rows=" + rows + " d=" + d + " col " + j);
                assertEquals(expected[j], scalar[j + 1], 1e-5, "scalar rows=" + rows + " d=" + d + " col " + j);
            }
            assertEquals(0.0, simd[0]);
            assertEquals(0.0, simd[d + 1], "nothing written past the columns");
        }
    }

    @Test
    void dotProductsMatchOnBothPaths() {
        java.util.SplittableRandom rng = new java.util.SplittableRandom(5);
        for (int n : new int[] {1, 3, 7, 8, 9, 64, 65, 129}) {
            double[] a = rng.doubles(n + 3, -2, 2).toArray();
            double[] b = rng.doubles(n + 5, -2, 2).toArray();
            double expected = 0;
            for (int i = 0; i < n; i++) {
                expected += a[i + 3] * b[i + 5];
            }
            // Reassociated float64 sums of n terms of size <= 4: error below n * 4 * 2^-52.
            assertEquals(expected, SimdPoolingKernels.dot(a, 3, b, 5, n), 1e-13 * n, "simd n=" + n);
            assertEquals(expected, PoolingKernels.scalarDot(a, 3, b, 5, n), 1e-13 * n, "scalar n=" + n);
        }
    }
}
