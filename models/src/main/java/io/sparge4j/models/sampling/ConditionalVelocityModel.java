package io.sparge4j.models.sampling;

import io.sparge4j.engine.tensor.Tensor;

/**
 * A text-conditioned flow model, such as the Wan DiT's forward pass: velocity at {@code x} given text features.
 *
 * <p>Ownership as in {@link VelocityModel}: {@code x} and {@code context} stay the caller's; the returned tensor is
 * handed to the caller.
 */
@FunctionalInterface
public interface ConditionalVelocityModel {

    /**
     * @param x the latent
     * @param timestep the model timestep on the 0-1000 scale
     * @param context text features, e.g. (text_len, text_dim)
     * @param step the 0-based denoising step
     * @return a fresh tensor with the predicted velocity, same shape as {@code x}
     */
    Tensor velocity(Tensor x, double timestep, Tensor context, int step);
}
