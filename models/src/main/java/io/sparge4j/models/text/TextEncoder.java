package io.sparge4j.models.text;

import io.sparge4j.engine.io.Safetensors;
import io.sparge4j.engine.io.SafetensorsFile;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * A small trainable text encoder whose features feed the Wan DiT's cross-attention in place of umT5's.
 *
 * <p>Architecture: token embeddings plus learned position embeddings, {@code layers} pre-LayerNorm transformer
 * layers (bidirectional self-attention over the prompt's real tokens only, a GELU (tanh) MLP), a final LayerNorm
 * and a linear head to {@code textDim}. The output is (maxLength, textDim) per prompt with rows beyond the
 * prompt's length set to zero, as Wan pads umT5's features; the empty prompt gives all zeros. Prompts longer than
 * {@code maxLength - 1} words are truncated ({@link WordTokenizer}). Parameters are named in
 * {@link TextEncoderParameters}; everything is built from the engine's CPU ops.
 *
 * <p>Saved as three files in one directory: {@value #WEIGHTS_FILE} (f32 parameters), {@value #CONFIG_FILE} and
 * {@value #VOCABULARY_FILE}.
 */
public final class TextEncoder {
    /** The parameters' file in a saved encoder's directory. */
    public static final String WEIGHTS_FILE = "text_encoder.safetensors";
    /** The config's file. */
    public static final String CONFIG_FILE = "text_encoder.json";
    /** The vocabulary's file. */
    public static final String VOCABULARY_FILE = "vocabulary.json";

    private final TextEncoderConfig config;
    private final WordTokenizer tokenizer;
    private final Map<String, Tensor> parameters;

    /**
     * @param config the shape; its vocabSize must equal the tokenizer's
     * @param tokenizer the vocabulary
     * @param parameters exactly the tensors {@link TextEncoderParameters#shapes} names, f32; kept (not copied), so
     *                   an optimizer updating them in place updates this encoder
     * @throws IllegalArgumentException on a vocabulary size mismatch or a missing, extra or ill-shaped parameter
     */
    public TextEncoder(TextEncoderConfig config, WordTokenizer tokenizer, Map<String, Tensor> parameters) {
        if (config == null || tokenizer == null) {
            throw new IllegalArgumentException("TextEncoder: config is " + config + " and tokenizer is " + tokenizer
                    + ", expected both");
        }
        if (config.vocabSize() != tokenizer.vocabSize()) {
            throw new IllegalArgumentException("TextEncoder: config.vocabSize is " + config.vocabSize()
                    + ", expected the tokenizer's " + tokenizer.vocabSize());
        }
        TextEncoderParameters.check(config, parameters);
        this.config = config;
        this.tokenizer = tokenizer;
        this.parameters = parameters;
    }

    /**
     * A freshly initialised encoder (see {@link TextEncoderParameters#initialize} for the init).
     *
     * @param config the shape; its vocabSize must equal the tokenizer's
     * @param tokenizer the vocabulary
     * @param seed the initialisation's seed
     * @return the encoder
     */
    public static TextEncoder initialize(TextEncoderConfig config, WordTokenizer tokenizer, long seed) {
        return new TextEncoder(config, tokenizer, TextEncoderParameters.initialize(config, seed));
    }

    /** @return the shape */
    public TextEncoderConfig config() {
        return config;
    }

    /** @return the vocabulary */
    public WordTokenizer tokenizer() {
        return tokenizer;
    }

    /** @return the live parameters by name (the map given or made at construction; update in place) */
    public Map<String, Tensor> parameters() {
        return parameters;
    }

    /** @return the prompts tokenized to this encoder's maxLength */
    public List<Tokens> tokenize(List<String> prompts) {
        return tokenizer.encodeAll(prompts, config.maxLength());
    }

    /**
     * Inference: features without a tape.
     *
     * @param prompts the batch (an empty string is the empty prompt)
     * @return f32 (B, maxLength, textDim), zero beyond each prompt's tokens; the caller owns it
     */
    public Tensor encode(List<String> prompts) {
        return encodeTokens(tokenize(prompts));
    }

    /** {@link #encode} of already tokenized prompts (ids checked against the vocabulary, lengths against maxLength). */
    public Tensor encodeTokens(List<Tokens> tokens) {
        checkTokens(tokens);
        Tensor out = Tensor.allocate(DType.F32, tokens.size(), config.maxLength(), config.textDim());
        // prompts are independent: in parallel, each writing its own rows
        IntStream.range(0, tokens.size()).parallel().filter(b -> tokens.get(b).length() > 0).forEach(b -> {
            try (SamplePass s = SamplePass.run(config, parameters, tokens.get(b), false)) {
                copyRows(s.features(), out, b);
            }
        });
        return out;
    }

    /**
     * Training forward keeping a tape for {@link TextEncoderPass#backward}.
     *
     * @param prompts the batch
     * @return the pass; close it when done
     */
    public TextEncoderPass forward(List<String> prompts) {
        return forwardTokens(tokenize(prompts));
    }

    /** {@link #forward} of already tokenized prompts. */
    public TextEncoderPass forwardTokens(List<Tokens> tokens) {
        checkTokens(tokens);
        SamplePass[] samples = new SamplePass[tokens.size()];
        Tensor out = Tensor.allocate(DType.F32, tokens.size(), config.maxLength(), config.textDim());
        try {
            // prompts are independent: in parallel, each writing its own rows and tape slot
            IntStream.range(0, tokens.size()).parallel().filter(b -> tokens.get(b).length() > 0).forEach(b -> {
                samples[b] = SamplePass.run(config, parameters, tokens.get(b), true);
                copyRows(samples[b].features(), out, b);
            });
        } catch (RuntimeException | Error e) {
            for (SamplePass s : samples) {
                if (s != null) {
                    s.close();
                }
            }
            out.close();
            throw e;
        }
        return new TextEncoderPass(config, parameters, tokens, samples, out);
    }

    /** Copies a prompt's (L, textDim) features into rows [0, L) of batch entry b; later rows stay zero. */
    private static void copyRows(Tensor features, Tensor out, int b) {
        MemorySegment.copy(features.segment(), 0, out.select(b).segment(), 0, features.byteSize());
    }

    private void checkTokens(List<Tokens> tokens) {
        if (tokens == null || tokens.isEmpty()) {
            throw new IllegalArgumentException("TextEncoder: the batch is " + tokens + ", expected at least one prompt");
        }
        for (int b = 0; b < tokens.size(); b++) {
            Tokens t = tokens.get(b);
            if (t == null || t.maxLength() != config.maxLength()) {
                throw new IllegalArgumentException("TextEncoder: tokens[" + b + "] is " + t + ", expected "
                        + config.maxLength() + " ids (the encoder's maxLength)");
            }
            for (int i = 0; i < t.length(); i++) {
                int id = t.id(i);
                if (id < 0 || id >= config.vocabSize()) {
                    throw new IllegalArgumentException("TextEncoder: tokens[" + b + "] id " + i + " is " + id
                            + ", expected 0.." + (config.vocabSize() - 1));
                }
            }
        }
    }

    /**
     * Writes {@value #WEIGHTS_FILE}, {@value #CONFIG_FILE} and {@value #VOCABULARY_FILE} into {@code dir}
     * (created if missing), each atomically.
     *
     * @param dir the directory
     * @throws IOException if a file cannot be written
     */
    public void save(Path dir) throws IOException {
        Files.createDirectories(dir);
        Safetensors.write(dir.resolve(WEIGHTS_FILE), parameters, Map.of("format", TextEncoderConfig.FORMAT));
        config.save(dir.resolve(CONFIG_FILE));
        tokenizer.save(dir.resolve(VOCABULARY_FILE));
    }

    /**
     * Reads an encoder written by {@link #save}; parameters are loaded into owned f32 tensors.
     *
     * @param dir the directory
     * @return the encoder
     * @throws IOException if a file is missing or unreadable
     * @throws IllegalArgumentException naming the file on an inconsistent config, vocabulary or parameter set
     */
    public static TextEncoder load(Path dir) throws IOException {
        TextEncoderConfig config = TextEncoderConfig.load(dir.resolve(CONFIG_FILE));
        WordTokenizer tokenizer = WordTokenizer.load(dir.resolve(VOCABULARY_FILE));
        Path weights = dir.resolve(WEIGHTS_FILE);
        Map<String, Tensor> params = new LinkedHashMap<>();
        try (SafetensorsFile file = SafetensorsFile.open(weights)) {
            for (Map.Entry<String, int[]> e : TextEncoderParameters.shapes(config).entrySet()) {
                String name = e.getKey();
                if (!file.contains(name)) {
                    throw new IllegalArgumentException(weights + ": parameter " + name + " is missing, expected f32 "
                            + Arrays.toString(e.getValue()));
                }
                params.put(name, file.load(name, DType.F32));
            }
            for (String name : file.names()) {
                if (!params.containsKey(name)) {
                    throw new IllegalArgumentException(weights + ": unexpected tensor " + name + ", expected only the "
                            + params.size() + " text encoder parameters of " + config);
                }
            }
        }
        try {
            return new TextEncoder(config, tokenizer, params);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(dir + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String toString() {
        return "TextEncoder[" + config + "]";
    }
}
