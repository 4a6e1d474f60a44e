package io.sparge4j.tests.wan;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A Wan2.1 block (WAN_DIT.md step 4) in plain float64 loops at head dim 64, the smallest the flash kernels take, for
 * {@link DeviceWanBlockTest}: the same computation as {@link WanBlockReference}, whose sizes are fixed at head dim
 * 16, with the sizes as fields and self-attention optionally restricted to the kept blocks of a block mask
 * (SpargeAttention2's sparse attention: a query attends to the keys of the key blocks its query block keeps).
 * It calls no engine code. Activations are row-major (tokens, features); head {@code h} is columns
 * {@code [h*headDim, (h+1)*headDim)}.
 */
final class DeviceWanBlockReference {
    static final int DIM = 128;
    static final int HEADS = 2;
    static final int HEAD_DIM = DIM / HEADS;
    static final int FFN = 256;
    static final int FRAMES = 3;
    static final int ROWS = 8;
    static final int COLS = 15;
    static final int TOKENS = FRAMES * ROWS * COLS;
    static final int CONTEXT = 21;
    static final float EPS = 1e-6f;
    /** The sparse attention's block sizes (the device's). */
    static final int QUERY_BLOCK = 128;
    static final int KEY_BLOCK = 64;

    /** Planted bugs, to show that the test's tolerance would catch them. */
    enum Variant {
        /** The block as Wan2.1 computes it. */
        WAN,
        /** RoPE left out. */
        NO_ROPE,
        /** Dense self-attention in place of the mask. */
        IGNORE_MASK
    }

    private DeviceWanBlockReference() {
    }

    /** Fresh seeded leaves, values exactly representable in f32: weights ~ N(0, 1/in), norm weights near 1. */
    static Map<String, double[]> leaves(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        Map<String, double[]> p = new LinkedHashMap<>();
        p.put("x", gaussian(rng, 1.0, TOKENS * DIM, 0));
        p.put("ctx", gaussian(rng, 1.0, CONTEXT * DIM, 0));
        p.put("modulation", gaussian(rng, 0.3, 6 * DIM, 0));
        p.put("e6", gaussian(rng, 0.3, 6 * DIM, 0));
        for (String a : new String[]{"self", "cross"}) {
            for (String l : new String[]{"q", "k", "v", "o"}) {
                linear(rng, p, a + "." + l, DIM, DIM);
            }
            p.put(a + ".norm_q", gaussian(rng, 0.2, DIM, 1));
            p.put(a + ".norm_k", gaussian(rng, 0.2, DIM, 1));
        }
        p.put("norm3.weight", gaussian(rng, 0.2, DIM, 1));
        p.put("norm3.bias", gaussian(rng, 0.1, DIM, 0));
        linear(rng, p, "ffn.0", FFN, DIM);
        linear(rng, p, "ffn.2", DIM, FFN);
        return p;
    }

    /** @return the shape of a leaf */
    static int[] shape(String name) {
        return switch (name) {
            case "x" -> new int[]{TOKENS, DIM};
            case "ctx" -> new int[]{CONTEXT, DIM};
            case "modulation", "e6" -> new int[]{6, DIM};
            case "ffn.0.weight" -> new int[]{FFN, DIM};
            case "ffn.0.bias" -> new int[]{FFN};
            case "ffn.2.weight" -> new int[]{DIM, FFN};
            default -> name.endsWith(".weight") && !name.startsWith("norm3") ? new int[]{DIM, DIM} : new int[]{DIM};
        };
    }

    private static void linear(SplittableRandom rng, Map<String, double[]> p, String prefix, int out, int in) {
        p.put(prefix + ".weight", gaussian(rng, 1 / Math.sqrt(in), out * in, 0));
        p.put(prefix + ".bias", gaussian(rng, 0.1, out, 0));
    }

    private static double[] gaussian(SplittableRandom rng, double std, int n, double mean) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (mean + std * rng.nextGaussian());
        }
        return v;
    }

    /**
     * @param p the leaves
     * @param kept self-attention's mask, {@code kept[(h * nq + i) * nk + j]} for query block i and key block j of
     *     head h; null for dense
     * @param variant the block, or a planted bug
     * @return the block output (TOKENS, DIM)
     */
    static double[] forward(Map<String, double[]> p, boolean[] kept, Variant variant) {
        double[] x = p.get("x");
        double[][] mod = new double[6][DIM];
        for (int j = 0; j < 6; j++) {
            for (int c = 0; c < DIM; c++) {
                mod[j][c] = p.get("modulation")[j * DIM + c] + p.get("e6")[j * DIM + c];
            }
        }
        double[] h = modulate(layerNorm(x, TOKENS, null, null), TOKENS, mod[0], mod[1]);
        double[] q = rmsNorm(linear(h, TOKENS, DIM, p, "self.q", DIM), TOKENS, p.get("self.norm_q"));
        double[] k = rmsNorm(linear(h, TOKENS, DIM, p, "self.k", DIM), TOKENS, p.get("self.norm_k"));
        double[] v = linear(h, TOKENS, DIM, p, "self.v", DIM);
        if (variant != Variant.NO_ROPE) {
            q = rope(q);
            k = rope(k);
        }
        boolean[] mask = variant == Variant.IGNORE_MASK ? null : kept;
        double[] y = linear(attention(q, TOKENS, k, v, TOKENS, mask), TOKENS, DIM, p, "self.o", DIM);
        double[] x1 = gatedAdd(x, mod[2], y);
        double[] n3 = layerNorm(x1, TOKENS, p.get("norm3.weight"), p.get("norm3.bias"));
        double[] ctx = p.get("ctx");
        double[] cq = rmsNorm(linear(n3, TOKENS, DIM, p, "cross.q", DIM), TOKENS, p.get("cross.norm_q"));
        double[] ck = rmsNorm(linear(ctx, CONTEXT, DIM, p, "cross.k", DIM), CONTEXT, p.get("cross.norm_k"));
        double[] cv = linear(ctx, CONTEXT, DIM, p, "cross.v", DIM);
        double[] cy = linear(attention(cq, TOKENS, ck, cv, CONTEXT, null), TOKENS, DIM, p, "cross.o", DIM);
        double[] x2 = new double[x1.length];
        for (int i = 0; i < x2.length; i++) {
            x2[i] = x1[i] + cy[i];
        }
        double[] h2 = modulate(layerNorm(x2, TOKENS, null, null), TOKENS, mod[3], mod[4]);
        double[] f = linear(h2, TOKENS, DIM, p, "ffn.0", FFN);
        for (int i = 0; i < f.length; i++) {
            f[i] = 0.5 * f[i] * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (f[i] + 0.044715 * f[i] * f[i] * f[i])));
        }
        return gatedAdd(x2, mod[5], linear(f, TOKENS, FFN, p, "ffn.2", DIM));
    }

    private static double[] linear(double[] x, int rows, int in, Map<String, double[]> p, String prefix, int out) {
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
            double inv = 1 / Math.sqrt(var / DIM + EPS);
            for (int c = 0; c < DIM; c++) {
                double n = (x[r * DIM + c] - mean) * inv;
                y[r * DIM + c] = n * (weight == null ? 1 : weight[c]) + (bias == null ? 0 : bias[c]);
            }
        }
        return y;
    }

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

    /** Wan's 3D RoPE: consecutive (even, odd) pairs split [c - 2(c/3), c/3, c/3] (c = d/2) over frame, row, column. */
    private static double[] rope(double[] x) {
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
                        int re = base + 2 * number;
                        double a = x[re];
                        double b = x[re + 1];
                        y[re] = a * Math.cos(angle) - b * Math.sin(angle);
                        y[re + 1] = a * Math.sin(angle) + b * Math.cos(angle);
                    }
                }
            }
        }
        return y;
    }

    /** Softmax attention per head, scale 1/sqrt(HEAD_DIM), over the kept key blocks when {@code kept} is given. */
    private static double[] attention(double[] q, int queries, double[] k, double[] v, int keys, boolean[] kept) {
        double scale = 1 / Math.sqrt(HEAD_DIM);
        int nq = (queries + QUERY_BLOCK - 1) / QUERY_BLOCK;
        int nk = (keys + KEY_BLOCK - 1) / KEY_BLOCK;
        double[] out = new double[queries * DIM];
        double[] s = new double[keys];
        for (int head = 0; head < HEADS; head++) {
            int col = head * HEAD_DIM;
            for (int i = 0; i < queries; i++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < keys; j++) {
                    boolean keep = kept == null || kept[(head * nq + i / QUERY_BLOCK) * nk + j / KEY_BLOCK];
                    double dot = 0;
                    for (int e = 0; e < HEAD_DIM; e++) {
                        dot += q[i * DIM + col + e] * k[j * DIM + col + e];
                    }
                    s[j] = keep ? dot * scale : Double.NEGATIVE_INFINITY;
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j < keys; j++) {
                    s[j] = s[j] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(s[j] - max);
                    sum += s[j];
                }
                for (int j = 0; j < keys; j++) {
                    for (int e = 0; e < HEAD_DIM; e++) {
                        out[i * DIM + col + e] += s[j] / sum * v[j * DIM + col + e];
                    }
                }
            }
        }
        return out;
    }
}
