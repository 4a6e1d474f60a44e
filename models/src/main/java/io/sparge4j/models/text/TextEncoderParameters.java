package io.sparge4j.models.text;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The names, shapes and initialisation of a {@link TextEncoder}'s parameters, all f32 and prefixed
 * {@value #PREFIX}:
 * <pre>
 * text_encoder.token_embedding.weight       (vocabSize, width)
 * text_encoder.position_embedding.weight    (maxLength, width)
 * text_encoder.layers.{i}.norm1.weight|bias (width)
 * text_encoder.layers.{i}.attn.{q,k,v,o}.weight (width, width), .bias (width)
 * text_encoder.layers.{i}.norm2.weight|bias (width)
 * text_encoder.layers.{i}.ffn.0.weight (ffnDim, width), .bias (ffnDim)
 * text_encoder.layers.{i}.ffn.2.weight (width, ffnDim), .bias (width)
 * text_encoder.norm.weight|bias             (width)
 * text_encoder.head.weight (textDim, width), .bias (textDim)
 * </pre>
 *
 * <p><b>Initialisation</b> ({@link #initialize}), GPT-2 style: embeddings and the q, k, v and ffn.0 weights are
 * N(0, 0.02²); the residual-branch outputs (attn.o and ffn.2 weights) are N(0, (0.02 / sqrt(2 layers))²) so the
 * residual stream's variance does not grow with depth; the head weight is N(0, 1 / width) so that features have
 * about unit variance after the final LayerNorm; every bias is 0, every LayerNorm weight 1. Samples come from
 * one {@link SplittableRandom} seeded with the seed, drawn in the order above, row-major (constant tensors draw
 * nothing).
 */
public final class TextEncoderParameters {
    /** The prefix of every name. */
    public static final String PREFIX = "text_encoder.";
    /** The standard deviation of embeddings and input projections. */
    public static final double INIT_STD = 0.02;

    private TextEncoderParameters() {
    }

    /** @return the name of layer {@code layer}'s parameter {@code suffix}, e.g. {@code "attn.q.weight"} */
    public static String layer(int layer, String suffix) {
        return PREFIX + "layers." + layer + "." + suffix;
    }

    /** @return every parameter's name and shape, in the order of the class comment */
    public static Map<String, int[]> shapes(TextEncoderConfig c) {
        Map<String, int[]> m = new LinkedHashMap<>();
        int w = c.width();
        m.put(PREFIX + "token_embedding.weight", new int[] {c.vocabSize(), w});
        m.put(PREFIX + "position_embedding.weight", new int[] {c.maxLength(), w});
        for (int i = 0; i < c.layers(); i++) {
            m.put(layer(i, "norm1.weight"), new int[] {w});
            m.put(layer(i, "norm1.bias"), new int[] {w});
            for (String p : new String[] {"q", "k", "v", "o"}) {
                m.put(layer(i, "attn." + p + ".weight"), new int[] {w, w});
                m.put(layer(i, "attn." + p + ".bias"), new int[] {w});
            }
            m.put(layer(i, "norm2.weight"), new int[] {w});
            m.put(layer(i, "norm2.bias"), new int[] {w});
            m.put(layer(i, "ffn.0.weight"), new int[] {c.ffnDim(), w});
            m.put(layer(i, "ffn.0.bias"), new int[] {c.ffnDim()});
            m.put(layer(i, "ffn.2.weight"), new int[] {w, c.ffnDim()});
            m.put(layer(i, "ffn.2.bias"), new int[] {w});
        }
        m.put(PREFIX + "norm.weight", new int[] {w});
        m.put(PREFIX + "norm.bias", new int[] {w});
        m.put(PREFIX + "head.weight", new int[] {c.textDim(), w});
        m.put(PREFIX + "head.bias", new int[] {c.textDim()});
        return m;
    }

    /**
     * @param config the encoder's shape
     * @param seed the generator's seed
     * @return fresh parameters initialised as the class comment says, in {@link #shapes} order
     */
    public static Map<String, Tensor> initialize(TextEncoderConfig config, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        double residualStd = INIT_STD / Math.sqrt(2.0 * config.layers());
        double headStd = 1 / Math.sqrt(config.width());
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, int[]> e : shapes(config).entrySet()) {
            String name = e.getKey();
            Tensor t = Tensor.allocate(DType.F32, e.getValue());
            if (name.endsWith(".bias")) {
                // zero, as allocated
            } else if (name.contains(".norm")) {
                t.fill(1f);
            } else {
                double std = name.endsWith("attn.o.weight") || name.endsWith("ffn.2.weight") ? residualStd
                        : name.equals(PREFIX + "head.weight") ? headStd : INIT_STD;
                for (long i = 0; i < t.numel(); i++) {
                    t.setFloat(i, (float) (std * rng.nextGaussian()));
                }
            }
            out.put(name, t);
        }
        return out;
    }

    /**
     * Checks that {@code parameters} holds exactly the expected names, each an f32 tensor of its shape.
     *
     * @param config the encoder's shape
     * @param parameters the tensors by name
     * @throws IllegalArgumentException naming the first missing, unexpected or ill-shaped tensor
     */
    public static void check(TextEncoderConfig config, Map<String, Tensor> parameters) {
        if (parameters == null) {
            throw new IllegalArgumentException("text encoder: parameters is null, expected a map of tensors");
        }
        Map<String, int[]> expected = shapes(config);
        for (Map.Entry<String, int[]> e : expected.entrySet()) {
            Tensor t = parameters.get(e.getKey());
            if (t == null) {
                throw new IllegalArgumentException("text encoder: parameter " + e.getKey() + " is missing, expected f32 "
                        + Arrays.toString(e.getValue()) + " (" + expected.size() + " parameters for " + config + ")");
            }
            if (t.dtype() != DType.F32 || !Arrays.equals(t.shape(), e.getValue())) {
                throw new IllegalArgumentException("text encoder: parameter " + e.getKey() + " is " + t.dtype() + " "
                        + Arrays.toString(t.shape()) + ", expected f32 " + Arrays.toString(e.getValue()));
            }
        }
        for (String name : parameters.keySet()) {
            if (!expected.containsKey(name)) {
                throw new IllegalArgumentException("text encoder: unexpected parameter " + name + ", expected only the "
                        + expected.size() + " names of " + config);
            }
        }
    }
}
