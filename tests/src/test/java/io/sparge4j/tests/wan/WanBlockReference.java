package io.sparge4j.tests.wan;

import static io.sparge4j.tests.wan.WanBlockLeaves.COLS;
import static io.sparge4j.tests.wan.WanBlockLeaves.CONTEXT;
import static io.sparge4j.tests.wan.WanBlockLeaves.DIM;
import static io.sparge4j.tests.wan.WanBlockLeaves.EPS;
import static io.sparge4j.tests.wan.WanBlockLeaves.FFN;
import static io.sparge4j.tests.wan.WanBlockLeaves.HEADS;
import static io.sparge4j.tests.wan.WanBlockLeaves.HEAD_DIM;
import static io.sparge4j.tests.wan.WanBlockLeaves.ROWS;
import static io.sparge4j.tests.wan.WanBlockLeaves.TOKENS;

/**
 * One Wan2.1 DiT block (WAN_DIT.md step 4, wan/modules/model.py's WanAttentionBlock) in plain float64 loops,
 * written from the model description and calling no engine code. Activations are row-major (tokens, features);
 * head {@code h} of a (tokens, DIM) activation is columns {@code [h*HEAD_DIM, (h+1)*HEAD_DIM)}.
 *
 * <p>{@link Variant}s other than {@link Variant#WAN} plant one plausible bug each; the test uses them to show
 * that its tolerance would catch such a bug.
 */
final class WanBlockReference {
    /** The block as Wan defines it, or with one deliberate mistake. */
    enum Variant {
        /** The block as Wan2.1 computes it. */
        WAN,
        /** RoPE left out. */
        NO_ROPE,
        /** RoPE rotating (i, i + d/2) pairs (the "rotate half" convention) instead of consecutive (even, odd) pairs. */
        ROPE_HALF_SPLIT,
        /** The first modulation's shift and scale swapped. */
        SHIFT_SCALE_SWAPPED
    }

    /** Marks self-attention, whose keys are the tokens themselves. */
    private static final int CONTEXT_NONE = -1;

    private WanBlockReference() {
    }

    static double[] forward(WanBlockLeaves p) {
        return forward(p, Variant.WAN);
    }

    /** @return the block output (TOKENS, DIM) */
    static double[] forward(WanBlockLeaves p, Variant variant) {
        double[] x = p.get("x");
        double[] ctx = p.get("ctx");
        // six modulation rows: shift1, scale1, gate1, shift2, scale2, gate2
        double[][] mod = new double[6][DIM];
        for (int j = 0; j < 6; j++) {
            for (int c = 0; c < DIM; c++) {
                mod[j][c] = p.get("modulation")[j * DIM + c] + p.get("e6")[j * DIM + c];
            }
        }
        boolean swap = variant == Variant.SHIFT_SCALE_SWAPPED;

        // (a) adaLN
        double[] h = modulate(layerNorm(x, TOKENS, null, null), TOKENS, mod[swap ? 1 : 0], mod[swap ? 0 : 1]);
        // (b) self-attention with q/k RMSNorm over the whole dim and 3D RoPE, gated residual
        double[] q = rmsNorm(linear(h, TOKENS, DIM, p, "self.q", DIM), TOKENS, p.get("self.norm_q"));
        double[] k = rmsNorm(linear(h, TOKENS, DIM, p, "self.k", DIM), TOKENS, p.get("self.norm_k"));
        double[] v = linear(h, TOKENS, DIM, p, "self.v", DIM);
        if (variant != Variant.NO_ROPE) {
            q = rope(q, variant == Variant.ROPE_HALF_SPLIT);
            k = rope(k, variant == Variant.ROPE_HALF_SPLIT);
        }
        double[] y = linear(attention(q, TOKENS, k, v, CONTEXT_NONE), TOKENS, DIM, p, "self.o", DIM);
        double[] x1 = gatedAdd(x, mod[2], y);
        // (c) cross-attention on LayerNorm(affine) of x, RMSNorm on q and k, plain residual
        double[] n3 = layerNorm(x1, TOKENS, p.get("norm3.weight"), p.get("norm3.bias"));
        double[] cq = rmsNorm(linear(n3, TOKENS, DIM, p, "cross.q", DIM), TOKENS, p.get("cross.norm_q"));
        double[] ck = rmsNorm(linear(ctx, CONTEXT, DIM, p, "cross.k", DIM), CONTEXT, p.get("cross.norm_k"));
        double[] cv = linear(ctx, CONTEXT, DIM, p, "cross.v", DIM);
        double[] cy = linear(attention(cq, TOKENS, ck, cv, CONTEXT), TOKENS, DIM, p, "cross.o", DIM);
        double[] x2 = new double[x1.length];
        for (int i = 0; i < x2.length; i++) {
            x2[i] = x1[i] + cy[i];
        }
        // (d) FFN: adaLN, Linear - GELU(tanh) - Linear, gated residual
        double[] h2 = modulate(layerNorm(x2, TOKENS, null, null), TOKENS, mod[3], mod[4]);
        double[] f = linear(h2, TOKENS, DIM, p, "ffn.0", FFN);
        for (int i = 0; i < f.length; i++) {
            f[i] = geluTanh(f[i]);
        }
        double[] f2 = linear(f, TOKENS, FFN, p, "ffn.2", DIM);
        return gatedAdd(x2, mod[5], f2);
    }

