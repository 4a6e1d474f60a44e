package io.sparge4j.models.wan;

import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Translates parameter names between diffusers' {@code WanTransformer3DModel} and the original Wan2.1
 * {@code WanModel}, the names this project keys weights by.
 *
 * <p>The table follows diffusers' own converter ({@code convert_wan_transformer_to_diffusers}, and
 * {@code scripts/convert_wan_to_diffusers.py}) read in reverse. Two points are easy to get wrong: diffusers
 * numbers a block's norms in call order, so its {@code norm2} (the affine norm before cross-attention) is the
 * original {@code norm3}; and the top-level {@code scale_shift_table} is the head's modulation, while a block's
 * is that block's modulation. Checkpoints exported through ComfyUI carry a {@code model.diffusion_model.} prefix,
 * which is dropped.
 */
public final class WanNames {
    /** The prefix of ComfyUI-style single-file checkpoints. */
    public static final String COMFY_PREFIX = "model.diffusion_model.";

    private static final Pattern BLOCK = Pattern.compile("blocks\\.(\\d+)\\.(.+)");

    /** Top-level modules, diffusers -> original. */
    private static final List<Map.Entry<String, String>> TOP = List.of(
            Map.entry("condition_embedder.time_embedder.linear_1", "time_embedding.0"),
            Map.entry("condition_embedder.time_embedder.linear_2", "time_embedding.2"),
            Map.entry("condition_embedder.text_embedder.linear_1", "text_embedding.0"),
            Map.entry("condition_embedder.text_embedder.linear_2", "text_embedding.2"),
            Map.entry("condition_embedder.time_proj", "time_projection.1"),
            Map.entry("scale_shift_table", "head.modulation"),
            Map.entry("proj_out", "head.head"));

    /** Modules inside {@code blocks.N.}, diffusers -> original. */
    private static final List<Map.Entry<String, String>> IN_BLOCK = List.of(
            Map.entry("attn1.to_q", "self_attn.q"),
            Map.entry("attn1.to_k", "self_attn.k"),
            Map.entry("attn1.to_v", "self_attn.v"),
            Map.entry("attn1.to_out.0", "self_attn.o"),
            Map.entry("attn1.norm_q", "self_attn.norm_q"),
            Map.entry("attn1.norm_k", "self_attn.norm_k"),
            Map.entry("attn2.to_q", "cross_attn.q"),
            Map.entry("attn2.to_k", "cross_attn.k"),
            Map.entry("attn2.to_v", "cross_attn.v"),
            Map.entry("attn2.to_out.0", "cross_attn.o"),
            Map.entry("attn2.norm_q", "cross_attn.norm_q"),
            Map.entry("attn2.norm_k", "cross_attn.norm_k"),
            Map.entry("norm2", "norm3"),
            Map.entry("ffn.net.0.proj", "ffn.0"),
            Map.entry("ffn.net.2", "ffn.2"),
            Map.entry("scale_shift_table", "modulation"));

    private WanNames() {
    }

    /**
     * @param name a tensor name as stored in a checkpoint
     * @return the original Wan name: diffusers names are translated, a ComfyUI prefix is dropped, and any other
     *     name (original names included) comes back unchanged
     */
    public static String toOriginal(String name) {
        String n = name.startsWith(COMFY_PREFIX) ? name.substring(COMFY_PREFIX.length()) : name;
        return translate(n, 0, 1);
    }

    /**
     * The inverse of {@link #toOriginal} for original names, for writing diffusers-style checkpoints.
     *
     * @param name an original Wan name
     * @return diffusers' name for it (unchanged where both agree, as for {@code patch_embedding})
     */
    public static String toDiffusers(String name) {
        return translate(name, 1, 0);
    }

    /** @return true if {@link #toOriginal} would rename {@code name} */
    public static boolean isDiffusersName(String name) {
        return !translate(name, 0, 1).equals(name);
    }

    /** Replaces the module part of a name by table lookup; {@code from}/{@code to} pick the table's columns. */
    private static String translate(String name, int from, int to) {
        Matcher m = BLOCK.matcher(name);
        if (m.matches()) {
            String rest = replaceModule(m.group(2), IN_BLOCK, from, to);
            return "blocks." + m.group(1) + "." + rest;
        }
        return replaceModule(name, TOP, from, to);
    }

    private static String replaceModule(String name, List<Map.Entry<String, String>> table, int from, int to) {
        for (Map.Entry<String, String> e : table) {
            String src = from == 0 ? e.getKey() : e.getValue();
            String dst = to == 0 ? e.getKey() : e.getValue();
            if (name.equals(src)) {
                return dst;
            }
            if (name.startsWith(src + ".")) {
                return dst + name.substring(src.length());
            }
        }
        return name;
    }
}
