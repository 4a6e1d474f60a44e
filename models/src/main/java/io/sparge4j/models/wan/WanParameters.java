package io.sparge4j.models.wan;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The parameters a Wan2.1 text-to-video transformer has, under the original names of Wan-Video/Wan2.1
 * {@code wan/modules/model.py} (class {@code WanModel}), with their shapes.
 *
 * <p>Linear weights are (out, in) as PyTorch stores them. {@code blocks.N.norm3} is the affine LayerNorm in
 * front of cross-attention and exists only with {@code cross_attn_norm}; {@code norm_q}/{@code norm_k} exist
 * only with {@code qk_norm}. The block norms {@code norm1}/{@code norm2} and the head's norm carry no
 * parameters.
 */
public final class WanParameters {
    private WanParameters() {
    }

    /**
     * @param config the model's configuration
     * @return every parameter's name and shape, in model order (embeddings, blocks, head); unmodifiable, and the
     *     arrays are fresh copies owned by the caller
     */
    public static Map<String, int[]> expected(WanConfig config) {
        int dim = config.dim();
        int pt = config.patchSize().get(0);
        int ph = config.patchSize().get(1);
        int pw = config.patchSize().get(2);
        Map<String, int[]> p = new LinkedHashMap<>();
        p.put("patch_embedding.weight", new int[] {dim, config.inDim(), pt, ph, pw});
        p.put("patch_embedding.bias", new int[] {dim});
        linear(p, "text_embedding.0", dim, config.textDim());
        linear(p, "text_embedding.2", dim, dim);
        linear(p, "time_embedding.0", dim, config.freqDim());
        linear(p, "time_embedding.2", dim, dim);
        linear(p, "time_projection.1", 6 * dim, dim);
        for (int n = 0; n < config.numLayers(); n++) {
            String b = "blocks." + n + ".";
            p.put(b + "modulation", new int[] {1, 6, dim});
            attention(p, b + "self_attn.", dim, config.qkNorm());
            if (config.crossAttnNorm()) {
                p.put(b + "norm3.weight", new int[] {dim});
                p.put(b + "norm3.bias", new int[] {dim});
            }
            attention(p, b + "cross_attn.", dim, config.qkNorm());
            linear(p, b + "ffn.0", config.ffnDim(), dim);
            linear(p, b + "ffn.2", dim, config.ffnDim());
        }
        p.put("head.modulation", new int[] {1, 2, dim});
        linear(p, "head.head", config.outDim() * pt * ph * pw, dim);
        return Collections.unmodifiableMap(p);
    }

    /** @return the number of scalars in all parameters of {@code config} */
    public static long count(WanConfig config) {
        long n = 0;
        for (int[] shape : expected(config).values()) {
            long c = 1;
            for (int d : shape) {
                c *= d;
            }
            n += c;
        }
        return n;
    }

    private static void attention(Map<String, int[]> p, String prefix, int dim, boolean qkNorm) {
        for (String proj : new String[] {"q", "k", "v", "o"}) {
            linear(p, prefix + proj, dim, dim);
        }
        if (qkNorm) {
            p.put(prefix + "norm_q.weight", new int[] {dim});
            p.put(prefix + "norm_k.weight", new int[] {dim});
        }
    }

    private static void linear(Map<String, int[]> p, String module, int out, int in) {
        p.put(module + ".weight", new int[] {out, in});
        p.put(module + ".bias", new int[] {out});
    }
}
