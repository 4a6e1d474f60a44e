package io.sparge4j.models.report;

import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.sparse.PooledAttentionMap;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConcentrationTest {

    @Test
    void blocksForMassIsTheFewestBlocksReachingTheMassCheckedExactly() {
        SplittableRandom rng = new SplittableRandom(3);
        for (int trial = 0; trial < 200; trial++) {
            int n = 1 + rng.nextInt(40);
            double[] row = new double[n];
            for (int j = 0; j < n; j++) {
                double u = rng.nextDouble();
                row[j] = trial % 2 == 0 ? u : Math.pow(u, 8);   // flat and peaked rows
            }
            double mass = 0.05 + 0.95 * rng.nextDouble();
            int kept = Concentration.blocksForMass(row, mass);
            // Minimality, in exact decimal arithmetic: the top `kept` reach mass * total, the top `kept - 1` do not.
            BigDecimal[] sorted = Arrays.stream(row).mapToObj(BigDecimal::new).sorted((a, b) -> b.compareTo(a))
                    .toArray(BigDecimal[]::new);
            BigDecimal total = Arrays.stream(sorted).reduce(BigDecimal.ZERO, BigDecimal::add);
            BigDecimal target = total.multiply(new BigDecimal(mass));
            BigDecimal top = BigDecimal.ZERO;
            for (int i = 0; i < kept - 1; i++) {
                top = top.add(sorted[i]);
            }
            assertTrue(top.compareTo(target) < 0, "kept - 1 blocks already reach the mass, trial " + trial);
            assertTrue(top.add(sorted[kept - 1]).compareTo(target) >= 0, "kept blocks fall short, trial " + trial);
        }
        assertEquals(1, Concentration.blocksForMass(new double[] {0.7, 0.2, 0.1}, 0.6));
        assertEquals(2, Concentration.blocksForMass(new double[] {0.25, 0.25, 0.25, 0.25}, 0.5));
        assertEquals(3, Concentration.blocksForMass(new double[] {0.25, 0.25, 0.25, 0.25}, 0.6));
    }

    @Test
    void headSparsitiesMatchAFloat64PooledMapBuiltFromQAndK() {
        SplittableRandom rng = new SplittableRandom(19);
        int heads = 3;
        int n = 512;
        int d = 16;
        int bq = 64;
        int bkv = 32;
        float[] q = new float[n * heads * d];
        float[] k = new float[n * heads * d];
        for (int i = 0; i < q.length; i++) {
            // A shared direction per token position makes some key blocks stand out.
            q[i] = (float) (rng.nextGaussian() * 1.5);
            k[i] = (float) (rng.nextGaussian() * 1.5 + ((i / (heads * d)) % 97 < 20 ? 1.0 : 0.0));
        }
        double mass = 0.6;
        double[] got;
        try (Tensor qt = Tensor.of(q, 1, n, heads, d); Tensor kt = Tensor.of(k, 1, n, heads, d)) {
            PooledAttentionMap map = PooledAttentionMap.compute(qt, kt, bq, bkv, (float) (1 / Math.sqrt(d)),
                    AttentionLayout.BNHD);
            got = Concentration.headSparsities(map, mass);
        }
        int nq = n / bq;
        int nk = n / bkv;
        int compared = 0;
        for (int h = 0; h < heads; h++) {
            double sum = 0;
            for (int i = 0; i < nq; i++) {
                double[] qp = pool(q, h, i * bq, bq, heads, d);
                double[] row = new double[nk];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < nk; j++) {
                    double[] kp = pool(k, h, j * bkv, bkv, heads, d);
                    double dot = 0;
                    for (int c = 0; c < d; c++) {
                        dot += qp[c] * kp[c];
                    }
                    row[j] = dot / Math.sqrt(d);
                    max = Math.max(max, row[j]);
                }
                double z = 0;
                for (int j = 0; j < nk; j++) {
                    row[j] = Math.exp(row[j] - max);
                    z += row[j];
                }
                for (int j = 0; j < nk; j++) {
                    row[j] /= z;
                }
                double[] sorted = Arrays.stream(row).sorted().toArray();
                double cum = 0;
                int kept = 0;
                while (cum < mass) {
                    cum += sorted[sorted.length - 1 - kept];
                    kept++;
                }
                // The f32 map may round a cumulative sum across the target only when it lies this close to it.
                assertTrue(Math.abs(cum - mass) > 1e-5 && Math.abs(cum - sorted[sorted.length - kept] - mass) > 1e-5,
                        "row " + h + "/" + i + " is too close to the mass to compare; pick another seed");
                sum += 1.0 - (double) kept / nk;
                compared++;
            }
            assertEquals(sum / nq, got[h], 1e-12, "head " + h);
        }
        assertEquals(heads * nq, compared);
        assertTrue(Arrays.stream(got).allMatch(v -> v > 0 && v < 1), Arrays.toString(got));
    }

    private static double[] pool(float[] x, int h, int start, int len, int heads, int d) {
        double[] out = new double[d];
        for (int t = start; t < start + len; t++) {
            for (int c = 0; c < d; c++) {
                out[c] += x[(t * heads + h) * d + c];
            }
        }
        for (int c = 0; c < d; c++) {
            out[c] /= len;
        }
        return out;
    }

    @Test
    void refusesBadInput() {
        var mass = assertThrows(IllegalArgumentException.class, () -> Concentration.blocksForMass(new double[] {1}, 0));
        assertTrue(mass.getMessage().contains("mass is 0.0"), mass.getMessage());
        var nan = assertThrows(IllegalArgumentException.class,
                () -> Concentration.blocksForMass(new double[] {0.5, Double.NaN}, 0.6));
        assertTrue(nan.getMessage().contains("entry 1"), nan.getMessage());
        var zero = assertThrows(IllegalArgumentException.class,
                () -> Concentration.blocksForMass(new double[] {0, 0}, 0.6));
        assertTrue(zero.getMessage().contains("sums to 0"), zero.getMessage());
        var empty = assertThrows(IllegalArgumentException.class, () -> Concentration.blocksForMass(new double[0], 0.6));
        assertTrue(empty.getMessage().contains("empty"), empty.getMessage());
    }
}
