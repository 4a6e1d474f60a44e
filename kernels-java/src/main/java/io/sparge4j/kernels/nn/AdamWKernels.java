package io.sparge4j.kernels.nn;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.types.arrays.FloatArray;

/**
 * One AdamW step on f32 parameters and states, with PyTorch's semantics ({@code torch.optim.AdamW}, not
 * amsgrad, not maximize): decoupled weight decay {@code p *= 1 - lr * wd}, then {@code m = b1 m + (1 - b1) g},
 * {@code v = b2 v + (1 - b2) g^2}, and {@code p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)} with
 * {@code bc1 = 1 - b1^step}, {@code bc2 = 1 - b2^step}.
 *
 * <p>The step-dependent scalars travel in a small device array of {@link #HYPER_SIZE} floats built by
 * {@link #hyperparameters} (in float64, rounded once), so one task graph serves every step: update the array on
 * the host and transfer it with the step. Grid: {@link ActivationKernels#grid} of n.
 */
public final class AdamWKernels {
    /** Index in the hyperparameter array: the decay factor {@code 1 - lr * weightDecay}. */
    public static final int DECAY = 0;
    /** Index: beta1. */
    public static final int BETA1 = 1;
    /** Index: beta2. */
    public static final int BETA2 = 2;
    /** Index: {@code 1 - beta1}, rounded from float64 (1 - 0.999f in float would be 5e-5 off, relatively). */
    public static final int ONE_MINUS_BETA1 = 3;
    /** Index: {@code 1 - beta2}, rounded from float64. */
    public static final int ONE_MINUS_BETA2 = 4;
    /** Index: eps. */
    public static final int EPS = 5;
    /** Index: the step size {@code lr / (1 - beta1^step)}. */
    public static final int STEP_SIZE = 6;
    /** Index: {@code sqrt(1 - beta2^step)}. */
    public static final int BC2_SQRT = 7;
    /** Length of the hyperparameter array. */
    public static final int HYPER_SIZE = 8;

    private AdamWKernels() {
    }

    /**
     * One step, element-wise over n parameters.
     *
     * @param ctx the work-item
     * @param param parameters, updated
     * @param grad gradients
     * @param m first moments, updated
     * @param v second moments, updated
     * @param hyper {@link #hyperparameters} of this step
     * @param n element count
     */
    public static void adamW(KernelContext ctx, FloatArray param, FloatArray grad, FloatArray m, FloatArray v,
            FloatArray hyper, int n) {
        float decay = hyper.get(DECAY);
        float beta1 = hyper.get(BETA1);
        float beta2 = hyper.get(BETA2);
        float oneMinusBeta1 = hyper.get(ONE_MINUS_BETA1);
        float oneMinusBeta2 = hyper.get(ONE_MINUS_BETA2);
        float eps = hyper.get(EPS);
        float stepSize = hyper.get(STEP_SIZE);
        float bc2Sqrt = hyper.get(BC2_SQRT);
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            float g = grad.get(i);
            float mi = KernelMath.fma(beta1, m.get(i), oneMinusBeta1 * g);
            float vi = KernelMath.fma(beta2, v.get(i), oneMinusBeta2 * g * g);
            float denom = KernelMath.sqrt(vi) / bc2Sqrt + eps;
            m.set(i, mi);
            v.set(i, vi);
            param.set(i, param.get(i) * decay - stepSize * mi / denom);
        }
    }

    /**
     * Builds the hyperparameter array of one step, in float64 rounded to float.
     *
     * @param lr learning rate, finite and at least 0
     * @param beta1 in [0, 1)
     * @param beta2 in [0, 1)
     * @param eps finite, above 0
     * @param weightDecay finite, at least 0
     * @param step the step number, from 1
     * @param out an array of at least {@link #HYPER_SIZE} floats, written
     */
    public static void hyperparameters(double lr, double beta1, double beta2, double eps, double weightDecay,
            long step, FloatArray out) {
        check(Double.isFinite(lr) && lr >= 0, "lr", lr, "a finite number >= 0");
        check(beta1 >= 0 && beta1 < 1, "beta1", beta1, "in [0, 1)");
        check(beta2 >= 0 && beta2 < 1, "beta2", beta2, "in [0, 1)");
        check(Double.isFinite(eps) && eps > 0, "eps", eps, "a finite number > 0");
        check(Double.isFinite(weightDecay) && weightDecay >= 0, "weightDecay", weightDecay, "a finite number >= 0");
        check(step >= 1, "step", step, "at least 1");
        check(out.getSize() >= HYPER_SIZE, "out size", out.getSize(), "at least " + HYPER_SIZE);
        out.set(DECAY, (float) (1 - lr * weightDecay));
        out.set(BETA1, (float) beta1);
        out.set(BETA2, (float) beta2);
        out.set(ONE_MINUS_BETA1, (float) (1 - beta1));
        out.set(ONE_MINUS_BETA2, (float) (1 - beta2));
        out.set(EPS, (float) eps);
        out.set(STEP_SIZE, (float) (lr / (1 - Math.pow(beta1, step))));
        out.set(BC2_SQRT, (float) Math.sqrt(1 - Math.pow(beta2, step)));
    }

    private static void check(boolean ok, String name, Object got, String expected) {
        if (!ok) {
            throw new IllegalArgumentException("AdamWKernels.hyperparameters: " + name + " is " + got + ", expected "
                    + expected);
        }
    }
}
