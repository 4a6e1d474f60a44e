package io.sparge4j.models.sampling;

import io.sparge4j.engine.tensor.Tensor;

/**
 * A flow-matching model seen by a sampler: it predicts the velocity {@code noise - x0} at a latent.
 *
 * <p>Ownership: the sampler owns {@code x} and may close it once the call returns, so the model must not
 * keep it. The returned tensor is handed to the sampler, which closes it after reading; return a fresh tensor
 * of the same shape as {@code x}, never {@code x} itself or a tensor kept elsewhere.
 */
@FunctionalInterface
public interface VelocityModel {

    /**
     * Predicts the velocity at {@code x}.
     *
     * @param x the current latent, shape as the sampler's noise
     * @param timestep the model's timestep on the 0-1000 scale (see {@link FlowSchedule#timestep(int)})
     * @param step the 0-based index of the denoising step, so callers can keep early steps dense
     * @return the predicted velocity, same shape as {@code x}
     */
    Tensor velocity(Tensor x, double timestep, int step);
}
