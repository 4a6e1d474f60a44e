package io.sparge4j.cli;

import java.util.Arrays;

/**
 * SpargeAttention2 written out plainly in float64 for the CLI tests, independent of the engine: the pooled map, the
 * Top-k / Top-p / hybrid selection, and masked attention with its logsumexp. Arrays are row-major (B,H,N,d).
 */
final class Float64Attention {
    private Float64Attention() {
    }

    /** @return blocks of {@code size} covering n (the last may be short) */
    static int blocks(int n, int size) {
        return (n + size - 1) / size;
    }

    /**
     * The hybrid (or single-rule) mask, as flags (B,H,nq,nk).
     *
     * @param useK apply Top-k with fraction k
     * @param useP apply Top-p with threshold p
     */
    static boolean[] mask(float[] q, float[] k, int b, int h, int n, int d, int bq, int bkv, boolean useK, double kf,
            boolean useP, double p) {
        int nq = blocks(n, bq);
        int nk = blocks(n, bkv);
        boolean[] kept = new boolean[b * h * nq * nk];
        double scale = 1 / Math.sqrt(d);
        for (int bh = 0; bh < b * h; bh++) {
            double[][] qp = pool(q, bh, n, d, bq);
            double[][] kp = pool(k, bh, n, d, bkv);
            for (int i = 0; i < nq; i++) {
                double[] s = new double[nk];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < nk; j++) {
                    for (int c = 0; c < d; c++) {
                        s[j] += qp[i][c] * kp[j][c];
                    }
                    s[j] *= scale;
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j < nk; j++) {
                    s[j] = Math.exp(s[j] - max);
                    sum += s[j];
                }
                double[] prob = new double[nk];
                Integer[] order = new Integer[nk];
                for (int j = 0; j < nk; j++) {
                    prob[j] = s[j] / sum;
                    order[j] = j;
                }
                Arrays.sort(order, (x, y) -> prob[x] != prob[y] ? Double.compare(prob[y], prob[x]) : Integer.compare(x, y));
                int keep = 0;
                if (useK) {
                    keep = Math.min(nk, Math.max(1, (int) Math.ceil(kf * nk - 1e-9)));
                }
                if (useP) {
                    int count = 0;
                    double mass = 0;
                    while (count < nk && (p >= 1 || mass < p)) {
                        mass += prob[order[count]];
                        count++;
                    }
                    keep = Math.max(keep, count);
                }
                for (int e = 0; e < keep; e++) {
                    kept[(bh * nq + i) * nk + order[e]] = true;
                }
            }
        }
        return kept;
    }

    private static double[][] pool(float[] x, int bh, int n, int d, int block) {
        int nb = blocks(n, block);
        double[][] out = new double[nb][d];
        for (int t = 0; t < n; t++) {
            int len = Math.min(block, n - (t / block) * block);
            for (int c = 0; c < d; c++) {
                out[t / block][c] += x[(bh * n + t) * d + c] / (double) len;
            }
        }
        return out;
    }

    /**
     * Masked attention, float64.
     *
     * @param kept (B,H,nq,nk) flags, or null for dense
     * @param lse receives the natural-log logsumexp of the scaled scores over kept keys, (B,H,N)
     * @return the output (B,H,N,d)
     */
    static double[] attention(float[] q, float[] k, float[] v, boolean[] kept, int b, int h, int n, int d, int bq,
            int bkv, double[] lse) {
        int nq = blocks(n, bq);
        int nk = blocks(n, bkv);
        double scale = 1 / Math.sqrt(d);
        double[] out = new double[b * h * n * d];
        for (int bh = 0; bh < b * h; bh++) {
            for (int t = 0; t < n; t++) {
                double[] s = new double[n];
                double max = Double.NEGATIVE_INFINITY;
                for (int u = 0; u < n; u++) {
                    if (kept != null && !kept[(bh * nq + t / bq) * nk + u / bkv]) {
                        s[u] = Double.NEGATIVE_INFINITY;
                        continue;
                    }
                    double dot = 0;
                    for (int c = 0; c < d; c++) {
                        dot += (double) q[(bh * n + t) * d + c] * k[(bh * n + u) * d + c];
                    }
                    s[u] = dot * scale;
                    max = Math.max(max, s[u]);
                }
                double sum = 0;
                for (int u = 0; u < n; u++) {
                    if (s[u] == Double.NEGATIVE_INFINITY) {
                        continue;
                    }
                    double e = Math.exp(s[u] - max);
                    sum += e;
                    for (int c = 0; c < d; c++) {
                        out[(bh * n + t) * d + c] += e * v[(bh * n + u) * d + c];
                    }
                }
                for (int c = 0; c < d; c++) {
                    out[(bh * n + t) * d + c] /= sum;
                }
                lse[bh * n + t] = max + Math.log(sum);
            }
        }
        return out;
    }

    /** @return area-weighted sparsity of one (b, h) block of flags, as the method page defines it */
    static double sparsity(boolean[] kept, int bh, int n, int bq, int bkv) {
        int nq = blocks(n, bq);
        int nk = blocks(n, bkv);
        double keptArea = 0;
        for (int i = 0; i < nq; i++) {
            for (int j = 0; j < nk; j++) {
                if (kept[(bh * nq + i) * nk + j]) {
                    keptArea += (double) Math.min(bq, n - i * bq) * Math.min(bkv, n - j * bkv);
                }
            }
        }
        return 1 - keptArea / ((double) n * n);
    }
}
