package io.sparge4j.engine.bench;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.HalfFloats;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StructuredInputsTest {
    @Test
    void seededShapedAndInTheRequestedDtype() {
        BenchShape shape = new BenchShape(2, 3, 100, 24);
        try (StructuredInputs.Inputs a = StructuredInputs.generate(shape, DType.F32, 5);
             StructuredInputs.Inputs b = StructuredInputs.generate(shape, DType.F32, 5);
             StructuredInputs.Inputs c = StructuredInputs.generate(shape, DType.F32, 6);
             StructuredInputs.Inputs h = StructuredInputs.generate(shape, DType.BF16, 5)) {
            assertArrayEquals(new int[] {2, 3, 100, 24}, a.q().shape());
            assertArrayEquals(a.q().shape(), a.dOut().shape());
            assertArrayEquals(a.q().toFloatArray(), b.q().toFloatArray());
            assertArrayEquals(a.v().toFloatArray(), b.v().toFloatArray());
            assertFalse(java.util.Arrays.equals(a.k().toFloatArray(), c.k().toFloatArray()));
            assertEquals(DType.BF16, h.k().dtype());
            // bf16 holds the f32 values rounded to bf16.
            float[] f = a.k().toFloatArray();
            float[] r = h.k().toFloatArray();
            for (int i = 0; i < f.length; i++) {
                assertEquals(HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(f[i])), r[i], 0f);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> StructuredInputs.generate(shape, DType.I32, 1));
    }

    /**
     * The pooled map is far from flat and local: computed here in float64 (mean-pooled blocks, row softmax of the
     * scaled scores), each row's largest entry holds many times the flat 1/nk, and lies near the query block itself.
     */
    @Test
    void pooledMapIsPeakedAndLocal() {
        int n = 2048;
        int d = 64;
        int bq = 128;
        int bkv = 64;
        int heads = 4;
        try (StructuredInputs.Inputs in = StructuredInputs.generate(new BenchShape(1, heads, n, d), DType.F32, 0)) {
            float[] q = in.q().toFloatArray();
            float[] k = in.k().toFloatArray();
            int nq = n / bq;
            int nk = n / bkv;
            double maxSum = 0;
            int near = 0;
            for (int h = 0; h < heads; h++) {
                double[][] qp = pool(q, h, n, d, bq);
                double[][] kp = pool(k, h, n, d, bkv);
                for (int i = 0; i < nq; i++) {
                    double[] s = new double[nk];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < nk; j++) {
                        for (int c = 0; c < d; c++) {
                            s[j] += qp[i][c] * kp[j][c];
                        }
                        s[j] /= Math.sqrt(d);
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    int arg = 0;
                    for (int j = 0; j < nk; j++) {
                        sum += Math.exp(s[j] - max);
                        if (s[j] > s[arg]) {
                            arg = j;
                        }
                    }
                    maxSum += 1 / sum;
                    // Query block i covers key blocks 2i and 2i + 1.
                    if (Math.abs(arg - (2 * i + 0.5)) <= 2.5) {
                        near++;
                    }
                }
            }
            double meanMax = maxSum / (heads * nq);
            assertTrue(meanMax > 4.0 / nk, "mean row maximum " + meanMax + " vs flat " + 1.0 / nk);
            assertTrue(near >= 0.75 * heads * nq, near + " of " + heads * nq + " rows peak near their own blocks");
        }
    }

    private static double[][] pool(float[] x, int h, int n, int d, int block) {
        double[][] out = new double[n / block][d];
        for (int t = 0; t < n; t++) {
            for (int c = 0; c < d; c++) {
                out[t / block][c] += x[(h * n + t) * d + c] / (double) block;
            }
        }
        return out;
    }
}
