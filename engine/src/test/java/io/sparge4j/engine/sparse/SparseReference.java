package io.sparge4j.engine.sparse;

import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * An independent float64 model of SpargeAttention2 for the sparse tests, written from the method page only (never
 * calling the code under test): pooled map, Top-k / Top-p / hybrid sets, masked dense attention and its analytic
 * gradient. Arrays are in the canonical (B,H,N,d) order whatever the tensors' layout; kept flags are (B,H,nq,nk).
 */
final class SparseReference {
    private SparseReference() {
    }

    /** Problem sizes and block sizes. */
    record Dims(int batch, int heads, int queries, int keys, int headDim, int queryBlock, int keyBlock) {
        int queryBlocks() {
            return (queries + queryBlock - 1) / queryBlock;
        }

        int keyBlocks() {
            return (keys + keyBlock - 1) / keyBlock;
        }

        int[] shape(int tokens, AttentionLayout layout) {
            return layout == AttentionLayout.BHND ? new int[] {batch, heads, tokens, headDim}
                    : new int[] {batch, tokens, heads, headDim};
        }
    }

    /**
     * Structured random inputs, so that the pooled map is far from flat. Generator: for each (b, h) draw R = 4
     * directions u_r with N(0, 1) entries and per-tensor phases phi_r; token t of a sequence of length n gets
     * {@code x_t = amp * sum_r cos(2 pi (r + 1) t / n + phi_r) u_r + noise * N(0, 1)^d}. q and k share the u_r (a
     * low-rank component that varies smoothly along the sequence, so it survives mean pooling) and differ in phases
     * and noise. v is plain N(0, 1).
     */
    static double[] structured(SplittableRandom rng, int batch, int heads, int n, int d, double amp, double noise,
            double[][][] directions) {
        double[] x = new double[batch * heads * n * d];
        int rank = directions[0].length;
        for (int bh = 0; bh < batch * heads; bh++) {
            double[] phase = new double[rank];
            for (int r = 0; r < rank; r++) {
                phase[r] = rng.nextDouble(2 * Math.PI);
            }
            for (int t = 0; t < n; t++) {
                for (int c = 0; c < d; c++) {
                    double s = noise * rng.nextGaussian();
                    for (int r = 0; r < rank; r++) {
                        s += amp * Math.cos(2 * Math.PI * (r + 1) * t / n + phase[r]) * directions[bh][r][c];
                    }
                    x[(bh * n + t) * d + c] = s;
                }
            }
        }
        return x;
    }

    /** @return R = 4 shared Gaussian directions per (b, h), for {@link #structured} */
    static double[][][] directions(SplittableRandom rng, int batchHeads, int d) {
        double[][][] u = new double[batchHeads][4][d];
        for (double[][] perHead : u) {
            for (double[] dir : perHead) {
                for (int c = 0; c < d; c++) {
                    dir[c] = rng.nextGaussian();
                }
            }
        }
        return u;
    }

    /**
     * Tensors q, k, v in a layout and dtype, with the canonical float64 values the code sees (after rounding).
     */
    record Problem(Dims dims, AttentionLayout layout, Tensor q, Tensor k, Tensor v, double[] qd, double[] kd,
            double[] vd) implements AutoCloseable {
        @Override
        public void close() {
            q.close();
            k.close();
            v.close();
        }
    }

    /** Structured q and k (see {@link #structured}, amplitude 0.5, noise 1) and Gaussian v, seeded. */
    static Problem problem(long seed, Dims dims, AttentionLayout layout, DType dtype) {
        SplittableRandom rng = new SplittableRandom(seed);
        int bh = dims.batch() * dims.heads();
        int d = dims.headDim();
        double[][][] dirs = directions(rng, bh, d);
        double amp = 0.5 * Math.pow(64.0 / d, 0.25); // keeps the pooled logits' spread similar across d
        double[] q0 = structured(rng, dims.batch(), dims.heads(), dims.queries(), d, amp, 1, dirs);
        double[] k0 = structured(rng, dims.batch(), dims.heads(), dims.keys(), d, amp, 1, dirs);
        double[] v0 = gaussian(rng, bh * dims.keys() * d, 1);
        Tensor q = tensor(q0, dims, dims.queries(), layout, dtype);
        Tensor k = tensor(k0, dims, dims.keys(), layout, dtype);
        Tensor v = tensor(v0, dims, dims.keys(), layout, dtype);
        return new Problem(dims, layout, q, k, v, canonical(q, dims, dims.queries(), layout),
                canonical(k, dims, dims.keys(), layout), canonical(v, dims, dims.keys(), layout));
    }

