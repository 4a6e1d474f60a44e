package io.sparge4j.engine.sparse;

/**
 * Finds the Top-p threshold (with k fixed) or the Top-k fraction (with p fixed) that gives a target sparsity on
 * sample queries and keys, by bisection: sparsity falls monotonically as either parameter grows.
 */
public final class Calibration {
    private static final int STEPS = 40;

    private Calibration() {
    }

    /**
     * The outcome of a calibration.
     *
     * @param k the Top-k fraction used
     * @param p the Top-p threshold used
     * @param sparsity the sparsity these give on the sample
     */
    public record Result(double k, double p, double sparsity) {
    }

    /**
     * Keeps k fixed and searches p in (0, 1] for the sparsity closest to {@code target}.
     *
     * @param map pooled map of sample queries and keys
     * @param mode HYBRID or TOPP (TOPP ignores k)
     * @param k fixed Top-k fraction
     * @param target target sparsity in [0, 1)
     * @return the p found and the sparsity it gives
     */
    public static Result calibrateP(PooledAttentionMap map, MaskMode mode, double k, double target) {
        checkTarget(target, mode, MaskMode.TOPP);
        return search(map, target, x -> BlockSelector.select(map, mode, k, x).sparsity(), (x, s) -> new Result(k, x, s));
    }

    /**
     * Keeps p fixed and searches k in (0, 1] for the sparsity closest to {@code target}.
     *
     * @param map pooled map of sample queries and keys
     * @param mode HYBRID or TOPK (TOPK ignores p)
     * @param p fixed Top-p threshold
     * @param target target sparsity in [0, 1)
     * @return the k found and the sparsity it gives
     */
    public static Result calibrateK(PooledAttentionMap map, MaskMode mode, double p, double target) {
        checkTarget(target, mode, MaskMode.TOPK);
        return search(map, target, x -> BlockSelector.select(map, mode, x, p).sparsity(), (x, s) -> new Result(x, p, s));
    }

    private static Result search(PooledAttentionMap map, double target, java.util.function.DoubleUnaryOperator sparsityAt,
            java.util.function.BiFunction<Double, Double, Result> make) {
        double lo = 1e-6;
        double hi = 1.0;
        double best = hi;
        double bestS = sparsityAt.applyAsDouble(hi);
        double sLo = sparsityAt.applyAsDouble(lo);
        if (Math.abs(sLo - target) < Math.abs(bestS - target)) {
            best = lo;
            bestS = sLo;
        }
        for (int step = 0; step < STEPS; step++) {
            double mid = 0.5 * (lo + hi);
            double s = sparsityAt.applyAsDouble(mid);
            if (Math.abs(s - target) < Math.abs(bestS - target)) {
                best = mid;
                bestS = s;
            }
            if (s > target) {
                lo = mid; // too sparse: keep more
            } else {
                hi = mid;
            }
        }
        return make.apply(best, bestS);
    }

    private static void checkTarget(double target, MaskMode mode, MaskMode single) {
        if (!(target >= 0 && target < 1)) {
            throw new IllegalArgumentException("target-sparsity: got " + target + ", expected a fraction in [0, 1)");
        }
        if (mode != MaskMode.HYBRID && mode != single) {
            throw new IllegalArgumentException("mode: got " + mode + " for calibration, expected hybrid or " + single);
        }
    }
}
