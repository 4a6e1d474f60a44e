package io.sparge4j.models.eval;

import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanTransformer;

/**
 * Finds the mask hyperparameter that reaches a target attention sparsity on one input, by bisection over
 * {@value #FORWARDS} forwards: Top-p (topp and hybrid modes, Top-k kept) or Top-k (topk mode). Sparsity falls as
 * either grows, so the largest value tried whose forward reaches the target is kept; when none does, the last
 * midpoint is kept and the achieved sparsity shows the shortfall. As {@code model-bench --target-sparsity} does.
 */
public final class SparsityCalibration {
    /** Forwards per calibration: the parameter to within 2^-8. */
    public static final int FORWARDS = 8;

    private SparsityCalibration() {
    }

    /**
     * @param model the model (its weights; its attention is replaced)
     * @param attention the mode and the fixed parameters
     * @param target the sparsity to reach, in (0, 1)
     * @param x an input (C, F, H, W)
     * @param timestep its timestep
     * @param context text features
     * @return the attention with the calibrated parameter; unchanged for dense
     */
    public static WanAttention calibrate(WanTransformer model, WanAttention attention, double target, Tensor x,
            double timestep, Tensor context) {
        if (!(target > 0 && target < 1)) {
            throw new IllegalArgumentException("--target-sparsity: got " + target + ", expected a fraction in (0, 1)");
        }
        if (attention.mode() == MaskMode.DENSE) {
            return attention;
        }
        boolean topk = attention.mode() == MaskMode.TOPK;
        double lo = 0;
        double hi = 1;
        Double best = null;
        for (int i = 0; i < FORWARDS; i++) {
            double v = 0.5 * (lo + hi);
            WanAttention tried = topk ? attention.withTopk(v) : attention.withTopp(v);
            try (WanTransformer m = model.withAttention(tried)) {
                m.forward(x, timestep, context, attention.denseSteps()).close();   // past the dense steps
                if (m.stats().meanSparsity() >= target) {
                    best = v;
                    lo = v;
                } else {
                    hi = v;
                }
            }
        }
        double chosen = best != null ? best : 0.5 * (lo + hi);
        return topk ? attention.withTopk(chosen) : attention.withTopp(chosen);
    }
}
