package io.sparge4j.kernels.nn;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.types.arrays.FloatArray;

/**
 * GELU (tanh form, as {@code io.sparge4j.engine.ops.Activations} and PyTorch's {@code approximate='tanh'}) and
 * SiLU, with their backward passes, element-wise on f32 arrays. Grid: {@link #grid} (any 1D grid works: the
 * kernels loop over it).
 *
 * <p>GELU is evaluated through the identity {@code 0.5 (1 + tanh(u)) = sigmoid(2u)}, and both backward passes
 * through {@code 1 - sigmoid(z) = e * sigmoid(z)} with {@code e = exp(-z)}: the same functions as the CPU op's, but
 * with no cancellation in {@code 1 + tanh(u)} or {@code 1 - tanh(u)^2}. That matters on devices whose tanh is a
 * few ulps off near +-1 (PoCL's {@code tanh(-35000)} is -0.99999994, which made the tanh-form GELU derivative of
 * x = -100 about 6e-3 instead of 0). {@code -z} is clamped to 87 so that e stays finite (exp(87) < FLT_MAX): below
 * z = -87 the sigmoid is then about 1.6e-38 instead of smaller, an absolute difference under 1e-37.
 */
public final class ActivationKernels {
    /** Work-group size of {@link #grid}. */
    public static final int GROUP = 256;
    /** Largest grid {@link #grid} returns; larger arrays are covered by the grid-stride loops. */
    public static final int MAX_GROUPS = 65536;

    /** sqrt(2 / pi), as the engine's CPU kernels round it. */
    private static final float SQRT_2_OVER_PI = 0.7978845608028654f;
    /** The cubic coefficient of the tanh approximation. */
    private static final float CUBIC = 0.044715f;
    /** Largest argument of exp in the sigmoids: exp(87) = 6.1e37 is below FLT_MAX. */
    private static final float MAX_EXP_ARG = 87f;

    private ActivationKernels() {
    }

    /**
     * {@code y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))}.
     *
     * @param ctx the work-item
     * @param x input
     * @param y output, written
     * @param n element count
     */
    public static void gelu(KernelContext ctx, FloatArray x, FloatArray y, int n) {
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            float v = x.get(i);
            y.set(i, v * sigmoid(2f * SQRT_2_OVER_PI * (v + CUBIC * v * v * v)));
        }
    }

    /**
     * {@code dx = dy * gelu'(x)}, {@code gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) u'} with
     * {@code t = tanh(u)}, {@code u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)}, evaluated as {@code s + 2 x s (1 - s) u'}
     * with {@code s = sigmoid(2u)}.
     *
     * @param ctx the work-item
     * @param dy upstream gradient
     * @param x the forward input
     * @param dx input gradient, written
     * @param n element count
     */
    public static void geluBackward(KernelContext ctx, FloatArray dy, FloatArray x, FloatArray dx, int n) {
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            float v = x.get(i);
            float v2 = v * v;
            float z = 2f * SQRT_2_OVER_PI * (v + CUBIC * v2 * v);
            float e = expNegClamped(z);
            float s = 1f / (1f + e);
            float du = SQRT_2_OVER_PI * (1f + 3f * CUBIC * v2);
            float d = s + 2f * v * s * (e * s) * du;
            dx.set(i, dy.get(i) * d);
        }
    }

    /**
     * {@code y = x * sigmoid(x)}.
     *
     * @param ctx the work-item
     * @param x input
     * @param y output, written
     * @param n element count
     */
    public static void silu(KernelContext ctx, FloatArray x, FloatArray y, int n) {
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            float v = x.get(i);
            y.set(i, v * sigmoid(v));
        }
    }

    /**
     * {@code dx = dy * s (1 + x (1 - s))}, {@code s = sigmoid(x)}.
     *
     * @param ctx the work-item
     * @param dy upstream gradient
     * @param x the forward input
     * @param dx input gradient, written
     * @param n element count
     */
    public static void siluBackward(KernelContext ctx, FloatArray dy, FloatArray x, FloatArray dx, int n) {
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            float v = x.get(i);
            float e = expNegClamped(v);
            float s = 1f / (1f + e);
            dx.set(i, dy.get(i) * (s * (1f + v * (e * s))));
        }
    }

    /** {@code 1 / (1 + exp(-z))}, with exp's argument clamped as in the class comment. */
    private static float sigmoid(float z) {
        return 1f / (1f + expNegClamped(z));
    }

    /** {@code exp(min(-z, 87))}: finite, so that {@code e * sigmoid(z)} is never inf * 0. */
    private static float expNegClamped(float z) {
        return KernelMath.exp(KernelMath.min(-z, MAX_EXP_ARG));
    }

    /**
     * @param n element count
     * @return a 1D grid of {@link #GROUP}-wide groups covering n (capped at {@link #MAX_GROUPS} groups)
     */
    public static WorkerGrid1D grid(long n) {
        long groups = Math.min(MAX_GROUPS, Math.max(1, (n + GROUP - 1) / GROUP));
        WorkerGrid1D g = new WorkerGrid1D(groups * GROUP);
        g.setLocalWork(GROUP, 1, 1);
        return g;
    }
}