    /** y = x W^T + b for x (rows, in) and the leaf pair {@code prefix.weight} (out, in), {@code prefix.bias}. */
    private static double[] linear(double[] x, int rows, int in, WanBlockLeaves p, String prefix, int out) {
        double[] w = p.get(prefix + ".weight");
        double[] b = p.get(prefix + ".bias");
        double[] y = new double[rows * out];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                double s = b[o];
                for (int i = 0; i < in; i++) {
                    s += x[r * in + i] * w[o * in + i];
                }
                y[r * out + o] = s;
            }
        }
        return y;
    }

    /** LayerNorm over DIM with biased variance; null weight and bias mean none. */
    private static double[] layerNorm(double[] x, int rows, double[] weight, double[] bias) {
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double mean = 0;
            for (int c = 0; c < DIM; c++) {
                mean += x[r * DIM + c];
            }
            mean /= DIM;
            double var = 0;
            for (int c = 0; c < DIM; c++) {
                double dev = x[r * DIM + c] - mean;
                var += dev * dev;
            }
            var /= DIM;
            double inv = 1 / Math.sqrt(var + EPS);
            for (int c = 0; c < DIM; c++) {
                double n = (x[r * DIM + c] - mean) * inv;
                y[r * DIM + c] = n * (weight == null ? 1 : weight[c]) + (bias == null ? 0 : bias[c]);
            }
        }
        return y;
    }

    /** RMSNorm over the whole DIM (all heads together), as Wan's norm_q and norm_k. */
    private static double[] rmsNorm(double[] x, int rows, double[] weight) {
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double ms = 0;
            for (int c = 0; c < DIM; c++) {
                ms += x[r * DIM + c] * x[r * DIM + c];
            }
            double inv = 1 / Math.sqrt(ms / DIM + EPS);
            for (int c = 0; c < DIM; c++) {
                y[r * DIM + c] = x[r * DIM + c] * inv * weight[c];
            }
        }
        return y;
    }

    private static double[] modulate(double[] x, int rows, double[] shift, double[] scale) {
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < DIM; c++) {
                y[r * DIM + c] = x[r * DIM + c] * (1 + scale[c]) + shift[c];
            }
        }
        return y;
    }

    private static double[] gatedAdd(double[] x, double[] gate, double[] y) {
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] + gate[i % DIM] * y[i];
        }
        return out;
    }

    private static double geluTanh(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    /**
     * Wan's 3D RoPE on (TOKENS, DIM): per head, the HEAD_DIM/2 complex numbers x[2i] + j x[2i+1] are split
     * [c - 2(c/3), c/3, c/3] (c = HEAD_DIM/2) across frame, row and column; number i of an axis with
     * d_a = 2 * (its count) rotary dims is multiplied by exp(j * pos / 10000^(2i/d_a)).
     * {@code halfSplit} pairs element i with i + HEAD_DIM/2 instead (a planted bug).
     */
    private static double[] rope(double[] x, boolean halfSplit) {
        int c = HEAD_DIM / 2;
        int[] count = {c - 2 * (c / 3), c / 3, c / 3};
        double[] y = new double[x.length];
        for (int t = 0; t < TOKENS; t++) {
            int[] pos = {t / (ROWS * COLS), t / COLS % ROWS, t % COLS};
            for (int head = 0; head < HEADS; head++) {
                int base = t * DIM + head * HEAD_DIM;
                int number = 0;
                for (int axis = 0; axis < 3; axis++) {
                    double rotaryDims = 2.0 * count[axis];
                    for (int i = 0; i < count[axis]; i++, number++) {
                        double angle = pos[axis] / Math.pow(10000.0, 2 * i / rotaryDims);
                        int re = halfSplit ? base + number : base + 2 * number;
                        int im = halfSplit ? base + number + c : base + 2 * number + 1;
                        // (a + jb)(cos + j sin)
                        double a = x[re];
                        double b = x[im];
                        double cos = Math.cos(angle);
                        double sin = Math.sin(angle);
                        y[re] = a * cos - b * sin;
                        y[im] = a * sin + b * cos;
                    }
                }
            }
        }
        return y;
    }

    /**
     * Softmax attention per head with scale 1/sqrt(HEAD_DIM): q (queries, DIM), k and v (keys, DIM) where keys
     * is {@code contextRows}, or the query count for self-attention.
     */
    private static double[] attention(double[] q, int queries, double[] k, double[] v, int contextRows) {
        int keys = contextRows == CONTEXT_NONE ? queries : contextRows;
        double scale = 1 / Math.sqrt(HEAD_DIM);
        double[] out = new double[queries * DIM];
        double[] s = new double[keys];
        for (int head = 0; head < HEADS; head++) {
            int col = head * HEAD_DIM;
            for (int i = 0; i < queries; i++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < keys; j++) {
                    double dot = 0;
                    for (int e = 0; e < HEAD_DIM; e++) {
                        dot += q[i * DIM + col + e] * k[j * DIM + col + e];
                    }
                    s[j] = dot * scale;
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j < keys; j++) {
                    s[j] = Math.exp(s[j] - max);
                    sum += s[j];
                }
                for (int j = 0; j < keys; j++) {
                    double pj = s[j] / sum;
                    for (int e = 0; e < HEAD_DIM; e++) {
                        out[i * DIM + col + e] += pj * v[j * DIM + col + e];
                    }
                }
            }
        }
        return out;
    }
}
