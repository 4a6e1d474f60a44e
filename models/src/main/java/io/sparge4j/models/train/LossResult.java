package io.sparge4j.models.train;

import io.sparge4j.engine.tensor.Tensor;

/**
 * A scalar loss and its gradient with respect to the prediction it was computed from.
 *
 * @param loss the loss value
 * @param gradient dLoss/dPrediction, f32, shaped like the prediction; a new tensor the caller owns
 */
public record LossResult(double loss, Tensor gradient) {
}
