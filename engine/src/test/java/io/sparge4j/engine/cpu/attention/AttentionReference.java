package io.sparge4j.engine.cpu.attention;

import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.tensor.Tensor;

/**
 * Plain float64 attention for tests: the full score matrix, softmax, and the analytic gradients, with an
 * optional mask of kept (query, key) pairs. Arrays are in logical (B, H, N, d) order whatever the layout.
 */
public final class AttentionReference {
    /** Which (query, key) pairs of a head take part; dense attention keeps all. */
    @FunctionalInterface
    public interface Keep {
        /** @return whether query {@code i} attends to key {@code j} in head {@code bh} */
        boolean test(int bh, int i, int j);
    }

    /** Keeps every pair. */
    public static final Keep DENSE = (bh, i, j) -> true;

    public final int batch;
    public final int heads;
    public final int queryLen;
    public final int keyLen;
    public final int dim;
    public final double scale;
    public final Keep keep;

    /** Output (B, H, Nq, d) and natural logsumexp (B, H, Nq). */
    public record Forward(double[] out, double[] lse) {
    }

    /** Gradients in logical (B, H, N, d) order. */
    public record Grads(double[] dq, double[] dk, double[] dv) {
    }

    public AttentionReference(int batch, int heads, int queryLen, int keyLen, int dim, double scale, Keep keep) {
        this.batch = batch;
        this.heads = heads;
        this.queryLen = queryLen;
        this.keyLen = keyLen;
        this.dim = dim;
        this.scale = scale;
        this.keep = keep;
    }

    /** Softmax probabilities of one head: p[i][j], zero where not kept. */
    private double[][] probabilities(double[] q, double[] k, int bh, double[] lseOut) {
        double[][] p = new double[queryLen][keyLen];
        for (int i = 0; i < queryLen; i++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < keyLen; j++) {
                if (!keep.test(bh, i, j)) {
                    continue;
                }
                double s = 0;
                for (int c = 0; c < dim; c++) {
                    s += q[(bh * queryLen + i) * dim + c] * k[(bh * keyLen + j) * dim + c];
                }
                p[i][j] = s * scale;
                max = Math.max(max, p[i][j]);
            }
            double sum = 0;
            for (int j = 0; j < keyLen; j++) {
                p[i][j] = keep.test(bh, i, j) ? Math.exp(p[i][j] - max) : 0;
                sum += p[i][j];
            }
            for (int j = 0; j < keyLen; j++) {
                p[i][j] /= sum;
            }
            if (lseOut != null) {
                lseOut[bh * queryLen + i] = max + Math.log(sum);
            }
        }
        return p;
    }

    /** @return softmax(q k^T scale) v and the logsumexp */
    public Forward forward(double[] q, double[] k, double[] v) {
        double[] out = new double[batch * heads * queryLen * dim];
        double[] lse = new double[batch * heads * queryLen];
        for (int bh = 0; bh < batch * heads; bh++) {
            double[][] p = probabilities(q, k, bh, lse);
            for (int i = 0; i < queryLen; i++) {
                for (int c = 0; c < dim; c++) {
                    double acc = 0;
                    for (int j = 0; j < keyLen; j++) {
                        acc += p[i][j] * v[(bh * keyLen + j) * dim + c];
                    }
                    out[(bh * queryLen + i) * dim + c] = acc;
                }
            }
        }
        return new Forward(out, lse);
    }

    /** @return the analytic gradients of sum(out * dOut) */
    public Grads backward(double[] q, double[] k, double[] v, double[] dOut) {
        double[] dq = new double[q.length];
        double[] dk = new double[k.length];
        double[] dv = new double[v.length];
        for (int bh = 0; bh < batch * heads; bh++) {
            double[][] p = probabilities(q, k, bh, null);
            for (int i = 0; i < queryLen; i++) {
                double[] dp = new double[keyLen];
                double rowDot = 0;
                for (int j = 0; j < keyLen; j++) {
                    for (int c = 0; c < dim; c++) {
                        dp[j] += dOut[(bh * queryLen + i) * dim + c] * v[(bh * keyLen + j) * dim + c];
                    }
                    rowDot += p[i][j] * dp[j];
                }
                for (int j = 0; j < keyLen; j++) {
                    double ds = p[i][j] * (dp[j] - rowDot) * scale;
                    for (int c = 0; c < dim; c++) {
                        int qi = (bh * queryLen + i) * dim + c;
                        int kj = (bh * keyLen + j) * dim + c;
                        dq[qi] += ds * k[kj];
                        dk[kj] += ds * q[qi];
                        dv[kj] += p[i][j] * dOut[qi];
                    }
                }
            }
        }
        return new Grads(dq, dk, dv);
    }

    /** @return the tensor's values in logical (B, H, N, d) order */
    public static double[] logical(Tensor t, AttentionLayout layout) {
        int[] s = t.shape();
        if (layout == AttentionLayout.BHND) {
            return t.toDoubleArray();
        }
        int b = s[0], n = s[1], h = s[2], d = s[3];
        double[] flat = t.toDoubleArray();
        double[] out = new double[flat.length];
        for (int bi = 0; bi < b; bi++) {
            for (int ni = 0; ni < n; ni++) {
                for (int hi = 0; hi < h; hi++) {
                    for (int c = 0; c < d; c++) {
                        out[((bi * h + hi) * n + ni) * d + c] = flat[((bi * n + ni) * h + hi) * d + c];
                    }
                }
            }
        }
        return out;
    }

    /** @return float values in logical (B, H, N, d) order */
    public static float[] logicalFloats(Tensor t, AttentionLayout layout) {
        double[] d = logical(t, layout);
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }
}
