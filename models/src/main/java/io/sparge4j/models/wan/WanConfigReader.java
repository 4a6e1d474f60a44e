package io.sparge4j.models.wan;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a Wan {@code config.json}: the original Wan2.1 keys ({@code dim, ffn_dim, num_heads, num_layers, in_dim,
 * out_dim, text_dim, text_len, freq_dim, patch_size, eps, qk_norm, cross_attn_norm}), this project's
 * {@code pixel_space}, {@code vae_stride}, {@code absolute_position} and {@code text_modulation} (experiments;
 * missing means none, Wan's own architecture, and is not listed as a default), and diffusers'
 * {@code WanTransformer3DModel} keys ({@code num_attention_heads} and {@code attention_head_dim} for heads and dim,
 * {@code in_channels}, {@code out_channels}, and {@code qk_norm} as {@code "rms_norm_across_heads"} or null).
 *
 * <p>Unknown keys ({@code _class_name}, {@code _diffusers_version}, {@code model_type}, {@code rope_max_seq_len},
 * ...) are ignored. Missing keys take the values of {@link WanConfig#WAN_1_3B} (whose size-independent values
 * are those of every released Wan2.1 T2V model), except {@code vae_stride}, which is (1, 1, 1) for a pixel-space
 * model; the result lists which keys were defaulted. A key given in both spellings must agree. Released Wan
 * configs omit {@code patch_size, qk_norm, cross_attn_norm, text_dim} (the reference excludes them from its
 * saved config), so those defaults are the normal case there.
 */
public final class WanConfigReader {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** diffusers' only supported cross-head q/k norm; older diffusers used null for none. */
    private static final String DIFFUSERS_QK_NORM = "rms_norm_across_heads";

    /**
     * A parsed configuration.
     *
     * @param config the configuration
     * @param defaulted the keys that were missing and took default values, as {@code key=value}, in field order
     */
    public record Result(WanConfig config, List<String> defaulted) {
        // Copied so that the list cannot change under the caller.
        public Result {
            defaulted = List.copyOf(defaulted);
        }

        /** @return e.g. {@code "defaults used: text_dim=4096, qk_norm=true"}, or {@code "no defaults used"} */
        public String describeDefaults() {
            return defaulted.isEmpty() ? "no defaults used" : "defaults used: " + String.join(", ", defaulted);
        }
    }

    private WanConfigReader() {
    }

    /**
     * @param file a {@code config.json}
     * @return the configuration and the defaulted keys
     * @throws IllegalArgumentException naming the file, key, value and expectation on malformed JSON, a value of
     *     the wrong type or range, or spellings that disagree
     * @throws IOException if the file cannot be read
     */
    public static Result read(Path file) throws IOException {
        if (file == null) {
            throw new IllegalArgumentException("WanConfigReader.read: file is null, expected a config.json path");
        }
        return parse(Files.readString(file, StandardCharsets.UTF_8), file.toString());
    }

    /**
     * @param json the text of a {@code config.json}
     * @param source where it came from, for messages (e.g. the file name)
     * @return the configuration and the defaulted keys
     * @throws IllegalArgumentException as {@link #read}
     */
    public static Result parse(String json, String source) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            String where = e.getLocation() == null ? ""
                    : " at line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr();
            throw new IllegalArgumentException(source + ": not valid JSON (" + e.getOriginalMessage() + where
                    + "), expected a JSON object of model settings", e);
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException(source + ": top level is " + describe(root)
                    + ", expected a JSON object of model settings");
        }
        return new Fields(root, source).build();
    }

    /** Pulls fields out of one JSON object, recording defaults. */
    private static final class Fields {
        private final JsonNode root;
        private final String source;
        private final List<String> defaulted = new ArrayList<>();

        Fields(JsonNode root, String source) {
            this.root = root;
            this.source = source;
        }

        Result build() {
            WanConfig d = WanConfig.WAN_1_3B;
            // dim and heads: original keys, or diffusers' heads x head_dim.
            Integer heads = intOrNull("num_heads");
            Integer diffusersHeads = intOrNull("num_attention_heads");
            Integer headDim = intOrNull("attention_head_dim");
            heads = agree("num_heads", heads, "num_attention_heads", diffusersHeads);
            Integer dim = intOrNull("dim");
            if (headDim != null) {
                int h = heads != null ? heads : d.numHeads();
                long product = (long) h * headDim;
                if (product > Integer.MAX_VALUE) {
                    throw error("attention_head_dim", headDim, "a value whose product with " + h
                            + " heads fits in an int");
                }
                dim = agree("dim", dim, "num_attention_heads * attention_head_dim", (int) product);
            }
            int numHeads = orDefault("num_heads", heads, d.numHeads());
            int dimV = orDefault("dim", dim, d.dim());
            int ffn = orDefault("ffn_dim", intOrNull("ffn_dim"), d.ffnDim());
            int layers = orDefault("num_layers", intOrNull("num_layers"), d.numLayers());
            int inDim = orDefault("in_dim", agree("in_dim", intOrNull("in_dim"), "in_channels",
                    intOrNull("in_channels")), d.inDim());
            // diffusers' out_channels may be null, meaning "same as in_channels".
            Integer out = agree("out_dim", intOrNull("out_dim"), "out_channels", intOrNull("out_channels"));
            if (out == null && isNull("out_channels") && root.has("in_channels")) {
                out = inDim;
            }
            int outDim = orDefault("out_dim", out, d.outDim());
            int textDim = orDefault("text_dim", intOrNull("text_dim"), d.textDim());
            int textLen = orDefault("text_len", intOrNull("text_len"), d.textLen());
            int freqDim = orDefault("freq_dim", intOrNull("freq_dim"), d.freqDim());
            List<Integer> patch = orDefault("patch_size", tripleOrNull("patch_size"), d.patchSize());
            double eps = orDefault("eps", doubleOrNull("eps"), d.eps());
            boolean qkNorm = orDefault("qk_norm", qkNormOrNull(), d.qkNorm());
            boolean crossNorm = orDefault("cross_attn_norm", boolOrNull("cross_attn_norm"), d.crossAttnNorm());
            boolean pixel = orDefault("pixel_space", boolOrNull("pixel_space"), d.pixelSpace());
            List<Integer> stride = orDefault("vae_stride", tripleOrNull("vae_stride"),
                    pixel ? List.of(1, 1, 1) : d.vaeStride());
            try {
                // the experiments are not listed among the defaults when missing: no released config has them
                WanConfig config = new WanConfig(dimV, ffn, numHeads, layers, inDim, outDim, textDim, textLen,
                        freqDim, patch, eps, qkNorm, crossNorm, pixel, stride, absolutePosition(), textModulation());
                return new Result(config, defaulted);
            } catch (IllegalArgumentException e) {
                String note = defaulted.isEmpty() ? "" : " (" + String.join(", ", defaulted) + " defaulted)";
                throw new IllegalArgumentException(source + ": " + e.getMessage() + note, e);
            }
        }

        private <T> T orDefault(String key, T value, T fallback) {
            if (value != null) {
                return value;
            }
            defaulted.add(key + "=" + (fallback instanceof List<?> l ? tuple(l) : fallback));
            return fallback;
        }

        private Integer agree(String key, Integer value, String otherKey, Integer other) {
            if (value != null && other != null && !value.equals(other)) {
                throw new IllegalArgumentException(source + ": key '" + key + "' is " + value + " but " + otherKey
                        + " is " + other + ", expected both spellings to agree");
            }
            return value != null ? value : other;
        }

        private boolean isNull(String key) {
            return root.has(key) && root.get(key).isNull();
        }

        private Integer intOrNull(String key) {
            JsonNode n = root.get(key);
            if (n == null || n.isNull()) {
                return null;
            }
            if (!n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() <= 0) {
                throw error(key, n, "a positive integer");
            }
            return n.intValue();
        }

        private Double doubleOrNull(String key) {
            JsonNode n = root.get(key);
            if (n == null || n.isNull()) {
                return null;
            }
            if (!n.isNumber() || !(n.doubleValue() > 0) || Double.isInfinite(n.doubleValue())) {
                throw error(key, n, "a positive finite number");
            }
            return n.doubleValue();
        }

        private Boolean boolOrNull(String key) {
            JsonNode n = root.get(key);
            if (n == null || n.isNull()) {
                return null;
            }
            if (!n.isBoolean()) {
                throw error(key, n, "true or false");
            }
            return n.booleanValue();
        }

        /** Original configs say true/false; diffusers says "rms_norm_across_heads", or null for none. */
        private Boolean qkNormOrNull() {
            JsonNode n = root.get("qk_norm");
            if (n == null) {
                return null;
            }
            if (n.isNull()) {
                return false;
            }
            if (n.isBoolean()) {
                return n.booleanValue();
            }
            if (n.isTextual() && n.textValue().equals(DIFFUSERS_QK_NORM)) {
                return true;
            }
            throw error("qk_norm", n, "true, false, \"" + DIFFUSERS_QK_NORM + "\" or null (Wan normalises q and k"
                    + " across all heads)");
        }

        private AbsolutePosition absolutePosition() {
            JsonNode n = root.get("absolute_position");
            if (n == null || n.isNull()) {
                return AbsolutePosition.NONE;
            }
            return AbsolutePosition.find(n.isTextual() ? n.textValue() : null).orElseThrow(() -> error(
                    "absolute_position", n, "one of " + AbsolutePosition.words().stream().map(w -> "\"" + w + "\"")
                    .toList() + " (none: Wan's own architecture)"));
        }

        private TextModulation textModulation() {
            JsonNode n = root.get("text_modulation");
            if (n == null || n.isNull()) {
                return TextModulation.NONE;
            }
            return TextModulation.find(n.isTextual() ? n.textValue() : null).orElseThrow(() -> error(
                    "text_modulation", n, "one of " + TextModulation.words().stream().map(w -> "\"" + w + "\"")
                    .toList() + " (none: Wan's own architecture)"));
        }

        private List<Integer> tripleOrNull(String key) {
            JsonNode n = root.get(key);
            if (n == null || n.isNull()) {
                return null;
            }
            String expected = "an array of three positive integers, e.g. [1, 2, 2]";
            if (!n.isArray() || n.size() != 3) {
                throw error(key, n, expected);
            }
            List<Integer> out = new ArrayList<>(3);
            for (JsonNode e : n) {
                if (!e.isIntegralNumber() || !e.canConvertToInt() || e.intValue() <= 0) {
                    throw error(key, n, expected);
                }
                out.add(e.intValue());
            }
            return List.copyOf(out);
        }

        private IllegalArgumentException error(String key, Object value, String expected) {
            String got = value instanceof JsonNode n ? describe(n) : String.valueOf(value);
            return new IllegalArgumentException(source + ": key '" + key + "' is " + got + ", expected " + expected);
        }
    }

    /** @return the node as JSON text with its type, e.g. {@code "abc" (a string)} */
    private static String describe(JsonNode n) {
        if (n == null) {
            return "empty";
        }
        String type = switch (n.getNodeType()) {
            case STRING -> "a string";
            case NUMBER -> n.isIntegralNumber() ? "an integer" : "a number";
            case BOOLEAN -> "a boolean";
            case ARRAY -> "an array";
            case OBJECT -> "an object";
            case NULL -> "null";
            default -> n.getNodeType().toString().toLowerCase(java.util.Locale.ROOT);
        };
        String text = n.toString();
        if (text.length() > 80) {
            text = text.substring(0, 77) + "...";
        }
        return n.isNull() ? "null" : text + " (" + type + ")";
    }

    /** @return {@code (1, 2, 2)} for {@code [1, 2, 2]} */
    static String tuple(List<?> values) {
        StringBuilder sb = new StringBuilder("(");
        for (int i = 0; i < values.size(); i++) {
            sb.append(i == 0 ? "" : ", ").append(values.get(i));
        }
        return sb.append(')').toString();
    }

    /**
     * The JSON a {@link WanConfig} is saved as: the original Wan keys plus {@code pixel_space},
     * {@code vae_stride} and, where they are not none, {@code absolute_position} and {@code text_modulation},
     * so that {@link #parse} reads it back with no defaults.
     *
     * @param config the configuration
     * @return pretty-printed JSON text
     */
    public static String toJson(WanConfig config) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("_class_name", "WanModel");
        m.put("model_type", "t2v");
        m.put("dim", config.dim());
        m.put("ffn_dim", config.ffnDim());
        m.put("num_heads", config.numHeads());
        m.put("num_layers", config.numLayers());
        m.put("in_dim", config.inDim());
        m.put("out_dim", config.outDim());
        m.put("text_dim", config.textDim());
        m.put("text_len", config.textLen());
        m.put("freq_dim", config.freqDim());
        m.put("patch_size", config.patchSize());
        m.put("eps", config.eps());
        m.put("qk_norm", config.qkNorm());
        m.put("cross_attn_norm", config.crossAttnNorm());
        m.put("pixel_space", config.pixelSpace());
        m.put("vae_stride", config.vaeStride());
        if (config.absolutePosition() != AbsolutePosition.NONE) {
            m.put("absolute_position", config.absolutePosition().word());   // absent: Wan's architecture
        }
        if (config.textModulation() != TextModulation.NONE) {
            m.put("text_modulation", config.textModulation().word());   // absent: Wan's architecture
        }
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(m) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("WanConfigReader.toJson: serialising a map of numbers failed", e);
        }
    }
}
