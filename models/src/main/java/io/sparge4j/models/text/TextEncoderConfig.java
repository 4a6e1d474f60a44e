package io.sparge4j.models.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sparge4j.engine.ops.Attention;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The shape of a {@link TextEncoder}.
 *
 * @param vocabSize token ids (the tokenizer's {@link WordTokenizer#vocabSize()})
 * @param width the transformer's hidden size
 * @param layers transformer layers
 * @param heads attention heads; must divide width
 * @param ffnDim the MLP's hidden size
 * @param maxLength tokens per prompt (position embeddings) and rows of the output: set the DiT's
 *                  {@code text_len} to this
 * @param textDim features per output row: the DiT's {@code text_dim}
 */
public record TextEncoderConfig(int vocabSize, int width, int layers, int heads, int ffnDim, int maxLength,
        int textDim) {
    /** The LayerNorms' epsilon. */
    public static final float LAYER_NORM_EPS = 1e-5f;

    static final String FORMAT = "sparge4j.text-encoder";

    /** Checks every size. */
    public TextEncoderConfig {
        positive("vocabSize", vocabSize);
        positive("width", width);
        positive("layers", layers);
        positive("heads", heads);
        positive("ffnDim", ffnDim);
        positive("textDim", textDim);
        if (maxLength < WordTokenizer.MIN_MAX_LENGTH) {
            throw new IllegalArgumentException("TextEncoderConfig: maxLength is " + maxLength + ", expected at least "
                    + WordTokenizer.MIN_MAX_LENGTH);
        }
        if (vocabSize <= WordTokenizer.END) {
            throw new IllegalArgumentException("TextEncoderConfig: vocabSize is " + vocabSize
                    + ", expected more than the " + WordTokenizer.SPECIAL_TOKENS.size() + " special tokens");
        }
        if (width % heads != 0) {
            throw new IllegalArgumentException("TextEncoderConfig: width " + width + " is not divisible by heads "
                    + heads + ", expected heads to divide width");
        }
        if (width / heads > Attention.MAX_HEAD_DIM) {
            throw new IllegalArgumentException("TextEncoderConfig: head dim width/heads is " + (width / heads)
                    + ", expected at most " + Attention.MAX_HEAD_DIM);
        }
    }

    /** @return width / heads */
    public int headDim() {
        return width / heads;
    }

    /** @return the JSON form: {@code format}, {@code vocab_size, width, num_layers, num_heads, ffn_dim, max_length, text_dim} */
    public ObjectNode toJson() {
        ObjectNode o = JsonFiles.JSON.createObjectNode();
        o.put("format", FORMAT);
        o.put("vocab_size", vocabSize);
        o.put("width", width);
        o.put("num_layers", layers);
        o.put("num_heads", heads);
        o.put("ffn_dim", ffnDim);
        o.put("max_length", maxLength);
        o.put("text_dim", textDim);
        o.put("layer_norm_eps", LAYER_NORM_EPS);
        return o;
    }

    /** Writes {@link #toJson()} atomically. */
    public void save(Path file) throws IOException {
        JsonFiles.write(file, toJson());
    }

    /**
     * @param file a file written by {@link #save}
     * @return the config
     * @throws IOException if it cannot be read or is not JSON
     * @throws IllegalArgumentException naming the file and key on a missing or invalid value
     */
    public static TextEncoderConfig load(Path file) throws IOException {
        JsonNode root = JsonFiles.read(file);
        JsonFiles.checkFormat(file, root, FORMAT);
        JsonNode eps = root.get("layer_norm_eps");
        if (eps != null && (float) eps.asDouble() != LAYER_NORM_EPS) {
            throw new IllegalArgumentException(file + ": \"layer_norm_eps\" is " + eps + ", expected " + LAYER_NORM_EPS
                    + " (the only value this encoder uses)");
        }
        try {
            return new TextEncoderConfig(JsonFiles.positiveInt(file, root, "vocab_size"),
                    JsonFiles.positiveInt(file, root, "width"), JsonFiles.positiveInt(file, root, "num_layers"),
                    JsonFiles.positiveInt(file, root, "num_heads"), JsonFiles.positiveInt(file, root, "ffn_dim"),
                    JsonFiles.positiveInt(file, root, "max_length"), JsonFiles.positiveInt(file, root, "text_dim"));
        } catch (IllegalArgumentException e) {
            throw e.getMessage().startsWith(file.toString()) ? e
                    : new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    private static void positive(String name, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException("TextEncoderConfig: " + name + " is " + value + ", expected > 0");
        }
    }
}
