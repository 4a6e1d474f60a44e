package io.sparge4j.models.report;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.wan.WanCheckpoint;
import io.sparge4j.models.wan.WanWeights;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.OptionalInt;
import java.util.stream.Stream;

/**
 * A trained model directory as the training commands write it: {@code config.json} and the DiT's weights
 * ({@code diffusion_pytorch_model.safetensors} or {@code model.safetensors}), optionally the text encoder
 * ({@value TextEncoder#WEIGHTS_FILE}, {@value TextEncoder#CONFIG_FILE}, {@value TextEncoder#VOCABULARY_FILE}) and
 * {@code generation.json} (the video size the model was trained on). The DiT is loaded in f32 (what the training
 * graph takes).
 *
 * @param dir the directory
 * @param checkpoint the DiT's config and f32 weights; close it when done
 * @param encoder the text encoder, or null when the directory has none (prompts are then unconditional)
 * @param generation {@code generation.json}, or null
 */
public record ModelDirectory(Path dir, WanCheckpoint checkpoint, TextEncoder encoder, JsonNode generation)
        implements AutoCloseable {
    /** Preferred DiT weight files, in order. */
    static final List<String> DIT_FILES = List.of("diffusion_pytorch_model.safetensors", WanWeights.WEIGHTS_FILE);

    /**
     * @param dir a model directory
     * @return the loaded model
     * @throws IOException if a file cannot be read
     * @throws IllegalArgumentException naming the directory and what is missing or ambiguous
     */
    public static ModelDirectory load(Path dir) throws IOException {
        if (dir == null || !Files.isDirectory(dir)) {
            throw new IllegalArgumentException("--model: got '" + dir + "', expected a model directory with config.json"
                    + " and the DiT's *.safetensors");
        }
        WanCheckpoint checkpoint = loadDit(dir);
        try {
            TextEncoder encoder = Files.isRegularFile(dir.resolve(TextEncoder.WEIGHTS_FILE)) ? TextEncoder.load(dir)
                    : null;
            Path gen = dir.resolve("generation.json");
            JsonNode generation = Files.isRegularFile(gen) ? new ObjectMapper().readTree(gen.toFile()) : null;
            return new ModelDirectory(dir, checkpoint, encoder, generation);
        } catch (IOException | RuntimeException e) {
            checkpoint.close();
            throw e;
        }
    }

    /**
     * The DiT: WanWeights.load wants exactly one *.safetensors in the directory (or an index), but a training
     * output also holds the text encoder's; a one-file view (symbolic links in a temporary directory) settles it.
     */
    private static WanCheckpoint loadDit(Path dir) throws IOException {
        List<Path> candidates;
        try (Stream<Path> s = Files.list(dir)) {
            candidates = s.filter(p -> p.getFileName().toString().endsWith(".safetensors"))
                    .filter(p -> !p.getFileName().toString().startsWith("text_encoder"))
                    .filter(p -> !p.getFileName().toString().startsWith("."))
                    .sorted().toList();
        }
        boolean onlyOne;
        try (Stream<Path> s = Files.list(dir)) {
            onlyOne = s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).count() <= 1;
        }
        boolean indexed;
        try (Stream<Path> s = Files.list(dir)) {
            indexed = s.anyMatch(p -> p.getFileName().toString().endsWith(".index.json"));
        }
        if (onlyOne || indexed) {
            return WanWeights.load(dir, WanWeights.Precision.F32);
        }
        Path weights = DIT_FILES.stream().map(dir::resolve).filter(Files::isRegularFile).findFirst()
                .orElseGet(() -> {
                    if (candidates.size() != 1) {
                        throw new IllegalArgumentException(dir + ": found DiT weight candidates "
                                + candidates.stream().map(p -> p.getFileName().toString()).toList() + ", expected "
                                + String.join(" or ", DIT_FILES) + " (text_encoder.* is the text encoder's)");
                    }
                    return candidates.get(0);
                });
        Path view = Files.createTempDirectory("sparge-model-");
        try {
            Files.createSymbolicLink(view.resolve("config.json"), dir.resolve("config.json").toAbsolutePath());
            Files.createSymbolicLink(view.resolve(weights.getFileName()), weights.toAbsolutePath());
            return WanWeights.load(view, WanWeights.Precision.F32);
        } finally {
            try (Stream<Path> s = Files.walk(view)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> {
                    try {
                        Files.deleteIfExists(p);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
            }
        }
    }

    /**
     * @param key a key of generation.json (frames, height, width)
     * @return its positive whole value, if the file has one
     */
    public OptionalInt generationInt(String key) {
        // Searched at any depth, so that {"video": {"frames": 16}} works as well as {"frames": 16}.
        JsonNode n = generation == null ? null : generation.findValue(key);
        return n != null && n.canConvertToInt() && n.asInt() > 0 ? OptionalInt.of(n.asInt()) : OptionalInt.empty();
    }

    /** @return the weights, for convenience */
    public java.util.Map<String, Tensor> weights() {
        return checkpoint.weights();
    }

    @Override
    public void close() {
        checkpoint.close();
    }
}
