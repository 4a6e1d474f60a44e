package io.sparge4j.engine.kernel.attention;

import io.sparge4j.engine.sparse.BlockMask;

import java.util.ArrayList;
import java.util.List;

/**
 * Block-sparse attention forward and backward in float64 from the definition: for each query, softmax over the
 * keys of its kept blocks; {@code dP = dO V^T}, {@code D = dO . O}, {@code dS = P (dP - D)},
 * {@code dQ = scale dS K}, {@code dK = scale dS^T Q}, {@code dV = P^T dO}; with, per gradient element, the sum of
 * the terms' magnitudes and of their squares (for the bounds).
 */
final class AttentionFloat64 {
    final int heads;
    final int n;
    final int d;
    final double scale;
    final float[] q;
    final float[] k;
    final float[] v;
    final float[] dOut;
    final BlockMask mask;
    final double[] lse;
    final double[] o;
    final double[][] grad = new double[3][];
    final double[][] absSum = new double[3][];
    final double[][] squareSum = new double[3][];

    AttentionFloat64(int heads, int n, int d, float scale, float[] q, float[] k, float[] v, float[] dOut,
            BlockMask mask) {
        this.heads = heads;
        this.n = n;
        this.d = d;
        this.scale = scale;
        this.q = q;
        this.k = k;
        this.v = v;
        this.dOut = dOut;
        this.mask = mask;
        lse = new double[heads * n];
        o = new double[heads * n * d];
        for (int bh = 0; bh < heads; bh++) {
            for (int row = 0; row < n; row++) {
                int[] keys = keys(bh, row);
                double[] p = probabilities(bh, row, keys, bh * n + row);
                for (int t = 0; t < keys.length; t++) {
                    for (int x = 0; x < d; x++) {
                        o[(bh * n + row) * d + x] += p[t] * v[(bh * n + keys[t]) * d + x];
                    }
                }
            }
        }
    }

    /**
     * dQ, dK, dV in float64 from the definition alone: the backward of this reference's own (unrounded) forward
     * output, independent of any kernel's o and lse.
     */
    static double[][] exactGradients(int heads, int n, int d, float scale, float[] q, float[] k, float[] v,
            float[] dOut, BlockMask mask) {
        AttentionFloat64 ref = new AttentionFloat64(heads, n, d, scale, q, k, v, dOut, mask);
        ref.backward(ref.o);
        return ref.grad;
    }

    float[] out() {
        float[] out = new float[o.length];
        for (int i = 0; i < o.length; i++) {
            out[i] = (float) o[i];
        }
        return out;
    }

    float[] lse() {
        float[] out = new float[lse.length];
        for (int i = 0; i < lse.length; i++) {
            out[i] = (float) lse[i];
        }
        return out;
    }

    /** The backward given the forward output the kernels see (f32, or rounded to the operand type). */
    void backward(float[] out) {
        double[] wide = new double[out.length];
        for (int i = 0; i < out.length; i++) {
            wide[i] = out[i];
        }
        backward(wide);
    }

    /** The backward given a forward output ({@link #o} for the exact one). */
    void backward(double[] out) {
        for (int g = 0; g < 3; g++) {
            grad[g] = new double[heads * n * d];
            absSum[g] = new double[heads * n * d];
            squareSum[g] = new double[heads * n * d];
        }
        for (int bh = 0; bh < heads; bh++) {
            for (int row = 0; row < n; row++) {
                int qr = (bh * n + row) * d;
                int[] keys = keys(bh, row);
                double[] p = probabilities(bh, row, keys, -1);
                double delta = 0;
                for (int x = 0; x < d; x++) {
                    delta += (double) dOut[qr + x] * out[qr + x];
                }
                for (int t = 0; t < keys.length; t++) {
                    int kr = (bh * n + keys[t]) * d;
                    double dp = 0;
                    for (int x = 0; x < d; x++) {
                        dp += (double) dOut[qr + x] * v[kr + x];
                    }
                    double ds = p[t] * (dp - delta);
                    for (int x = 0; x < d; x++) {
                        add(0, qr + x, scale * ds * k[kr + x]);
                        add(1, kr + x, scale * ds * q[qr + x]);
                        add(2, kr + x, p[t] * dOut[qr + x]);
                    }
                }
            }
        }
    }

    private void add(int g, int at, double term) {
        grad[g][at] += term;
        absSum[g][at] += Math.abs(term);
        squareSum[g][at] += term * term;
    }

    private int[] keys(int bh, int row) {
        int nq = mask.queryGrid().blocks();
        int r = bh * nq + row / mask.queryGrid().blockSize();
        int kb = mask.keyGrid().blockSize();
        int[] rowStart = mask.rowStart();
        int[] rowBlocks = mask.rowBlocks();
        List<Integer> keys = new ArrayList<>();
        for (int e = rowStart[r]; e < rowStart[r + 1]; e++) {
            for (int key = rowBlocks[e] * kb; key < Math.min(n, (rowBlocks[e] + 1) * kb); key++) {
                keys.add(key);
            }
        }
        return keys.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Softmax of scale q.k over the keys; records the logsumexp at {@code lseAt} when that is not -1. */
    private double[] probabilities(int bh, int row, int[] keys, int lseAt) {
        double[] s = new double[keys.length];
        double max = Double.NEGATIVE_INFINITY;
        for (int t = 0; t < keys.length; t++) {
            double dot = 0;
            for (int x = 0; x < d; x++) {
                dot += (double) q[(bh * n + row) * d + x] * k[(bh * n + keys[t]) * d + x];
            }
            s[t] = dot * scale;
            max = Math.max(max, s[t]);
        }
        double sum = 0;
        for (int t = 0; t < keys.length; t++) {
            s[t] = Math.exp(s[t] - max);
            sum += s[t];
        }
        for (int t = 0; t < keys.length; t++) {
            s[t] /= sum;
        }
        if (lseAt >= 0) {
            lse[lseAt] = max + Math.log(sum);
        }
        return s;
    }
}