    /** @return plain N(0, std^2) values */
    static double[] gaussian(SplittableRandom rng, int n, double std) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = std * rng.nextGaussian();
        }
        return x;
    }

    /** Writes canonical (B,H,N,d) values into a new tensor of the layout and dtype (rounding to it). */
    static Tensor tensor(double[] canon, Dims dims, int tokens, AttentionLayout layout, DType dtype) {
        Tensor t = Tensor.allocate(dtype, dims.shape(tokens, layout));
        int d = dims.headDim();
        for (int b = 0; b < dims.batch(); b++) {
            for (int h = 0; h < dims.heads(); h++) {
                for (int n = 0; n < tokens; n++) {
                    for (int c = 0; c < d; c++) {
                        t.setFloat(index(dims, tokens, layout, b, h, n, c),
                                (float) canon[(((b * dims.heads()) + h) * tokens + n) * d + c]);
                    }
                }
            }
        }
        return t;
    }

    /** Reads a tensor of either layout back into canonical (B,H,N,d) doubles (the values the code sees). */
    static double[] canonical(Tensor t, Dims dims, int tokens, AttentionLayout layout) {
        int d = dims.headDim();
        double[] out = new double[dims.batch() * dims.heads() * tokens * d];
        for (int b = 0; b < dims.batch(); b++) {
            for (int h = 0; h < dims.heads(); h++) {
                for (int n = 0; n < tokens; n++) {
                    for (int c = 0; c < d; c++) {
                        out[(((b * dims.heads()) + h) * tokens + n) * d + c] =
                                t.getFloat(index(dims, tokens, layout, b, h, n, c));
                    }
                }
            }
        }
        return out;
    }

    /** Reads a (B,H,Nq) f32 tensor. */
    static double[] lse(Tensor t) {
        return t.toDoubleArray();
    }

    private static long index(Dims dims, int tokens, AttentionLayout layout, int b, int h, int n, int c) {
        int d = dims.headDim();
        return layout == AttentionLayout.BHND
                ? (((long) b * dims.heads() + h) * tokens + n) * d + c
                : (((long) b * tokens + n) * dims.heads() + h) * d + c;
    }

    /** The pooled map: mean-pool blocks over their true length, scaled scores, row softmax; (B,H,nq,nk). */
    static double[] pooledMap(double[] q, double[] k, Dims dims, double scale) {
        int nqb = dims.queryBlocks();
        int nkb = dims.keyBlocks();
        int d = dims.headDim();
        double[] map = new double[dims.batch() * dims.heads() * nqb * nkb];
        for (int bh = 0; bh < dims.batch() * dims.heads(); bh++) {
            double[][] qp = pool(q, bh, dims.queries(), dims.queryBlock(), d);
            double[][] kp = pool(k, bh, dims.keys(), dims.keyBlock(), d);
            for (int i = 0; i < nqb; i++) {
                double[] row = new double[nkb];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < nkb; j++) {
                    for (int c = 0; c < d; c++) {
                        row[j] += qp[i][c] * kp[j][c];
                    }
                    row[j] *= scale;
                    max = Math.max(max, row[j]);
                }
                double sum = 0;
                for (int j = 0; j < nkb; j++) {
                    row[j] = Math.exp(row[j] - max);
                    sum += row[j];
                }
                for (int j = 0; j < nkb; j++) {
                    map[(bh * nqb + i) * nkb + j] = row[j] / sum;
                }
            }
        }
        return map;
    }

    private static double[][] pool(double[] x, int bh, int n, int block, int d) {
        int blocks = (n + block - 1) / block;
        double[][] p = new double[blocks][d];
        for (int t = 0; t < n; t++) {
            int len = Math.min(block, n - t / block * block);
            for (int c = 0; c < d; c++) {
                p[t / block][c] += x[(bh * n + t) * d + c] / len;
            }
        }
        return p;
    }

    /** @return column indices of one row by descending value, ties by ascending index */
    static Integer[] descending(double[] map, int base, int nk) {
        Integer[] idx = new Integer[nk];
        for (int j = 0; j < nk; j++) {
            idx[j] = j;
        }
        Arrays.sort(idx, (a, b) -> {
            int c = Double.compare(map[base + b], map[base + a]);
            return c != 0 ? c : Integer.compare(a, b);
        });
        return idx;
    }

    /**
     * The rules of the method page, per row: Top-k keeps max(1, ceil(k nk - 1e-9)) largest; Top-p keeps every entry
     * of the descending order whose preceding mass is below p (all when p &gt;= 1); hybrid is the union.
     */
    static boolean[] select(double[] map, int rows, int nk, MaskMode mode, double k, double p) {
        boolean[] kept = new boolean[rows * nk];
        for (int r = 0; r < rows; r++) {
            Integer[] order = descending(map, r * nk, nk);
            if (mode == MaskMode.DENSE) {
                Arrays.fill(kept, r * nk, (r + 1) * nk, true);
                continue;
            }
            if (mode == MaskMode.TOPK || mode == MaskMode.HYBRID) {
                int count = Math.min(nk, Math.max(1, (int) Math.ceil(k * nk - 1e-9)));
                for (int e = 0; e < count; e++) {
                    kept[r * nk + order[e]] = true;
                }
            }
            if (mode == MaskMode.TOPP || mode == MaskMode.HYBRID) {
                double before = 0;
                for (int e = 0; e < nk; e++) {
                    if (p < 1 && before >= p) {
                        break;
                    }
                    kept[r * nk + order[e]] = true;
                    before += map[r * nk + order[e]];
                }
            }
        }
        return kept;
    }

    /**
     * How safe {@link #select} is from rounding: the smallest relative gap between neighbours in a row's descending
     * order, and the smallest |prefix mass - p| over the prefixes (NaN-free; +inf when p is not used).
     */
    static double[] margins(double[] map, int rows, int nk, double p) {
        double gap = Double.POSITIVE_INFINITY;
        double toP = Double.POSITIVE_INFINITY;
        for (int r = 0; r < rows; r++) {
            Integer[] order = descending(map, r * nk, nk);
            double prefix = 0;
            for (int e = 0; e < nk; e++) {
                double v = map[r * nk + order[e]];
                if (e + 1 < nk) {
                    gap = Math.min(gap, (v - map[r * nk + order[e + 1]]) / v);
                }
                prefix += v;
                if (p < 1) {
                    toP = Math.min(toP, Math.abs(prefix - p));
                }
            }
        }
        return new double[] {gap, toP};
    }

    /** Reads a BlockMask's kept flags through its public per-row lists (B,H,nq,nk). */
    static boolean[] flags(BlockMask m) {
        int nk = m.keyGrid().blocks();
        boolean[] kept = new boolean[(m.rowStart().length - 1) * nk];
        for (int r = 0; r < m.rowStart().length - 1; r++) {
            for (int e = m.rowStart()[r]; e < m.rowStart()[r + 1]; e++) {
                kept[r * nk + m.rowBlocks()[e]] = true;
            }
        }
        return kept;
    }

    /** Masked dense attention and logsumexp, in float64. */
    record Forward(double[] out, double[] lse) {
    }

    static Forward attention(double[] q, double[] k, double[] v, boolean[] kept, Dims dims, double scale) {
        int nq = dims.queries();
        int nk = dims.keys();
        int d = dims.headDim();
        double[] out = new double[dims.batch() * dims.heads() * nq * d];
        double[] lse = new double[dims.batch() * dims.heads() * nq];
        double[] s = new double[nk];
        for (int bh = 0; bh < dims.batch() * dims.heads(); bh++) {
            for (int i = 0; i < nq; i++) {
                double max = scores(q, k, kept, dims, scale, bh, i, s);
                double sum = 0;
                for (int j = 0; j < nk; j++) {
                    if (s[j] != Double.NEGATIVE_INFINITY) {
                        double w = Math.exp(s[j] - max);
                        sum += w;
                        for (int c = 0; c < d; c++) {
                            out[(bh * nq + i) * d + c] += w * v[(bh * nk + j) * d + c];
                        }
                    }
                }
                for (int c = 0; c < d; c++) {
                    out[(bh * nq + i) * d + c] /= sum;
                }
                lse[bh * nq + i] = max + Math.log(sum);
            }
        }
        return new Forward(out, lse);
    }

    /** Fills s with scaled scores of query i (-inf where the block is dropped); returns their max. */
    private static double scores(double[] q, double[] k, boolean[] kept, Dims dims, double scale, int bh, int i,
            double[] s) {
        int nq = dims.queries();
        int nk = dims.keys();
        int d = dims.headDim();
        int nkb = dims.keyBlocks();
        int row = bh * dims.queryBlocks() + i / dims.queryBlock();
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < nk; j++) {
            if (!kept[row * nkb + j / dims.keyBlock()]) {
                s[j] = Double.NEGATIVE_INFINITY;
                continue;
            }
            double dot = 0;
            for (int c = 0; c < d; c++) {
                dot += q[(bh * nq + i) * d + c] * k[(bh * nk + j) * d + c];
            }
            s[j] = dot * scale;
            max = Math.max(max, s[j]);
        }
        return max;
    }

    /** Analytic gradients of sum(out * dOut) for the masked dense attention, in float64. */
    record Grads(double[] dq, double[] dk, double[] dv) {
    }

    static Grads gradients(double[] q, double[] k, double[] v, double[] dOut, boolean[] kept, Dims dims, double scale) {
        int nq = dims.queries();
        int nk = dims.keys();
        int d = dims.headDim();
        double[] dq = new double[q.length];
        double[] dk = new double[k.length];
        double[] dv = new double[v.length];
        double[] s = new double[nk];
        double[] prob = new double[nk];
        double[] dp = new double[nk];
        for (int bh = 0; bh < dims.batch() * dims.heads(); bh++) {
            for (int i = 0; i < nq; i++) {
                double max = scores(q, k, kept, dims, scale, bh, i, s);
                double sum = 0;
                for (int j = 0; j < nk; j++) {
                    prob[j] = s[j] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(s[j] - max);
                    sum += prob[j];
                }
                double delta = 0; // sum_j P_ij dP_ij
                for (int j = 0; j < nk; j++) {
                    prob[j] /= sum;
                    dp[j] = 0;
                    for (int c = 0; c < d; c++) {
                        dp[j] += dOut[(bh * nq + i) * d + c] * v[(bh * nk + j) * d + c];
                    }
                    delta += prob[j] * dp[j];
                }
                for (int j = 0; j < nk; j++) {
                    if (prob[j] == 0) {
                        continue;
                    }
                    double ds = prob[j] * (dp[j] - delta) * scale;
                    for (int c = 0; c < d; c++) {
                        dq[(bh * nq + i) * d + c] += ds * k[(bh * nk + j) * d + c];
                        dk[(bh * nk + j) * d + c] += ds * q[(bh * nq + i) * d + c];
                        dv[(bh * nk + j) * d + c] += prob[j] * dOut[(bh * nq + i) * d + c];
                    }
                }
            }
        }
        return new Grads(dq, dk, dv);
    }

    /** @return max |x| */
    static double maxAbs(double[] x) {
        double m = 0;
        for (double v : x) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    /**
     * Asserts |actual - expected| &lt;= rtol |expected| + atolFraction * max|expected| element-wise: the atol is relative
     * to the array's scale because gradients and outputs cross zero.
     */
    static void assertClose(double[] expected, double[] actual, double rtol, double atolFraction, String what) {
        double atol = atolFraction * maxAbs(expected);
        io.sparge4j.engine.testing.Assertions2.assertClose(expected, actual, rtol, atol, what);
    }
}
