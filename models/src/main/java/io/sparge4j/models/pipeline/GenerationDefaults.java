package io.sparge4j.models.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.models.video.AtomicFiles;
import io.sparge4j.models.wan.WanAttention;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * A model directory's {@value ModelDirectory#GENERATION_FILE}: the clip size the model was trained on, the attention
 * it was trained (or calibrated) for, and how it was made. {@code sparge generate} and {@code sparge eval} take their
 * defaults from it; flags still win.
 *
 * <pre>{@code
 * {"frames":16,"height":32,"width":32,
 *  "attention":{"mode":"hybrid","topk":0.03,"topp":0.2,"query_block":128,"key_block":64,
 *               "late_topk":0.15,"late_noise_level":0.77},
 *  "objective":"pretrain","steps_trained":20000,"clips_trained":320000}
 * }</pre>
 * Every field is optional when reading: a missing one takes the value of {@link #DEFAULT} (16 frames of 32x32, the
 * paper's hybrid attention, objective "pretrain", 0 steps, clips unknown); {@code late_topk} is written only when
 * set ({@link WanAttention#lateTopk}), and a missing {@code late_noise_level} is
 * {@value WanAttention#DEFAULT_LATE_NOISE_LEVEL}.
 *
 * @param frames clip frames
 * @param height clip height in pixels
 * @param width clip width in pixels
 * @param attention self-attention settings (dense layers and steps are not stored: 0; a late Top-k is)
 * @param objective pretrain, distill or flow; {@value #RANDOM_OBJECTIVE} for untrained random weights
 * @param stepsTrained optimizer steps behind the weights
 * @param clipsTrained training clips behind the weights (a step sees micro-batches x batch size of them), or null
 *                     when not known (a model from before the count, or a checkpoint exported alone)
 */
public record GenerationDefaults(int frames, int height, int width, WanAttention attention, String objective,
        long stepsTrained, Long clipsTrained) {
    /** What a missing field takes: the tiny-demo recipe's 16 frames of 32x32 and the paper's hybrid attention. */
    public static final GenerationDefaults DEFAULT = new GenerationDefaults(16, 32, 32, WanAttention.defaults(),
            "pretrain", 0);

    /** The objective of a model whose weights are random (never trained). */
    public static final String RANDOM_OBJECTIVE = "random";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Settings whose clip count is not known. */
    public GenerationDefaults(int frames, int height, int width, WanAttention attention, String objective,
            long stepsTrained) {
        this(frames, height, width, attention, objective, stepsTrained, null);
    }

    /**
     * @throws IllegalArgumentException naming the field out of range
     */
    public GenerationDefaults {
        positive("frames", frames);
        positive("height", height);
        positive("width", width);
        if (attention == null) {
            throw new IllegalArgumentException("generation.json: attention is null, expected settings");
        }
        if (objective == null || objective.isBlank()) {
            throw new IllegalArgumentException("generation.json: objective is '" + objective
                    + "', expected pretrain, distill or flow");
        }
        if (stepsTrained < 0) {
            throw new IllegalArgumentException("generation.json: steps_trained is " + stepsTrained
                    + ", expected 0 or more");
        }
        if (clipsTrained != null && clipsTrained < 0) {
            throw new IllegalArgumentException("generation.json: clips_trained is " + clipsTrained
                    + ", expected 0 or more");
        }
    }

    /** @return a copy with another step count and the clip count unknown */
    public GenerationDefaults withStepsTrained(long steps) {
        return new GenerationDefaults(frames, height, width, attention, objective, steps, null);
    }

    /**
     * @param steps optimizer steps behind the weights
     * @param clips training clips behind them, or null when not known
     * @return a copy with these counts
     */
    public GenerationDefaults withTrained(long steps, Long clips) {
        return new GenerationDefaults(frames, height, width, attention, objective, steps, clips);
    }

    /** @return a copy with other attention settings */
    public GenerationDefaults withAttention(WanAttention newAttention) {
        return new GenerationDefaults(frames, height, width, newAttention, objective, stepsTrained, clipsTrained);
    }

    /**
     * @param file a generation.json
     * @return its settings, defaults where a field is missing
     * @throws IOException if it cannot be read or is not JSON
     * @throws IllegalArgumentException naming the file and field on a bad value
     */
    public static GenerationDefaults read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException(file + ": no such file");
        }
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new IOException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        return parse(root, file.toString());
    }

    /**
     * @param root the parsed JSON object
     * @param source where it came from, for messages
     * @return the settings
     * @throws IllegalArgumentException naming the source and field on a bad value
     */
    public static GenerationDefaults parse(JsonNode root, String source) {
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException(source + ": is " + root + ", expected a JSON object");
        }
        GenerationDefaults d = DEFAULT;
        int frames = intField(root, "frames", d.frames, source);
        int height = intField(root, "height", d.height, source);
        int width = intField(root, "width", d.width, source);
        WanAttention a = d.attention;
        JsonNode att = root.get("attention");
        if (att != null && !att.isNull()) {
            if (!att.isObject()) {
                throw new IllegalArgumentException(source + ": \"attention\" is " + att + ", expected an object");
            }
            MaskMode mode = a.mode();
            JsonNode m = att.get("mode");
            if (m != null && !m.isNull()) {
                mode = switch (m.asText().toLowerCase(Locale.ROOT)) {
                    case "dense" -> MaskMode.DENSE;
                    case "topk" -> MaskMode.TOPK;
                    case "topp" -> MaskMode.TOPP;
                    case "hybrid" -> MaskMode.HYBRID;
                    default -> throw new IllegalArgumentException(source + ": \"attention.mode\" is " + m
                            + ", expected dense, topk, topp or hybrid");
                };
            }
            double topk = doubleField(att, "topk", a.topk(), source);
            double topp = doubleField(att, "topp", a.topp(), source);
            int qb = intField(att, "query_block", a.queryBlock(), source);
            int kb = intField(att, "key_block", a.keyBlock(), source);
            double lateTopk = doubleField(att, "late_topk", 0, source);
            double lateLevel = doubleField(att, "late_noise_level", WanAttention.DEFAULT_LATE_NOISE_LEVEL, source);
            try {
                a = new WanAttention(mode, topk, topp, qb, kb, 0, 0, lateTopk, lateLevel);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(source + ": \"attention\": " + e.getMessage(), e);
            }
        }
        JsonNode obj = root.get("objective");
        String objective = obj == null || obj.isNull() ? d.objective : obj.asText();
        JsonNode st = root.get("steps_trained");
        long steps = d.stepsTrained;
        if (st != null && !st.isNull()) {
            if (!st.isIntegralNumber() || st.asLong() < 0) {
                throw new IllegalArgumentException(source + ": \"steps_trained\" is " + st
                        + ", expected a whole number >= 0");
            }
            steps = st.asLong();
        }
        JsonNode ct = root.get("clips_trained");
        Long clips = null;
        if (ct != null && !ct.isNull()) {
            if (!ct.isIntegralNumber() || ct.asLong() < 0) {
                throw new IllegalArgumentException(source + ": \"clips_trained\" is " + ct
                        + ", expected a whole number >= 0");
            }
            clips = ct.asLong();
        }
        try {
            return new GenerationDefaults(frames, height, width, a, objective, steps, clips);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(source + ": " + e.getMessage(), e);
        }
    }

    /** @return the JSON object described in the class comment */
    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.put("frames", frames);
        o.put("height", height);
        o.put("width", width);
        ObjectNode a = o.putObject("attention");
        a.put("mode", attention.mode().toString().toLowerCase(Locale.ROOT));
        a.put("topk", attention.topk());
        a.put("topp", attention.topp());
        a.put("query_block", attention.queryBlock());
        a.put("key_block", attention.keyBlock());
        if (attention.lateTopk() != 0) {
            a.put("late_topk", attention.lateTopk());
            a.put("late_noise_level", attention.lateNoiseLevel());
        }
        o.put("objective", objective);
        o.put("steps_trained", stepsTrained);
        if (clipsTrained != null) {
            o.put("clips_trained", clipsTrained);
        }
        return o;
    }

    /**
     * Writes {@link #toJson()} atomically.
     *
     * @param file the target
     * @throws IOException if it cannot be written
     */
    public void write(Path file) throws IOException {
        AtomicFiles.write(file, tmp -> JSON.writeValue(tmp.toFile(), toJson()));
    }

    private static int intField(JsonNode node, String key, int fallback, String source) {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() <= 0) {
            throw new IllegalArgumentException(source + ": \"" + key + "\" is " + v + ", expected a positive integer");
        }
        return v.intValue();
    }

    private static double doubleField(JsonNode node, String key, double fallback, String source) {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.isNumber() || !Double.isFinite(v.asDouble())) {
            throw new IllegalArgumentException(source + ": \"attention." + key + "\" is " + v + ", expected a number");
        }
        return v.asDouble();
    }

    private static void positive(String name, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException("generation.json: " + name + " is " + v
                    + ", expected a positive integer");
        }
    }
}
