package io.sparge4j.models.wan;

import java.util.Map;

/**
 * Wan2.1's forward pass for one sample in plain float64 loops, written from {@code wan/modules/model.py}
 * (Wan-Video/Wan2.1) and sharing no code with {@link WanModel}: a direct Conv3d, the sinusoidal time embedding,
 * the zero-padded text MLP, LayerNorm, RMSNorm, the reference's {@code rope_params}/{@code rope_apply} split,
 * softmax attention, GELU(tanh), SiLU and the reference's {@code unpatchify} einsum. Self-attention can be limited to
 * given block masks ({@link #withSelfMasks}), for checking sparse-attention gradients with the mask held fixed.
 * Public for the training graph's gradient checks.
 */
public final class WanModelReference {
    private final WanConfig c;
    private final Map<String, double[]> w;
    private boolean[][][][] selfMasks;
    private int maskQueryBlock;
    private int maskKeyBlock;

    /**
     * @param config the model's config
     * @param weights every parameter, flattened row-major, under the Wan2.1 names
     */
    public WanModelReference(WanConfig config, Map<String, double[]> weights) {
        this.c = config;
        this.w = weights;
    }

    /**
     * Limits self-attention to the kept blocks: a query in block i sees only the keys of blocks j with
     * {@code masks[layer][head][i][j]}; the softmax is normalised over those keys.
     *
     * @param masks per layer, head, query block and key block; null for dense attention
     * @param queryBlock tokens per query block
     * @param keyBlock tokens per key block
     * @return this
     */
    public WanModelReference withSelfMasks(boolean[][][][] masks, int queryBlock, int keyBlock) {
        this.selfMasks = masks;
        this.maskQueryBlock = queryBlock;
        this.maskKeyBlock = keyBlock;
        return this;
    }

