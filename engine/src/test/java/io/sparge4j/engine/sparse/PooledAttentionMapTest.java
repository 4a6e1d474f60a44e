package io.sparge4j.engine.sparse;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PooledAttentionMapTest {
    /** Float64 reference: pool each block over its true length, then a row softmax. */
    private static double[][] reference(double[][] q, double[][] k, int bq, int bkv, double scale) {
        int nq = (q.length + bq - 1) / bq;
        int nk = (k.length + bkv - 1) / bkv;
        int d = q[0].length;
        double[][] qp = new double[nq][d];
        double[][] kp = new double[nk][d];
        for (int t = 0; t < q.length; t++) {
            int len = Math.min(bq, q.length - t / bq * bq);
            for (int c = 0; c < d; c++) {
                qp[t / bq][c] += q[t][c] / len;
            }
        }
        for (int t = 0; t < k.length; t++) {
            int len = Math.min(bkv, k.length - t / bkv * bkv);
            for (int c = 0; c < d; c++) {
                kp[t / bkv][c] += k[t][c] / len;
            }
        }
        double[][] p = new double[nq][nk];
        for (int i = 0; i < nq; i++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < nk; j++) {
                double s = 0;
                for (int c = 0; c < d; c++) {
                    s += qp[i][c] * kp[j][c];
                }
                p[i][j] = s * scale;
                max = Math.max(max, p[i][j]);
            }
            double sum = 0;
            for (int j = 0; j < nk; j++) {
                p[i][j] = Math.exp(p[i][j] - max);
                sum += p[i][j];
            }
            for (int j = 0; j < nk; j++) {
                p[i][j] /= sum;
            }
        }
        return p;
    }

    @Test
    void matchesFloat64ReferenceWithShortLastBlocksInBothLayouts() {
        int b = 2, h = 3, nq = 77, nk = 53, d = 24, bq = 16, bkv = 8;
        float scale = (float) (1 / Math.sqrt(d));
        Tensor q = Tensor.randn(new SplittableRandom(1), DType.F32, b, h, nq, d);
        Tensor k = Tensor.randn(new SplittableRandom(2), DType.F32, b, h, nk, d);
        PooledAttentionMap bhnd = PooledAttentionMap.compute(q, k, bq, bkv, scale, AttentionLayout.BHND);
        // Same data in (B,N,H,d).
        Tensor qt = Tensor.zeros(b, nq, h, d);
        Tensor kt = Tensor.zeros(b, nk, h, d);
        for (int bi = 0; bi < b; bi++) {
            for (int hi = 0; hi < h; hi++) {
                for (int c = 0; c < d; c++) {
                    for (int t = 0; t < nq; t++) {
                        qt.set(q.get(bi, hi, t, c), bi, t, hi, c);
                    }
                    for (int t = 0; t < nk; t++) {
                        kt.set(k.get(bi, hi, t, c), bi, t, hi, c);
                    }
                }
            }
        }
        PooledAttentionMap bnhd = PooledAttentionMap.compute(qt, kt, bq, bkv, scale, AttentionLayout.BNHD);
        assertEquals(5, bhnd.queryGrid().blocks());
        assertEquals(7, bhnd.keyGrid().blocks());
        for (int bi = 0; bi < b; bi++) {
            for (int hi = 0; hi < h; hi++) {
                double[][] qa = new double[nq][d];
                double[][] ka = new double[nk][d];
                for (int t = 0; t < nq; t++) {
                    for (int c = 0; c < d; c++) {
                        qa[t][c] = q.get(bi, hi, t, c);
                    }
                }
                for (int t = 0; t < nk; t++) {
                    for (int c = 0; c < d; c++) {
                        ka[t][c] = k.get(bi, hi, t, c);
                    }
                }
                double[][] ref = reference(qa, ka, bq, bkv, scale);
                for (int i = 0; i < ref.length; i++) {
                    for (int j = 0; j < ref[0].length; j++) {
                        // P is stored in f32 after a float64 softmax: relative error ~ 6e-8
                        assertEquals(ref[i][j], bhnd.prob(bi, hi, i, j), 1e-6 * ref[i][j] + 1e-12);
                        assertEquals(bhnd.prob(bi, hi, i, j), bnhd.prob(bi, hi, i, j));
                    }
                }
            }
        }
    }

    @Test
    void halfPrecisionInputsPoolTheirRoundedValues() {
        Tensor q = Tensor.randn(new SplittableRandom(4), DType.BF16, 1, 2, 40, 16);
        Tensor k = Tensor.randn(new SplittableRandom(5), DType.F16, 1, 2, 30, 16);
        PooledAttentionMap half = PooledAttentionMap.compute(q, k, 8, 8, 0.25f, AttentionLayout.BHND);
        PooledAttentionMap full = PooledAttentionMap.compute(q.to(DType.F32), k.to(DType.F32), 8, 8, 0.25f, AttentionLayout.BHND);
        for (int h = 0; h < 2; h++) {
            for (int i = 0; i < 5; i++) {
                for (int j = 0; j < 4; j++) {
                    assertEquals(full.prob(0, h, i, j), half.prob(0, h, i, j));
                }
            }
        }
    }

    @Test
    void mismatchedShapesAreNamed() {
        Tensor q = Tensor.randn(1, 1, 2, 10, 8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PooledAttentionMap.compute(q, Tensor.randn(2, 1, 2, 10, 4), 4, 4, 1f, AttentionLayout.BHND));
        assertTrue(e.getMessage().contains("k has shape [1, 2, 10, 4]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> PooledAttentionMap.compute(q, Tensor.randn(3, 1, 2, 10, 8), 0, 4, 1f, AttentionLayout.BHND));
        assertTrue(e.getMessage().contains("queryBlock is 0"), e.getMessage());
    }

    @Test
    void calibrationHitsTargetSparsity() {
        // Keys share a low-rank component with the queries so that the pooled map has structure.
        SplittableRandom rng = new SplittableRandom(9);
        int n = 2048, d = 32;
        Tensor q = Tensor.zeros(1, 2, n, d);
        Tensor k = Tensor.zeros(1, 2, n, d);
        double[] dir = new double[d];
        for (int c = 0; c < d; c++) {
            dir[c] = rng.nextGaussian();
        }
        for (int h = 0; h < 2; h++) {
            for (int t = 0; t < n; t++) {
                double amp = Math.sin(t / 97.0) * 3;
                for (int c = 0; c < d; c++) {
                    q.set((float) (amp * dir[c] + rng.nextGaussian()), 0, h, t, c);
                    k.set((float) (amp * dir[c] + rng.nextGaussian()), 0, h, t, c);
                }
            }
        }
        PooledAttentionMap map = PooledAttentionMap.compute(q, k, 64, 32, (float) (1 / Math.sqrt(d)), AttentionLayout.BHND);
        Calibration.Result r = Calibration.calibrateP(map, MaskMode.HYBRID, 0.03, 0.9);
        assertEquals(0.9, r.sparsity(), 0.005, "calibrated p=" + r.p());
        assertEquals(r.sparsity(), BlockSelector.select(map, MaskMode.HYBRID, 0.03, r.p()).sparsity(), 1e-12);
        Calibration.Result rk = Calibration.calibrateK(map, MaskMode.TOPK, 1, 0.75);
        assertEquals(0.75, rk.sparsity(), 0.01, "calibrated k=" + rk.k());
        MaskStatistics stats = MaskStatistics.of(BlockSelector.select(map, MaskMode.HYBRID, 0.03, r.p()), map);
        assertEquals(r.sparsity(), stats.sparsity(), 1e-12);
        assertTrue(stats.keptPerRowMin() >= 2, "ceil(0.03 * 64) = 2 blocks at least");
        assertTrue(stats.retainedMassMin() > 0 && stats.retainedMassMax() <= 1 + 1e-6);
    }
}
