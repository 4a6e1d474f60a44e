package io.sparge4j.cli;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.pipeline.BundledModel;
import io.sparge4j.models.pipeline.ModelDirectory;
import io.sparge4j.models.wan.WanCheckpoint;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanWeights;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Resolves {@code --model}: a directory with config.json and safetensors weights (Wan's or diffusers' names), or
 * {@value #TINY_RANDOM}, a seeded random-weight pixel-space model of the Wan architecture that exercises the whole
 * pipeline on the CPU in seconds (its videos are structured noise: it is untrained), or {@value #TINY_DEMO}, the
 * trained tiny text-to-video model shipped in the jar ({@link BundledModel#TINY_DEMO}).
 */
final class ModelSource {
    /** The built-in random-weight model's name. */
    static final String TINY_RANDOM = "tiny-random";
    /** The trained tiny model shipped in the models jar. */
    static final String TINY_DEMO = "tiny-demo";
    /** Its config: dim 64, one head of 64 (a size the GPU flash kernels take), 2 layers, 3 colour channels, pixel space. */
    static final WanConfig TINY_RANDOM_CONFIG = WanConfig.tiny(64, 1, 2, 3, true);
    private static final long TINY_RANDOM_SEED = 20261203L;

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
     * @param model a model directory, {@value #TINY_RANDOM} or {@value #TINY_DEMO} (shipped in the jar)
     * @param log where the config's defaulted keys are reported
     * @param precision f32, or the DiT's stored dtypes
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
                        + " (config.json and *.safetensors), '" + TINY_DEMO + "' or '" + TINY_RANDOM + "'");
            }
        }
        ModelDirectory loaded = ModelDirectory.load(dir, precision);
        if (!loaded.checkpoint().configDefaults().isEmpty()) {
            log.println("config.json: defaults used for " + String.join(", ", loaded.checkpoint().configDefaults()));
            log.flush();
        }
        return loaded;
    }
}