    /**
     * @param x video (C, F, H, W) flattened
     * @param frames F
     * @param height H
     * @param width W
     * @param t timestep
     * @param ctx text features (L, text_dim) flattened
     * @param ctxRows L
     * @return the velocity (out_dim, F, H, W) flattened
     */
    public double[] forward(double[] x, int frames, int height, int width, double t, double[] ctx, int ctxRows) {
        int dim = c.dim();
        int pt = c.patchSize().get(0);
        int ph = c.patchSize().get(1);
        int pw = c.patchSize().get(2);
        int gf = frames / pt;
        int gh = height / ph;
        int gw = width / pw;
        int len = gf * gh * gw;

        // patch embedding: Conv3d, kernel = stride = patch, then flatten(2).transpose(1, 2)
        double[] wPatch = w.get("patch_embedding.weight");
        double[] bPatch = w.get("patch_embedding.bias");
        int cin = c.inDim();
        double[] h = new double[len * dim];
        for (int fo = 0; fo < gf; fo++) {
            for (int ho = 0; ho < gh; ho++) {
                for (int wo = 0; wo < gw; wo++) {
                    int tok = (fo * gh + ho) * gw + wo;
                    for (int o = 0; o < dim; o++) {
                        double s = bPatch[o];
                        for (int ci = 0; ci < cin; ci++) {
                            for (int a = 0; a < pt; a++) {
                                for (int b = 0; b < ph; b++) {
                                    for (int r = 0; r < pw; r++) {
                                        double wv = wPatch[(((o * cin + ci) * pt + a) * ph + b) * pw + r];
                                        double xv = x[((ci * frames + fo * pt + a) * height + ho * ph + b) * width
                                                + wo * pw + r];
                                        s += wv * xv;
                                    }
                                }
                            }
                        }
                        h[tok * dim + o] = s;
                    }
                }
            }
        }
        if (c.absolutePosition() == AbsolutePosition.SINCOS) {
            addSinCos(h, gf, gh, gw, dim);
        }

        // time embedding
        int fd = c.freqDim();
        int half = fd / 2;
        double[] sin = new double[fd];
        for (int i = 0; i < half; i++) {
            double arg = t * Math.pow(10000, -((double) i) / half);
            sin[i] = Math.cos(arg);
            sin[half + i] = Math.sin(arg);
        }
        double[] e = lin(silu(lin(sin, 1, "time_embedding.0")), 1, "time_embedding.2");

        // text: zero-pad to text_len, then Linear-GELU(tanh)-Linear
        int tl = c.textLen();
        double[] padded = new double[tl * c.textDim()];
        System.arraycopy(ctx, 0, padded, 0, ctxRows * c.textDim());
        double[] context = lin(gelu(lin(padded, tl, "text_embedding.0")), tl, "text_embedding.2");
        if (c.textModulation() == TextModulation.POOLED) {
            // the column means of the embedded text, every text_len row counted
            for (int j = 0; j < dim; j++) {
                double sum = 0;
                for (int r = 0; r < tl; r++) {
                    sum += context[r * dim + j];
                }
                e[j] += sum / tl;
            }
        }
        double[] e0 = lin(silu(e), 1, "time_projection.1"); // (6, dim)

        for (int i = 0; i < c.numLayers(); i++) {
            h = block(i, h, len, e0, context, gf, gh, gw);
        }

        // head
        double[] hm = w.get("head.modulation");
        double[] shift = new double[dim];
        double[] scale = new double[dim];
        for (int j = 0; j < dim; j++) {
            shift[j] = hm[j] + e[j];
            scale[j] = hm[dim + j] + e[j];
        }
        double[] y = lin(modulate(layerNorm(h, len, null, null), len, shift, scale), len, "head.head");

        // unpatchify: view(f, h, w, pt, ph, pw, c), einsum fhwpqrc -> cfphqwr
        int co = c.outDim();
        double[] out = new double[co * frames * height * width];
        for (int fo = 0; fo < gf; fo++) {
            for (int ho = 0; ho < gh; ho++) {
                for (int wo = 0; wo < gw; wo++) {
                    int tok = (fo * gh + ho) * gw + wo;
                    for (int a = 0; a < pt; a++) {
                        for (int b = 0; b < ph; b++) {
                            for (int r = 0; r < pw; r++) {
                                for (int ch = 0; ch < co; ch++) {
                                    double v = y[tok * (co * pt * ph * pw) + ((a * ph + b) * pw + r) * co + ch];
                                    out[((ch * frames + fo * pt + a) * height + ho * ph + b) * width + wo * pw + r] = v;
                                }
                            }
                        }
                    }
                }
            }
        }
        return out;
    }

    private double[] block(int i, double[] x, int len, double[] e0, double[] context, int gf, int gh, int gw) {
        int dim = c.dim();
        String p = "blocks." + i + ".";
        double[] mod = w.get(p + "modulation");
        double[][] m = new double[6][dim];
        for (int k = 0; k < 6; k++) {
            for (int j = 0; j < dim; j++) {
                m[k][j] = mod[k * dim + j] + e0[k * dim + j];
            }
        }
        // self-attention
        double[] hin = modulate(layerNorm(x, len, null, null), len, m[0], m[1]);
        double[] q = lin(hin, len, p + "self_attn.q");
        double[] k = lin(hin, len, p + "self_attn.k");
        double[] v = lin(hin, len, p + "self_attn.v");
        if (c.qkNorm()) {
            q = rmsNorm(q, len, w.get(p + "self_attn.norm_q.weight"));
            k = rmsNorm(k, len, w.get(p + "self_attn.norm_k.weight"));
        }
        q = rope(q, len, gf, gh, gw);
        k = rope(k, len, gf, gh, gw);
        double[] y = lin(attention(q, len, k, v, len, selfMasks == null ? null : selfMasks[i]), len,
                p + "self_attn.o");
        double[] x1 = new double[x.length];
        for (int r = 0; r < len; r++) {
            for (int j = 0; j < dim; j++) {
                x1[r * dim + j] = x[r * dim + j] + y[r * dim + j] * m[2][j];
            }
        }
        // cross-attention
        double[] n3 = c.crossAttnNorm() ? layerNorm(x1, len, w.get(p + "norm3.weight"), w.get(p + "norm3.bias")) : x1;
        int tl = c.textLen();
        double[] cq = lin(n3, len, p + "cross_attn.q");
        double[] ck = lin(context, tl, p + "cross_attn.k");
        double[] cv = lin(context, tl, p + "cross_attn.v");
        if (c.qkNorm()) {
            cq = rmsNorm(cq, len, w.get(p + "cross_attn.norm_q.weight"));
            ck = rmsNorm(ck, tl, w.get(p + "cross_attn.norm_k.weight"));
        }
        double[] cy = lin(attention(cq, len, ck, cv, tl, null), len, p + "cross_attn.o");
        double[] x2 = new double[x.length];
        for (int j = 0; j < x.length; j++) {
            x2[j] = x1[j] + cy[j];
        }
        // ffn
        double[] f = lin(gelu(lin(modulate(layerNorm(x2, len, null, null), len, m[3], m[4]), len, p + "ffn.0")), len,
                p + "ffn.2");
        double[] out = new double[x.length];
        for (int r = 0; r < len; r++) {
            for (int j = 0; j < dim; j++) {
                out[r * dim + j] = x2[r * dim + j] + f[r * dim + j] * m[5][j];
            }
        }
        return out;
    }

