package io.sparge4j.cli;

import io.sparge4j.engine.tensor.Tensor;
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
 * pipeline on the CPU in seconds (its videos are structured noise: it is untrained; the trained tiny-demo model
 * comes with the training issue).
 */
final class ModelSource {
    /** The built-in random-weight model's name. */
    static final String TINY_RANDOM = "tiny-random";
    /** Its config: dim 64, one head of 64 (a size the GPU flash kernels take), 2 layers, 3 colour channels, pixel space. */
    static final WanConfig TINY_RANDOM_CONFIG = WanConfig.tiny(64, 1, 2, 3, true);
    private static final long TINY_RANDOM_SEED = 20261203L;

    private ModelSource() {
    }

    /**
     * @param option the flag, for messages
     * @param model a directory or {@value #TINY_RANDOM}
     * @param log where the config's defaulted keys are reported
     * @param precision f32, or the checkpoint's own dtypes (a bf16 checkpoint stays bf16: half the memory)
     * @return the config and the weights, owned by the caller
     * @throws IOException if a file cannot be read
     * @throws IllegalArgumentException if the model is neither
     */
    static WanCheckpoint load(String option, String model, PrintWriter log, WanWeights.Precision precision)
            throws IOException {
        if (TINY_RANDOM.equals(model)) {
            Map<String, Tensor> weights = WanWeights.randomInit(TINY_RANDOM_CONFIG, TINY_RANDOM_SEED);
            return new WanCheckpoint(TINY_RANDOM_CONFIG, List.of(), weights);
        }
        Path dir = Path.of(model);
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException(option + ": got '" + model + "', expected a model directory (config.json"
                    + " and *.safetensors) or '" + TINY_RANDOM + "'");
        }
        WanCheckpoint checkpoint = WanWeights.load(dir, precision);
        if (!checkpoint.configDefaults().isEmpty()) {
            log.println("config.json: defaults used for " + String.join(", ", checkpoint.configDefaults()));
            log.flush();
        }
        return checkpoint;
    }
}
