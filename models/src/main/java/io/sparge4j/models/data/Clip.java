package io.sparge4j.models.data;

import io.sparge4j.engine.tensor.Tensor;

/**
 * One generated clip.
 *
 * @param index the clip's index in its generator's sequence
 * @param video {@code (3, F, H, W)} f32 RGB in [-1, 1] (a pixel-space Wan model's layout); the caller owns it
 * @param attributes what the clip shows
 * @param caption its caption, for example "a red circle moving left"
 */
public record Clip(long index, Tensor video, ClipAttributes attributes, String caption) {
}
