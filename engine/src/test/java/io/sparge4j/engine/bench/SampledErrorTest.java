package io.sparge4j.engine.bench;

import io.sparge4j.engine.sparse.BlockGrid;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SampledErrorTest {
    @Test
    void rowsSpreadEvenlyWithBothEnds() {
        assertArrayEquals(new int[] {0, 3, 6, 9}, SampledError.rows(10, 4));
        assertArrayEquals(new int[] {0, 1, 2}, SampledError.rows(3, 64));
        assertArrayEquals(new int[] {0}, SampledError.rows(5, 1));
        int[] r = SampledError.rows(4096, 64);
        assertEquals(64, r.length);
        assertEquals(0, r[0]);
        assertEquals(4095, r[63]);
    }

    /** Masked attention of one row, float64, written out here independently of the code under test. */
    private static double[] expectedRow(float[] q, float[] k, float[] v, boolean[] kept, int n, int d, int bh, int row,
            int bq, int bkv, int nk) {
        double[] s = new double[n];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            if (!kept[(bh * ((n + bq - 1) / bq) + row / bq) * nk + j / bkv]) {
                s[j] = Double.NaN;
                continue;
            }
            double dot = 0;
            for (int c = 0; c < d; c++) {
                dot += (double) q[(bh * n + row) * d + c] * k[(bh * n + j) * d + c];
            }
            s[j] = dot / Math.sqrt(d);
            max = Math.max(max, s[j]);
        }
        double sum = 0;
        double[] o = new double[d];
        for (int j = 0; j < n; j++) {
            if (Double.isNaN(s[j])) {
                continue;
            }
            double p = Math.exp(s[j] - max);
            sum += p;
            for (int c = 0; c < d; c++) {
                o[c] += p * v[(bh * n + j) * d + c];
            }
        }
        for (int c = 0; c < d; c++) {
            o[c] /= sum;
        }
        return o;
    }

    @Test
    void measuresAKnownPerturbationOfAMaskedOutput() {
        int heads = 2;
        int n = 70;
        int d = 12;
        int bq = 16;
        int bkv = 8;
        int nq = 5;
        int nk = 9;
        SplittableRandom rng = new SplittableRandom(7);
        float[] q = new float[heads * n * d];
        float[] k = new float[q.length];
        float[] v = new float[q.length];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) rng.nextGaussian();
            k[i] = (float) rng.nextGaussian();
            v[i] = (float) rng.nextGaussian();
        }
        boolean[] kept = new boolean[heads * nq * nk];
        for (int r = 0; r < heads * nq; r++) {
            kept[r * nk + rng.nextInt(nk)] = true;
            for (int j = 0; j < nk; j++) {
                kept[r * nk + j] |= rng.nextDouble() < 0.3;
            }
        }
        BlockMask mask = BlockMask.of(1, heads, new BlockGrid(n, bq), new BlockGrid(n, bkv), kept);
        // The output: the exact masked attention, rounded to f32, on every row.
        float[] out = new float[q.length];
        double maxRef = 0;
        int[] sampled = SampledError.rows(n, 10);
        for (int bh = 0; bh < heads; bh++) {
            for (int row = 0; row < n; row++) {
                double[] o = expectedRow(q, k, v, kept, n, d, bh, row, bq, bkv, nk);
                for (int c = 0; c < d; c++) {
                    out[(bh * n + row) * d + c] = (float) o[c];
                }
                if (java.util.Arrays.binarySearch(sampled, row) >= 0) {
                    for (double x : o) {
                        maxRef = Math.max(maxRef, Math.abs(x));
                    }
                }
            }
        }
        try (Tensor tq = Tensor.of(q, 1, heads, n, d); Tensor tk = Tensor.of(k, 1, heads, n, d);
             Tensor tv = Tensor.of(v, 1, heads, n, d); Tensor to = Tensor.of(out, 1, heads, n, d)) {
            float scale = (float) (1 / Math.sqrt(d));
            // f32 rounding of the output and of the scale only: about 1e-7 relative.
            double exact = SampledError.maxRelativeError(tq, tk, tv, mask, scale, to, 10);
            assertTrue(exact < 1e-6, "error of the exact output " + exact);
            // A perturbation of 0.05 in a sampled row of head 1 shows up as 0.05 / max|ref|.
            int row = sampled[1];
            assertEquals(sampled[1] + 1 < sampled[2], true, "the next row must not be sampled");
            long at = ((long) n + row) * d + 3;
            to.setFloat(at, to.getFloat(at) + 0.05f);
            double err = SampledError.maxRelativeError(tq, tk, tv, mask, scale, to, 10);
            assertEquals(0.05 / maxRef, err, 1e-6);
            // The same perturbation in a row that is not sampled goes unseen.
            to.setFloat(at, (float) expectedRow(q, k, v, kept, n, d, 1, row, bq, bkv, nk)[3]);
            long unsampled = ((long) n + row + 1) * d + 3;
            to.setFloat(unsampled, to.getFloat(unsampled) + 0.05f);
            assertTrue(SampledError.maxRelativeError(tq, tk, tv, mask, scale, to, 10) < 1e-6);
            // NaN output is never hidden.
            to.setFloat(0, Float.NaN);
            assertTrue(Double.isNaN(SampledError.maxRelativeError(tq, tk, tv, mask, scale, to, 10)));
        }
    }
}
