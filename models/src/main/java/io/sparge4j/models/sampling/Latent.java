package io.sparge4j.models.sampling;

import io.sparge4j.engine.tensor.Tensor;
import java.util.Arrays;
import java.util.Objects;

/**
 * A sampler's working latent: the values as a float array (f32, as the reference keeps its latents) plus the shape,
 * and the one place that calls the model and checks what it returns.
 */
final class Latent {
    private final int[] shape;
    private final float[] values;

    private Latent(int[] shape, float[] values) {
        this.shape = shape;
        this.values = values;
    }

    /** Copies {@code noise} into a new latent, checking the sampler's arguments on the way. */
    static Latent start(String sampler, VelocityModel model, Tensor noise, FlowSchedule schedule, StepListener listener) {
        Objects.requireNonNull(model, sampler + ": model must not be null");
        Objects.requireNonNull(noise, sampler + ": noise must not be null");
        Objects.requireNonNull(schedule, sampler + ": schedule must not be null");
        Objects.requireNonNull(listener, sampler + ": listener must not be null (use StepListener.NONE)");
        if (!noise.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException(sampler + ": noise must be a floating-point tensor, got " + noise.dtype());
        }
        if (noise.numel() > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(sampler + ": noise has " + noise.numel() + " elements, at most "
                    + (Integer.MAX_VALUE - 8) + " are supported");
        }
        return new Latent(noise.shape(), noise.toFloatArray());
    }

    /** @return the values, which the sampler updates in place */
    float[] values() {
        return values;
    }

    /** @return the element count */
    int size() {
        return values.length;
    }

    /**
     * Asks the model for the velocity at the current values.
     *
     * @return the velocity as floats, same length as the latent
     * @throws IllegalArgumentException if the model returns null or a tensor of another shape
     */
    float[] velocity(String sampler, VelocityModel model, double timestep, int step) {
        Tensor x = Tensor.of(values, shape);
        Tensor v;
        try {
            v = model.velocity(x, timestep, step);
        } finally {
            x.close();
        }
        if (v == null) {
            throw new IllegalArgumentException(sampler + ": the velocity model returned null at step " + step
                    + ", expected a tensor of shape " + Arrays.toString(shape));
        }
        try {
            if (!Arrays.equals(v.shape(), shape)) {
                throw new IllegalArgumentException(sampler + ": velocity v has shape " + Arrays.toString(v.shape())
                        + " at step " + step + ", expected the latent x's shape " + Arrays.toString(shape));
            }
            return v.toFloatArray();
        } finally {
            v.close();
        }
    }

    /** @return a new f32 tensor holding the current values */
    Tensor toTensor() {
        return Tensor.of(values, shape);
    }
}