    /** nn.Linear: x (rows, in) W^T + b, W (out, in). */
    private double[] lin(double[] x, int rows, String name) {
        double[] wt = w.get(name + ".weight");
        double[] b = w.get(name + ".bias");
        int out = b.length;
        int in = wt.length / out;
        double[] y = new double[rows * out];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                double s = b[o];
                for (int j = 0; j < in; j++) {
                    s += x[r * in + j] * wt[o * in + j];
                }
                y[r * out + o] = s;
            }
        }
        return y;
    }

    private double[] layerNorm(double[] x, int rows, double[] gamma, double[] beta) {
        int d = x.length / rows;
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double mean = 0;
            for (int j = 0; j < d; j++) {
                mean += x[r * d + j];
            }
            mean /= d;
            double var = 0;
            for (int j = 0; j < d; j++) {
                double dv = x[r * d + j] - mean;
                var += dv * dv;
            }
            var /= d;
            double inv = 1 / Math.sqrt(var + c.eps());
            for (int j = 0; j < d; j++) {
                double n = (x[r * d + j] - mean) * inv;
                y[r * d + j] = gamma == null ? n : n * gamma[j] + beta[j];
            }
        }
        return y;
    }

    private double[] rmsNorm(double[] x, int rows, double[] weight) {
        int d = x.length / rows;
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double ms = 0;
            for (int j = 0; j < d; j++) {
                ms += x[r * d + j] * x[r * d + j];
            }
            double inv = 1 / Math.sqrt(ms / d + c.eps());
            for (int j = 0; j < d; j++) {
                y[r * d + j] = x[r * d + j] * inv * weight[j];
            }
        }
        return y;
    }

    private static double[] modulate(double[] x, int rows, double[] shift, double[] scale) {
        int d = shift.length;
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < d; j++) {
                y[r * d + j] = x[r * d + j] * (1 + scale[j]) + shift[j];
            }
        }
        return y;
    }

    private static double[] gelu(double[] x) {
        double[] y = new double[x.length];
        double k = Math.sqrt(2 / Math.PI);
        for (int i = 0; i < x.length; i++) {
            double v = x[i];
            y[i] = 0.5 * v * (1 + Math.tanh(k * (v + 0.044715 * v * v * v)));
        }
        return y;
    }

    private static double[] silu(double[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i] / (1 + Math.exp(-x[i]));
        }
        return y;
    }

    /**
     * rope_apply: freqs = cat(rope_params(d - 4(d//6)), rope_params(2(d//6)), rope_params(2(d//6))) split
     * [c - 2(c//3), c//3, c//3] with c = d/2; each (even, odd) pair times exp(i * angle) of its axis' position.
     */
    private double[] rope(double[] x, int len, int gf, int gh, int gw) {
        int heads = c.numHeads();
        int d = c.headDim();
        int half = d / 2;
        int[] dims = {d - 4 * (d / 6), 2 * (d / 6), 2 * (d / 6)};
        int[] split = {half - 2 * (half / 3), half / 3, half / 3};
        double[] y = new double[x.length];
        for (int l = 0; l < len; l++) {
            int[] pos = {l / (gh * gw), (l / gw) % gh, l % gw};
            double[] angle = new double[half];
            int idx = 0;
            for (int a = 0; a < 3; a++) {
                for (int i = 0; i < split[a]; i++) {
                    // rope_params: arange(0, dim, 2) / dim, the i-th entry is 2i / dim
                    angle[idx++] = pos[a] / Math.pow(10000, (2.0 * i) / dims[a]);
                }
            }
            for (int hd = 0; hd < heads; hd++) {
                int base = l * heads * d + hd * d;
                for (int i = 0; i < half; i++) {
                    double re = x[base + 2 * i];
                    double im = x[base + 2 * i + 1];
                    double cs = Math.cos(angle[i]);
                    double sn = Math.sin(angle[i]);
                    y[base + 2 * i] = re * cs - im * sn;
                    y[base + 2 * i + 1] = re * sn + im * cs;
                }
            }
        }
        return y;
    }

    /**
     * Softmax attention per head, scale 1/sqrt(head dim); q (lq, dim), k and v (lk, dim); keys outside the kept
     * blocks of {@code mask[head]} (when given) are left out.
     */
    private double[] attention(double[] q, int lq, double[] k, double[] v, int lk, boolean[][][] mask) {
        int heads = c.numHeads();
        int d = c.headDim();
        int dim = c.dim();
        double scale = 1 / Math.sqrt(d);
        double[] out = new double[lq * dim];
        double[] s = new double[lk];
        for (int hd = 0; hd < heads; hd++) {
            for (int i = 0; i < lq; i++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < lk; j++) {
                    if (mask != null && !mask[hd][i / maskQueryBlock][j / maskKeyBlock]) {
                        s[j] = Double.NEGATIVE_INFINITY;
                        continue;
                    }
                    double dot = 0;
                    for (int t = 0; t < d; t++) {
                        dot += q[i * dim + hd * d + t] * k[j * dim + hd * d + t];
                    }
                    s[j] = dot * scale;
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j < lk; j++) {
                    s[j] = Math.exp(s[j] - max);
                    sum += s[j];
                }
                for (int j = 0; j < lk; j++) {
                    for (int t = 0; t < d; t++) {
                        out[i * dim + hd * d + t] += s[j] / sum * v[j * dim + hd * d + t];
                    }
                }
            }
        }
        return out;
    }

    /**
     * DiT's 1-D sine-cosine embedding per axis, channel by channel: channel o of the model width belongs to the frame
     * axis below nf, then rows (nr channels), then columns (nr); within an axis group of n, the j-th of its n / 2
     * frequencies is 10000^(-j / (n / 2)), sin in the group's first half, cos in its second.
     */
    private static void addSinCos(double[] h, int gf, int gh, int gw, int dim) {
        int nr = dim / 6 * 2;
        int nf = dim - 2 * nr;
        for (int tok = 0; tok < gf * gh * gw; tok++) {
            int[] pos = {tok / (gh * gw), tok / gw % gh, tok % gw};
            for (int o = 0; o < dim; o++) {
                int axis = o < nf ? 0 : o < nf + nr ? 1 : 2;
                int n = axis == 0 ? nf : nr;
                int k = axis == 0 ? o : axis == 1 ? o - nf : o - nf - nr;
                int j = k % (n / 2);
                double angle = pos[axis] / Math.pow(10000, j / (n / 2.0));
                h[tok * dim + o] += k < n / 2 ? Math.sin(angle) : Math.cos(angle);
            }
        }
    }
}
