package io.sparge4j.models.train;

import io.sparge4j.engine.tensor.Tensor;

/**
 * A clean sample noised to one flow-matching level, with the timestep the model is given there.
 *
 * @param xt {@code (1 - sigma) x0 + sigma noise}, f32, a new tensor the caller owns
 * @param sigma the noise level in [0, 1] (an f32 value, as the sampler keeps its sigmas)
 * @param timestep the model's timestep on the 0-1000 scale
 */
public record NoisySample(Tensor xt, double sigma, double timestep) {
}
