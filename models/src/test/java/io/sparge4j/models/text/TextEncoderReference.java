package io.sparge4j.models.text;

import io.sparge4j.engine.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The text encoder written independently in float64 with plain loops, from its specification (not from the
 * engine's ops): embeddings, pre-LayerNorm layers with softmax attention over the prompt's tokens and a tanh-GELU
 * MLP, final LayerNorm, linear head, zero rows beyond the prompt. Gradients are central finite differences of
 * this float64 forward, so they share no code with the backward under test.
 */
final class TextEncoderReference {
    private static final String P = TextEncoderParameters.PREFIX;

    private final TextEncoderConfig c;
    private final Map<String, double[]> p;
    private final double eps = TextEncoderConfig.LAYER_NORM_EPS;

    TextEncoderReference(TextEncoderConfig config, Map<String, Tensor> parameters) {
        this.c = config;
        this.p = new LinkedHashMap<>();
        parameters.forEach((name, t) -> p.put(name, t.toDoubleArray()));
    }

    /** @return features of every prompt, flattened (B, maxLength, textDim) */
    double[] features(List<Tokens> batch) {
        int rows = c.maxLength() * c.textDim();
        double[] out = new double[batch.size() * rows];
        for (int b = 0; b < batch.size(); b++) {
            double[][] f = features(batch.get(b));
            for (int i = 0; i < f.length; i++) {
                System.arraycopy(f[i], 0, out, b * rows + i * c.textDim(), c.textDim());
            }
        }
        return out;
    }

    /** @return the (L, textDim) features of the prompt's real tokens (rows beyond L are zero by construction) */
    double[][] features(Tokens t) {
        int len = t.length();
        int w = c.width();
        double[][] x = new double[len][w];
        double[] tok = p.get(P + "token_embedding.weight");
        double[] pos = p.get(P + "position_embedding.weight");
        for (int i = 0; i < len; i++) {
            for (int j = 0; j < w; j++) {
                x[i][j] = tok[t.id(i) * w + j] + pos[i * w + j];
            }
        }
        for (int l = 0; l < c.layers(); l++) {
            String n = P + "layers." + l + ".";
            double[][] n1 = layerNorm(x, p.get(n + "norm1.weight"), p.get(n + "norm1.bias"));
            double[][] q = linear(n1, n + "attn.q");
            double[][] k = linear(n1, n + "attn.k");
            double[][] v = linear(n1, n + "attn.v");
            double[][] a = attention(q, k, v);
            double[][] o = linear(a, n + "attn.o");
            double[][] x1 = add(x, o);
            double[][] n2 = layerNorm(x1, p.get(n + "norm2.weight"), p.get(n + "norm2.bias"));
            double[][] f = gelu(linear(n2, n + "ffn.0"));
            x = add(x1, linear(f, n + "ffn.2"));
        }
        return linear(layerNorm(x, p.get(P + "norm.weight"), p.get(P + "norm.bias")), P + "head");
    }

    /** @return sum over the batch of dFeatures . features */
    double loss(List<Tokens> batch, double[] dFeatures) {
        double[] f = features(batch);
        double s = 0;
        for (int i = 0; i < f.length; i++) {
            s += f[i] * dFeatures[i];
        }
        return s;
    }

    /** @return d loss / d parameter by central differences with step h, for every element of every parameter */
    Map<String, double[]> numericGradients(List<Tokens> batch, double[] dFeatures, double h) {
        Map<String, double[]> g = new LinkedHashMap<>();
        for (Map.Entry<String, double[]> e : p.entrySet()) {
            double[] values = e.getValue();
            double[] grad = new double[values.length];
            for (int i = 0; i < values.length; i++) {
                double keep = values[i];
                values[i] = keep + h;
                double up = loss(batch, dFeatures);
                values[i] = keep - h;
                double down = loss(batch, dFeatures);
                values[i] = keep;
                grad[i] = (up - down) / (2 * h);
            }
            g.put(e.getKey(), grad);
        }
        return g;
    }

    private double[][] layerNorm(double[][] x, double[] weight, double[] bias) {
        double[][] y = new double[x.length][];
        for (int i = 0; i < x.length; i++) {
            int d = x[i].length;
            double mean = 0;
            for (double v : x[i]) {
                mean += v;
            }
            mean /= d;
            double var = 0;
            for (double v : x[i]) {
                var += (v - mean) * (v - mean);
            }
            var /= d;
            double inv = 1 / Math.sqrt(var + eps);
            y[i] = new double[d];
            for (int j = 0; j < d; j++) {
                y[i][j] = (x[i][j] - mean) * inv * weight[j] + bias[j];
            }
        }
        return y;
    }

    /** y = x W^T + b with W (out, in) row-major. */
    private double[][] linear(double[][] x, String name) {
        double[] w = p.get(name + ".weight");
        double[] b = p.get(name + ".bias");
        int out = b.length;
        double[][] y = new double[x.length][out];
        for (int i = 0; i < x.length; i++) {
            int in = x[i].length;
            for (int o = 0; o < out; o++) {
                double s = b[o];
                for (int j = 0; j < in; j++) {
                    s += x[i][j] * w[o * in + j];
                }
                y[i][o] = s;
            }
        }
        return y;
    }

    /** Softmax attention per head over all of the prompt's tokens, scale 1/sqrt(headDim). */
    private double[][] attention(double[][] q, double[][] k, double[][] v) {
        int len = q.length;
        int hd = c.headDim();
        double scale = 1 / Math.sqrt(hd);
        double[][] out = new double[len][c.width()];
        for (int h = 0; h < c.heads(); h++) {
            int off = h * hd;
            for (int i = 0; i < len; i++) {
                double[] s = new double[len];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < len; j++) {
                    double dot = 0;
                    for (int d = 0; d < hd; d++) {
                        dot += q[i][off + d] * k[j][off + d];
                    }
                    s[j] = dot * scale;
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j < len; j++) {
                    s[j] = Math.exp(s[j] - max);
                    sum += s[j];
                }
                for (int j = 0; j < len; j++) {
                    for (int d = 0; d < hd; d++) {
                        out[i][off + d] += s[j] / sum * v[j][off + d];
                    }
                }
            }
        }
        return out;
    }

    private static double[][] gelu(double[][] x) {
        double[][] y = new double[x.length][];
        double c0 = Math.sqrt(2 / Math.PI);
        for (int i = 0; i < x.length; i++) {
            y[i] = new double[x[i].length];
            for (int j = 0; j < x[i].length; j++) {
                double v = x[i][j];
                y[i][j] = 0.5 * v * (1 + Math.tanh(c0 * (v + 0.044715 * v * v * v)));
            }
        }
        return y;
    }

    private static double[][] add(double[][] a, double[][] b) {
        double[][] y = new double[a.length][];
        for (int i = 0; i < a.length; i++) {
            y[i] = new double[a[i].length];
            for (int j = 0; j < a[i].length; j++) {
                y[i][j] = a[i][j] + b[i][j];
            }
        }
        return y;
    }
}
