package io.sparge4j.cli;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.pipeline.GenerationDefaults;
import io.sparge4j.models.pipeline.BundledModel;
import io.sparge4j.models.pipeline.ModelDirectory;
import io.sparge4j.models.wan.WanCheckpoint;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanParameters;
import io.sparge4j.models.wan.WanWeights;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Resolves {@code --model}: a directory with config.json and safetensors weights (Wan's or diffusers' names), or
 * {@value #TINY_RANDOM}, a seeded random-weight pixel-space model of the Wan architecture that exercises the whole
 * pipeline on the CPU in seconds (its videos are structured noise: it is untrained), or {@value #TINY_DEMO}, the
 * trained tiny text-to-video model shipped in the jar ({@link BundledModel#TINY_DEMO}), or {@code random:LABEL}, a
 * {@link ModelPreset} (for example {@code random:wan-14b}) with seeded random weights: the shapes and the cost of the
 * real model where no checkpoint is at hand (every rank of a job draws the same weights).
 */
final class ModelSource {
    /** The built-in random-weight model's name. */
    static final String TINY_RANDOM = "tiny-random";
    /** The trained tiny model shipped in the models jar. */
    static final String TINY_DEMO = "tiny-demo";
    /** Its config: dim 64, one head of 64 (a size the GPU flash kernels take), 2 layers, 3 colour channels, pixel space. */
    static final WanConfig TINY_RANDOM_CONFIG = WanConfig.tiny(64, 1, 2, 3, true);
    private static final long TINY_RANDOM_SEED = 20261203L;
    /** The prefix of a random-weight preset: {@code random:wan-14b}. */
    static final String RANDOM_PREFIX = "random:";
    private static final long PRESET_SEED = 20261204L;

    private ModelSource() {
    }

    /**
     * @param option the flag, for messages
     * @param model a directory, {@value #TINY_RANDOM} or {@value #TINY_DEMO}
     * @param log where the config's defaulted keys are reported
     * @param precision f32, or the checkpoint's own dtypes (a bf16 checkpoint stays bf16: half the memory)
     * @return the config and the DiT's weights, owned by the caller (a text encoder in the directory is not loaded)
     * @throws IOException if a file cannot be read
     * @throws IllegalArgumentException if the model is none of them
     */
    static WanCheckpoint load(String option, String model, PrintWriter log, WanWeights.Precision precision)
            throws IOException {
        ModelDirectory dir = open(option, model, log, precision);
        if (dir.textEncoder() != null) {
            dir.textEncoder().parameters().values().forEach(Tensor::close);
        }
        return dir.checkpoint();
    }

    /**
     * @param option the flag, for messages
     * @param model a model directory, {@value #TINY_RANDOM}, {@value #TINY_DEMO} (shipped in the jar) or
     *     {@code random:LABEL} (a {@link ModelPreset}: its config and video size, no text encoder)
     * @param log where the config's defaulted keys are reported
     * @param precision f32, or the DiT's stored dtypes (a random preset's: bf16, as Wan's checkpoints store them)
     * @return the DiT, its text encoder and generation defaults where the directory has them; the caller closes it
     * @throws IOException if a file cannot be read
     * @throws IllegalArgumentException if the model is none of them, or tiny-demo's files are not shipped
     */
    static ModelDirectory open(String option, String model, PrintWriter log, WanWeights.Precision precision)
            throws IOException {
        if (TINY_RANDOM.equals(model)) {
            Map<String, Tensor> weights = WanWeights.randomInit(TINY_RANDOM_CONFIG, TINY_RANDOM_SEED);
            return new ModelDirectory(null, new WanCheckpoint(TINY_RANDOM_CONFIG, List.of(), weights), null, null);
        }
        if (model.startsWith(RANDOM_PREFIX)) {
            return randomPreset(option, model, log, precision);
        }
        Path dir;
        if (TINY_DEMO.equals(model)) {
            try {
                dir = BundledModel.TINY_DEMO.extract();
            } catch (IllegalStateException e) {
                throw new IllegalArgumentException(e.getMessage(), e);
            }
        } else {
            dir = Path.of(model);
            if (!Files.isDirectory(dir)) {
                throw new IllegalArgumentException(option + ": got '" + model + "', expected a model directory"
                        + " (config.json and *.safetensors), '" + TINY_DEMO + "', '" + TINY_RANDOM + "' or '"
                        + RANDOM_PREFIX + "LABEL' with LABEL one of " + ModelPreset.labels());
            }
        }
        ModelDirectory loaded = ModelDirectory.load(dir, precision);
        if (!loaded.checkpoint().configDefaults().isEmpty()) {
            log.println("config.json: defaults used for " + String.join(", ", loaded.checkpoint().configDefaults()));
            log.flush();
        }
        return loaded;
    }

    /** A preset's config with seeded random weights, and its video size as the generation defaults. */
    private static ModelDirectory randomPreset(String option, String model, PrintWriter log,
            WanWeights.Precision precision) {
        String label = model.substring(RANDOM_PREFIX.length());
        ModelPreset preset = ModelPreset.byLabel(label);
        if (preset == null) {
            throw new IllegalArgumentException(option + ": got '" + model + "', expected " + RANDOM_PREFIX
                    + "LABEL with LABEL one of " + ModelPreset.labels());
        }
        WanConfig config = preset.config();
        DType dtype = precision == WanWeights.Precision.F32 ? DType.F32 : DType.BF16;
        long params = WanParameters.count(config);
        log.printf(Locale.ROOT, "%s: random weights (seed %d), %,d parameters in %s (%.1f GB); untrained: its videos"
                + " are structured noise%n", model, PRESET_SEED, params, dtype.name().toLowerCase(Locale.ROOT),
                params * (double) dtype.byteSize() / 1e9);
        log.flush();
        Map<String, Tensor> weights = WanWeights.randomInit(config, PRESET_SEED, dtype);
        GenerationDefaults size = new GenerationDefaults(preset.frames(), preset.height(), preset.width(),
                WanAttention.defaults(), GenerationDefaults.RANDOM_OBJECTIVE, 0);
        return new ModelDirectory(null, new WanCheckpoint(config, List.of(), weights), null, size);
    }
}
