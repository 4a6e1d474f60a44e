package io.sparge4j.models.sampling;

import io.sparge4j.engine.tensor.Tensor;
import java.util.Arrays;
import java.util.Objects;

/**
 * Classifier-free guidance, as in Wan-Video/Wan2.1 {@code wan/text2video.py}: the model runs once with the prompt's
 * features and once with the negative ones, and
 * {@code v = v_uncond + guidance * (v_cond - v_uncond)} (computed in double, rounded to f32).
 *
 * <p>Wan's default negative is the encoded {@code sample_neg_prompt}; without a text encoder the caller passes
 * negative features, or {@link #withZeroNegative} uses zeros of the context's shape. At guidance exactly 1 the
 * formula reduces to {@code v_cond}, so the unconditional pass is skipped.
 *
 * <p>This class does not own the contexts; the caller closes them after sampling.
 */
public final class ClassifierFreeGuidance implements VelocityModel {
    private final ConditionalVelocityModel model;
    private final Tensor context;
    private final Tensor negativeContext;
    private final double guidance;

    /**
     * @param model the conditional model
     * @param context the prompt's text features
     * @param negativeContext the negative prompt's features, same shape as {@code context}
     * @param guidance the guidance scale (Wan uses 5.0); any finite number
     * @throws IllegalArgumentException if the contexts' shapes differ or the guidance is not finite
     */
    public ClassifierFreeGuidance(ConditionalVelocityModel model, Tensor context, Tensor negativeContext,
                                  double guidance) {
        this.model = Objects.requireNonNull(model, "ClassifierFreeGuidance: model must not be null");
        this.context = Objects.requireNonNull(context, "ClassifierFreeGuidance: context must not be null");
        this.negativeContext = Objects.requireNonNull(negativeContext,
                "ClassifierFreeGuidance: negativeContext must not be null (use withZeroNegative for zeros)");
        if (!Arrays.equals(context.shape(), negativeContext.shape())) {
            throw new IllegalArgumentException("ClassifierFreeGuidance: negativeContext has shape "
                    + Arrays.toString(negativeContext.shape()) + ", expected the context's shape "
                    + Arrays.toString(context.shape()));
        }
        if (!Double.isFinite(guidance)) {
            throw new IllegalArgumentException("ClassifierFreeGuidance: guidance must be finite, got " + guidance);
        }
        this.guidance = guidance;
    }

    /**
     * Guidance against zero text features, for when no negative prompt or embeddings are given.
     *
     * @param model the conditional model
     * @param context the prompt's features
     * @param guidance the guidance scale
     * @return the guided model; it owns the zero tensor, which lives until it is collected
     */
    public static ClassifierFreeGuidance withZeroNegative(ConditionalVelocityModel model, Tensor context,
                                                          double guidance) {
        Objects.requireNonNull(context, "ClassifierFreeGuidance: context must not be null");
        return new ClassifierFreeGuidance(model, context, Tensor.zeros(context.shape()), guidance);
    }

    /** @return the guidance scale */
    public double guidance() {
        return guidance;
    }

    /** @return the negative context in use (the zeros made by {@link #withZeroNegative}, if so) */
    public Tensor negativeContext() {
        return negativeContext;
    }

    @Override
    public Tensor velocity(Tensor x, double timestep, int step) {
        Tensor cond = model.velocity(x, timestep, context, step);
        checkShape("conditional", cond, x, step);
        if (guidance == 1.0) {
            return cond;
        }
        try (Tensor uncond = model.velocity(x, timestep, negativeContext, step)) {
            checkShape("unconditional", uncond, x, step);
            float[] c = cond.toFloatArray();
            float[] u = uncond.toFloatArray();
            float[] v = new float[c.length];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (u[i] + guidance * ((double) c[i] - u[i]));
            }
            return Tensor.of(v, x.shape());
        } finally {
            cond.close();
        }
    }

    private static void checkShape(String which, Tensor v, Tensor x, int step) {
        if (v == null) {
            throw new IllegalArgumentException("ClassifierFreeGuidance: the " + which
                    + " velocity is null at step " + step + ", expected shape " + Arrays.toString(x.shape()));
        }
        if (!Arrays.equals(v.shape(), x.shape())) {
            throw new IllegalArgumentException("ClassifierFreeGuidance: the " + which + " velocity has shape "
                    + Arrays.toString(v.shape()) + " at step " + step + ", expected x's shape "
                    + Arrays.toString(x.shape()));
        }
    }
}
