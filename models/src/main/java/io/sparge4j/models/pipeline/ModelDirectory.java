package io.sparge4j.models.pipeline;

import io.sparge4j.engine.io.Safetensors;
import io.sparge4j.engine.io.SafetensorsFile;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.wan.WanCheckpoint;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanConfigReader;
import io.sparge4j.models.wan.WanParameters;
import io.sparge4j.models.wan.WanWeights;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * A trained text-to-video model on disk, as {@code sparge pretrain}, {@code finetune} and {@code export} write it:
 * <pre>
 *   config.json                           the WanConfig (WanConfigReader's JSON, pixel_space true)
 *   diffusion_pytorch_model.safetensors   the DiT, original Wan2.1 names; f32, f16 or bf16
 *   text_encoder.safetensors              the TextEncoder's parameters (f32, f16 or bf16)
 *   text_encoder.json, vocabulary.json    its config and vocabulary (what TextEncoder.save writes)
 *   generation.json                       {@link GenerationDefaults}
 * </pre>
 * The text encoder and generation.json are optional when loading (a plain Wan directory with one safetensors file
 * loads too, through {@link WanWeights#load}). Owns the loaded tensors: close it when done.
 */
public final class ModelDirectory implements AutoCloseable {
    /** The DiT's weights. */
    public static final String DIT_FILE = "diffusion_pytorch_model.safetensors";
    /** The generation defaults. */
    public static final String GENERATION_FILE = "generation.json";

    private static final double F16_MAX = 65504.0;

    private final Path source;
    private final WanCheckpoint checkpoint;
    private final TextEncoder textEncoder;
    private final GenerationDefaults generation;

    /**
     * @param source where it was loaded from, or null for a model made in memory
     * @param checkpoint the DiT's config and weights (owned)
     * @param textEncoder the text encoder, or null
     * @param generation the generation defaults, or null when the directory has no generation.json
     * @throws IllegalArgumentException if the encoder's features do not fit the DiT's cross-attention
     */
    public ModelDirectory(Path source, WanCheckpoint checkpoint, TextEncoder textEncoder,
            GenerationDefaults generation) {
        if (checkpoint == null) {
            throw new IllegalArgumentException("ModelDirectory: checkpoint is null, expected the DiT's weights");
        }
        WanConfig c = checkpoint.config();
        if (textEncoder != null && (textEncoder.config().maxLength() != c.textLen()
                || textEncoder.config().textDim() != c.textDim())) {
            throw new IllegalArgumentException((source == null ? "model" : source.toString()) + ": the text encoder"
                    + " gives (" + textEncoder.config().maxLength() + ", " + textEncoder.config().textDim()
                    + ") features, expected (text_len " + c.textLen() + ", text_dim " + c.textDim()
                    + ") as config.json says");
        }
        this.source = source;
        this.checkpoint = checkpoint;
        this.textEncoder = textEncoder;
        this.generation = generation;
    }

    /** @return whether {@code dir} looks like a model directory (it holds config.json) */
    public static boolean isModelDirectory(Path dir) {
        return dir != null && Files.isRegularFile(dir.resolve(WanWeights.CONFIG_FILE));
    }

    /**
     * @param dir a model directory
     * @param precision the DiT tensors' dtype in memory (the text encoder is always f32)
     * @return the model
     * @throws IOException if a file cannot be read
     * @throws IllegalArgumentException naming the file on a bad config, missing weights or mismatched encoder
     */
    public static ModelDirectory load(Path dir, WanWeights.Precision precision) throws IOException {
        if (!isModelDirectory(dir)) {
            throw new IllegalArgumentException("model directory " + dir + " has no " + WanWeights.CONFIG_FILE
                    + ", expected a directory written by 'sparge pretrain', 'finetune' or 'export' (or a Wan2.1"
                    + " directory)");
        }
        WanCheckpoint checkpoint;
        Path dit = dir.resolve(DIT_FILE);
        if (Files.isRegularFile(dit)) {
            WanConfigReader.Result config = WanConfigReader.read(dir.resolve(WanWeights.CONFIG_FILE));
            checkpoint = new WanCheckpoint(config.config(), config.defaulted(),
                    loadDit(dit, config.config(), precision));
        } else {
            checkpoint = WanWeights.load(dir, precision);
        }
        try {
            boolean hasText = Files.isRegularFile(dir.resolve(TextEncoder.WEIGHTS_FILE));
            TextEncoder text = hasText ? TextEncoder.load(dir) : null;
            Path gen = dir.resolve(GENERATION_FILE);
            GenerationDefaults generation = Files.isRegularFile(gen) ? GenerationDefaults.read(gen) : null;
            return new ModelDirectory(dir, checkpoint, text, generation);
        } catch (IOException | RuntimeException e) {
            checkpoint.close();
            throw e;
        }
    }

    /** The DiT from its own file, in WanParameters order, checked against the config (all problems at once). */
    private static Map<String, Tensor> loadDit(Path file, WanConfig config, WanWeights.Precision precision) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (SafetensorsFile f = precision.open(file)) {
            List<String> names = new ArrayList<>();
            for (String name : WanParameters.expected(config).keySet()) {
                if (f.contains(name)) {
                    names.add(name);
                }
            }
            f.names().stream().filter(n -> !names.contains(n)).sorted().forEach(names::add);
            for (String name : names) {
                out.put(name, precision.load(f, name));
            }
            WanWeights.check(config, out);
            return out;
        } catch (IOException e) {
            out.values().forEach(Tensor::close);
            throw new UncheckedIOException(file + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            out.values().forEach(Tensor::close);
            throw e;
        }
    }

    /** @return the directory it was loaded from, or null */
    public Path source() {
        return source;
    }

    /** @return the DiT's config and weights */
    public WanCheckpoint checkpoint() {
        return checkpoint;
    }

    /** @return the DiT's config */
    public WanConfig config() {
        return checkpoint.config();
    }

    /** @return the DiT's weights by original Wan name */
    public Map<String, Tensor> weights() {
        return checkpoint.weights();
    }

    /** @return the text encoder, or null when the directory has none */
    public TextEncoder textEncoder() {
        return textEncoder;
    }

    /** @return the generation defaults, or null when the directory has no generation.json */
    public GenerationDefaults generation() {
        return generation;
    }

    /** @return the generation defaults, or {@link GenerationDefaults#DEFAULT} when the directory has none */
    public GenerationDefaults generationOrDefault() {
        return generation != null ? generation : GenerationDefaults.DEFAULT;
    }

    /**
     * The DiT's context for a prompt through the text encoder: (text_len, text_dim), zero rows past the prompt's
     * tokens; the empty prompt gives all zeros, the unconditional branch the model was trained on.
     *
     * @param prompt the text ("" for the empty prompt)
     * @param option the flag that gave it, for messages
     * @return f32 (text_len, text_dim), owned by the caller
     * @throws IllegalArgumentException if the model has no text encoder
     */
    public Tensor context(String prompt, String option) {
        if (textEncoder == null) {
            throw new IllegalArgumentException(option + ": this model has no text encoder (" + TextEncoder.WEIGHTS_FILE
                    + " in its directory); give text features with --text-embeddings FILE instead");
        }
        Tensor features = textEncoder.encode(List.of(prompt == null ? "" : prompt));
        WanConfig c = config();
        Tensor out = Tensor.allocate(DType.F32, c.textLen(), c.textDim());
        out.copyFrom(features.reshape(c.textLen(), c.textDim()));
        features.close();
        return out;
    }

    /**
     * Writes a model directory, every file converted to {@code dtype}, into a hidden temporary sibling that is then
     * renamed to {@code dir}: a reader sees the old directory or the whole new one. An existing {@code dir} must be
     * a model directory (its model files are replaced; its other files, a README or samples, are kept) or empty.
     *
     * @param dir the target directory
     * @param config the DiT's config
     * @param weights the DiT's weights (any floating dtype)
     * @param textEncoder the text encoder, or null
     * @param generation the generation defaults, or null for none
     * @param dtype f32, f16 or bf16
     * @throws IllegalArgumentException naming a tensor with a value that the dtype cannot hold (beyond f16's
     *     65504, or not finite), or a target that is not a model directory
     * @throws IOException if a file cannot be written; nothing is left behind
     */
    public static void save(Path dir, WanConfig config, Map<String, Tensor> weights, TextEncoder textEncoder,
            GenerationDefaults generation, DType dtype) throws IOException {
        if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16) {
            throw new IllegalArgumentException("--dtype: got " + dtype + ", expected f32, f16 or bf16");
        }
        WanWeights.check(config, weights);
        Path target = dir.toAbsolutePath().normalize();
        if (Files.exists(target) && !isModelDirectory(target) && !isEmptyDirectory(target)) {
            throw new IllegalArgumentException("--out: " + dir + " exists and is not a model directory (no "
                    + WanWeights.CONFIG_FILE + "); expected a new path, an empty directory or a model directory to"
                    + " replace");
        }
        Map<String, Tensor> dit = convert(weights, dtype);
        Map<String, Tensor> text = textEncoder == null ? null : convert(textEncoder.parameters(), dtype);
        Files.createDirectories(target.getParent());
        Path tmp = sibling(target, "tmp");
        try {
            Files.createDirectory(tmp);
            Safetensors.write(tmp.resolve(DIT_FILE), dit, Map.of("format", "pt"));
            if (textEncoder != null) {
                Safetensors.write(tmp.resolve(TextEncoder.WEIGHTS_FILE), text,
                        Map.of("format", "sparge4j.text-encoder"));
                textEncoder.config().save(tmp.resolve(TextEncoder.CONFIG_FILE));
                textEncoder.tokenizer().save(tmp.resolve(TextEncoder.VOCABULARY_FILE));
            }
            if (generation != null) {
                generation.write(tmp.resolve(GENERATION_FILE));
            }
            Files.writeString(tmp.resolve(WanWeights.CONFIG_FILE), WanConfigReader.toJson(config),
                    StandardCharsets.UTF_8);
            keepOtherFiles(target, tmp);
            replace(tmp, target);
        } catch (IOException | RuntimeException | Error e) {
            deleteTree(tmp);
            throw e;
        } finally {
            closeConverted(dit, weights);
            if (text != null) {
                closeConverted(text, textEncoder.parameters());
            }
        }
    }

    /** Renames the finished temporary directory over the target, moving an old target aside first. */
    /** The files {@link #save} writes; a saved directory's other entries are the user's. */
    private static final Set<String> MODEL_FILES = Set.of(WanWeights.CONFIG_FILE, DIT_FILE, GENERATION_FILE,
            TextEncoder.WEIGHTS_FILE, TextEncoder.CONFIG_FILE, TextEncoder.VOCABULARY_FILE);

    /**
     * Copies every entry of the model directory being replaced that is not a model file (a README, sample videos)
     * into the new one, so that saving over a model loses only the model; copies, so a failed replace leaves the old
     * directory whole.
     */
    private static void keepOtherFiles(Path target, Path tmp) throws IOException {
        if (!Files.isDirectory(target)) {
            return;
        }
        try (Stream<Path> entries = Files.list(target)) {
            for (Path entry : entries.toList()) {
                if (MODEL_FILES.contains(entry.getFileName().toString())) {
                    continue;
                }
                try (Stream<Path> tree = Files.walk(entry)) {
                    for (Path p : tree.toList()) {
                        Files.copy(p, tmp.resolve(target.relativize(p).toString()), StandardCopyOption.COPY_ATTRIBUTES);
                    }
                }
            }
        }
    }

    private static void replace(Path tmp, Path target) throws IOException {
        Path old = null;
        if (Files.exists(target)) {
            old = sibling(target, "old");
            Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
        }
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target);
        } catch (IOException e) {
            if (old != null) {
                Files.move(old, target, StandardCopyOption.ATOMIC_MOVE);   // put the previous model back
            }
            throw e;
        }
        if (old != null) {
            deleteTree(old);
        }
    }

    /**
     * @return tensors in {@code dtype}; the same tensor object where it already is, a converted copy otherwise
     * @throws IllegalArgumentException naming the first tensor with a value the dtype cannot hold
     */
    private static Map<String, Tensor> convert(Map<String, Tensor> tensors, DType dtype) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                Tensor t = e.getValue();
                checkRange(e.getKey(), t, dtype);
                out.put(e.getKey(), t.dtype() == dtype ? t : t.to(dtype));
            }
            return out;
        } catch (RuntimeException e) {
            closeConverted(out, tensors);
            throw e;
        }
    }

    private static void checkRange(String name, Tensor t, DType dtype) {
        long n = t.numel();
        for (long i = 0; i < n; i++) {
            float v = t.getFloat(i);
            if (!Float.isFinite(v)) {
                throw new IllegalArgumentException("tensor " + name + " holds " + v + " at element " + i
                        + ", expected finite weights");
            }
            if (dtype == DType.F16 && Math.abs(v) > F16_MAX) {
                throw new IllegalArgumentException("tensor " + name + " holds " + v + " at element " + i
                        + ", beyond f16's largest value " + F16_MAX + "; export it with --dtype bf16 or f32");
            }
        }
    }

    private static void closeConverted(Map<String, Tensor> converted, Map<String, Tensor> originals) {
        for (Map.Entry<String, Tensor> e : converted.entrySet()) {
            if (e.getValue() != originals.get(e.getKey())) {
                e.getValue().close();
            }
        }
    }

    private static boolean isEmptyDirectory(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        }
    }

    private static Path sibling(Path target, String kind) {
        return target.resolveSibling("." + target.getFileName() + "." + kind + "-"
                + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong()));
    }

    private static void deleteTree(Path root) {
        if (root == null || !Files.exists(root)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException ignored) {
            // best effort: a leftover hidden directory is harmless and named as temporary
        }
    }

    /** Frees the DiT's weights and the encoder's parameters. */
    @Override
    public void close() {
        checkpoint.close();
        if (textEncoder != null) {
            textEncoder.parameters().values().forEach(Tensor::close);
        }
    }

    @Override
    public String toString() {
        return "ModelDirectory[" + source + ", " + config() + (textEncoder == null ? "" : ", " + textEncoder) + "]";
    }
}
