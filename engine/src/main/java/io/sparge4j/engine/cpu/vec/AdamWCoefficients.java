package io.sparge4j.engine.cpu.vec;

/**
 * The per-step numbers of one AdamW update ({@link FloatKernels#adamW}), as the device's {@code AdamWKernels}
 * computes them once per step: the host and the device then do the same float arithmetic per element.
 *
 * @param decay {@code 1 - lr * weightDecay} (1 without decay)
 * @param beta1 the first moment's decay
 * @param beta2 the second moment's decay
 * @param oneMinusBeta1 {@code 1 - beta1}
 * @param oneMinusBeta2 {@code 1 - beta2}
 * @param eps added to the denominator
 * @param stepSize {@code lr / (1 - beta1^t)}
 * @param bc2Sqrt {@code sqrt(1 - beta2^t)}
 */
public record AdamWCoefficients(float decay, float beta1, float beta2, float oneMinusBeta1, float oneMinusBeta2,
        float eps, float stepSize, float bc2Sqrt) {
}
