package io.sparge4j.kernels.nn;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.types.arrays.FloatArray;

/**
 * GELU (tanh form, as {@code io.sparge4j.engine.ops.Activations} and PyTorch's {@code approximate='tanh'}) and
 * SiLU, with their backward passes, element-wise on f32 arrays. Grid: {@link #grid} (any 1D grid works: the
 * kernels loop over it).
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
            float t = KernelMath.tanh(SQRT_2_OVER_PI * (v + CUBIC * v * v * v));
            y.set(i, 0.5f * v * (1f + t));
        }
    }

    /**
     * {@code dx = dy * gelu'(x)}, {@code gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)}.
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
            float t = KernelMath.tanh(SQRT_2_OVER_PI * (v + CUBIC * v2 * v));
            float du = SQRT_2_OVER_PI * (1f + 3f * CUBIC * v2);
            float d = 0.5f * (1f + t) + 0.5f * v * (1f - t * t) * du;
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
            float s = sigmoid(v);
            dx.set(i, dy.get(i) * (s * (1f + v * (1f - s))));
        }
    }

    /** {@code 1 / (1 + exp(-v))}: exp overflows to +inf below -88, which gives the right limit 0. */
    private static float sigmoid(float v) {
        return 1f / (1f + KernelMath.exp(-v));
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
