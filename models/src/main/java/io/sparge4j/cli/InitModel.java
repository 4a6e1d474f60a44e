package io.sparge4j.cli;

import io.sparge4j.models.pipeline.ModelDirectory;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.wan.WanWeights;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;

/**
 * The {@code --init} model of {@code sparge pretrain} and {@code sparge finetune}: where a run starts from (and
 * finetune's {@code --teacher}).
 */
final class InitModel {
    private InitModel() {
    }

    /**
     * @param model a model directory or {@value ModelSource#TINY_DEMO}
     * @param log where config defaults are reported
     * @return the model, its DiT widened to f32 (an f16 or bf16 export loads too), with its text encoder
     * @throws IllegalArgumentException naming {@code --init}, the model and what it lacks
     */
    static ModelDirectory load(String model, PrintWriter log) throws IOException {
        return load("--init", model, log);
    }

    /**
     * @param option the flag, for messages
     * @param model a model directory or {@value ModelSource#TINY_DEMO}
     * @param log where config defaults are reported
     * @return the model, its DiT in f32 ({@link WanWeights.Precision#F32_SHARED}: f32 tensors not copied but mapped
     *     copy-on-write), with its text encoder
     * @throws IllegalArgumentException naming the option, the model and what it lacks
     */
    static ModelDirectory load(String option, String model, PrintWriter log) throws IOException {
        ModelDirectory loaded;
        try {
            // shared: the ranks of a job (and a teacher loaded beside its student) map one copy of an f32 checkpoint
            loaded = ModelSource.open(option, model, log, WanWeights.Precision.F32_SHARED);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(e.getMessage().startsWith(option) ? e.getMessage()
                    : option + ": " + e.getMessage(), e);
        }
        if (loaded.textEncoder() == null) {
            loaded.close();
            throw new IllegalArgumentException(option + ": " + model + " has no " + TextEncoder.WEIGHTS_FILE
                    + ", expected a model directory with its text encoder (as sparge pretrain, finetune and export"
                    + " write it) or " + ModelSource.TINY_DEMO);
        }
        return loaded;
    }

    /** @return what run.json records, so that --resume finds the same model: a bundled name, else an absolute path */
    static String recorded(String model) {
        return ModelSource.TINY_DEMO.equals(model) ? model : Path.of(model).toAbsolutePath().toString();
    }
}
