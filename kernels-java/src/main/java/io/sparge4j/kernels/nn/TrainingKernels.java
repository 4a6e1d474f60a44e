package io.sparge4j.kernels.nn;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.types.arrays.FloatArray;

/**
 * The small kernels of a training step that the forward and backward ops do not have: the sum of squares of a
 * tensor (global gradient norm), the mean squared error with its gradient, in-place accumulation
 * {@code y += alpha x} (gradient accumulation) and the gradient clipping of {@code torch.nn.utils.clip_grad_norm_}
 * with the norm read on the device, so a step needs no host round trip.
 *
 * <p>Reductions are deterministic: a partial kernel on {@link #partialsGrid} (a fixed {@link #PARTIAL_GROUPS}
 * groups of {@link #GROUP}) has each work-item add a fixed strided subset of the elements and each group sum its
 * work-items with {@link GroupSums} into one partial; {@link #sumPartials}, one group on {@link #sumGrid}, adds the
 * partials the same way. The result depends only on n, never on timing.
 */
public final class TrainingKernels {
    /** Work-items per group of every kernel here. */
    public static final int GROUP = 256;
    /** Groups of the partial kernels: the number of partial sums each reduction writes. */
    public static final int PARTIAL_GROUPS = 64;

    private TrainingKernels() {
    }

    /**
     * {@code partials[offset + group] = sum x[i]^2} over this group's share of the n elements.
     * Grid: {@link #partialsGrid}.
     *
     * @param ctx the work-item
     * @param x the tensor (n)
     * @param n element count
     * @param partials the partial sums, written at {@code offset + groupIdx} for every group
     * @param offset where this tensor's partials start
     */
    public static void squarePartials(KernelContext ctx, FloatArray x, int n, FloatArray partials, int offset) {
        float[] warps = ctx.allocateFloatLocalArray(GroupSums.MAX_WARPS);
        float acc = 0f;
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            float v = x.get(i);
            acc = KernelMath.fma(v, v, acc);
        }
        float total = GroupSums.sum(ctx, warps, acc);
        if (ctx.localIdx == 0) {
            partials.set(offset + ctx.groupIdx, total);
        }
    }

    /**
     * The mean squared error's pieces: {@code grad[i] = gradScale * (pred[i] - target[i])} and
     * {@code partials[group] = sum (pred[i] - target[i])^2} over the group's share. With
     * {@code gradScale = 2 / n}, grad is the gradient of {@code mean((pred - target)^2)}. Grid: {@link #partialsGrid}.
     *
     * @param ctx the work-item
     * @param pred prediction (n)
     * @param target target (n)
     * @param grad the gradient with respect to pred (n), written
     * @param n element count
     * @param gradScale the factor of the difference in grad
     * @param partials the partial sums of squared differences, written at {@code groupIdx} for every group
     */
    public static void squaredErrorPartials(KernelContext ctx, FloatArray pred, FloatArray target, FloatArray grad,
            int n, float gradScale, FloatArray partials) {
        float[] warps = ctx.allocateFloatLocalArray(GroupSums.MAX_WARPS);
        float acc = 0f;
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            float diff = pred.get(i) - target.get(i);
            grad.set(i, gradScale * diff);
            acc = KernelMath.fma(diff, diff, acc);
        }
        float total = GroupSums.sum(ctx, warps, acc);
        if (ctx.localIdx == 0) {
            partials.set(ctx.groupIdx, total);
        }
    }

    /**
     * {@code out[outIndex] = scale * sum partials[0 .. count)}, in a fixed order. Grid: {@link #sumGrid} (one group).
     *
     * @param ctx the work-item
     * @param partials the partial sums
     * @param count how many
     * @param scale the factor of the sum (1 for a plain sum, 1 / n for a mean)
     * @param out written at {@code outIndex}
     * @param outIndex where
     */
    public static void sumPartials(KernelContext ctx, FloatArray partials, int count, float scale, FloatArray out,
            int outIndex) {
        float[] warps = ctx.allocateFloatLocalArray(GroupSums.MAX_WARPS);
        float acc = 0f;
        for (int i = ctx.localIdx; i < count; i += ctx.localGroupSizeX) {
            acc += partials.get(i);
        }
        float total = GroupSums.sum(ctx, warps, acc);
        if (ctx.localIdx == 0) {
            out.set(outIndex, scale * total);
        }
    }

    /**
     * {@code y[i] += alpha * x[i]} in place (one rounding: an fma). Grid: {@link ActivationKernels#grid} of n.
     *
     * @param ctx the work-item
     * @param x added (n)
     * @param y the accumulator (n), updated
     * @param alpha the factor of x
     * @param n element count
     */
    public static void axpy(KernelContext ctx, FloatArray x, FloatArray y, float alpha, int n) {
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            y.set(i, KernelMath.fma(alpha, x.get(i), y.get(i)));
        }
    }

    /**
     * {@code torch.nn.utils.clip_grad_norm_}'s scaling with the squared norm read on the device:
     * {@code coef = maxNorm / (sqrt(sumSquares[0]) + 1e-6)}; when {@code coef < 1}, {@code g[i] *= coef}.
     * Grid: {@link ActivationKernels#grid} of n.
     *
     * @param ctx the work-item
     * @param g a gradient (n), updated
     * @param n element count
     * @param sumSquares element 0: the sum of squares of every gradient (the squared global norm)
     * @param maxNorm the largest norm kept, above 0
     */
    public static void clipByNorm(KernelContext ctx, FloatArray g, int n, FloatArray sumSquares, float maxNorm) {
        float coef = maxNorm / (KernelMath.sqrt(sumSquares.get(0)) + 1e-6f);
        if (coef < 1f) {
            for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
                g.set(i, g.get(i) * coef);
            }
        }
    }

    /** @return the partial kernels' grid: {@link #PARTIAL_GROUPS} groups of {@link #GROUP} */
    public static WorkerGrid1D partialsGrid() {
        WorkerGrid1D g = new WorkerGrid1D((long) PARTIAL_GROUPS * GROUP);
        g.setLocalWork(GROUP, 1, 1);
        return g;
    }

    /** @return {@link #sumPartials}' grid: one group of {@link #GROUP} */
    public static WorkerGrid1D sumGrid() {
        WorkerGrid1D g = new WorkerGrid1D(GROUP);
        g.setLocalWork(GROUP, 1, 1);
        return g;
    }
}
