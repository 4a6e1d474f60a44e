package io.sparge4j.models.train;

import io.sparge4j.engine.tensor.Tensor;

import java.util.Map;

/**
 * A model and its objective, as the {@link Trainer} drives them. Implementations must be deterministic: the same
 * parameters and {@link MicroBatch} (in particular its seed) must give the same loss and gradients.
 */
public interface TrainingTask {

    /**
     * The trainable parameters, f32 and contiguous, by name (for the Wan DiT, its original Wan2.1 names). The
     * same tensors must be returned every time: the optimizer updates them in place, and checkpoints read and
     * restore them. Frozen weights (a distillation teacher) are not listed.
     *
     * @return the parameters, in a fixed order
     */
    Map<String, Tensor> parameters();

    /**
     * Runs one micro-batch forward and backward and ADDS the gradients of its loss into {@code gradients}
     * (zeroed by the trainer at the start of each step; the trainer averages them over the micro-batches).
     *
     * @param batch which micro-batch, and the seed its data and noise must be drawn from
     * @param gradients f32 tensors with the parameters' names and shapes
     * @return the micro-batch's loss, token count and extra metrics
     */
    StepResult computeGradients(MicroBatch batch, Map<String, Tensor> gradients);

    /**
     * A description saved in each checkpoint's JSON (model configuration, data settings); informational.
     *
     * @return values Jackson can write (strings, numbers, booleans, lists and maps of them)
     */
    default Map<String, Object> describe() {
        return Map.of();
    }
}
