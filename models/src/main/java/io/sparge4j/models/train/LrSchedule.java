package io.sparge4j.models.train;

/**
 * The learning rate of each optimizer step, a pure function of the step index (so a resumed run gets exactly the
 * rates an uninterrupted one would).
 *
 * <p>Step {@code s} (counted from 0) first warms up linearly, {@code lr = baseLr * (s + 1) / warmupSteps} for
 * {@code s < warmupSteps} (so the first step is not wasted at 0, and step {@code warmupSteps - 1} reaches
 * {@code baseLr}). After that:
 * <ul>
 *   <li>{@link Kind#CONSTANT}: {@code baseLr};</li>
 *   <li>{@link Kind#COSINE}: {@code minLr + (baseLr - minLr) (1 + cos(pi q)) / 2} with
 *       {@code q = (s - warmupSteps) / max(1, totalSteps - 1 - warmupSteps)}, clamped to [0, 1]: {@code baseLr}
 *       right after warm-up, {@code minLr} at the last step {@code totalSteps - 1} and after it.</li>
 * </ul>
 *
 * @param kind constant or cosine after warm-up
 * @param baseLr the peak rate, finite and at least 0
 * @param warmupSteps steps of linear warm-up, at least 0
 * @param totalSteps the run's step count, at least 1 (only the cosine uses it)
 * @param minLr the cosine's floor, in [0, baseLr] (ignored by the constant schedule)
 */
public record LrSchedule(Kind kind, double baseLr, long warmupSteps, long totalSteps, double minLr) {

    /** The shape after warm-up. */
    public enum Kind {
        /** Flat at the base rate. */
        CONSTANT,
        /** Half a cosine from the base rate down to the floor. */
        COSINE
    }

    /** Validates every field, naming the one that is wrong. */
    public LrSchedule {
        check(kind != null, "kind", null, "CONSTANT or COSINE");
        check(Double.isFinite(baseLr) && baseLr >= 0, "baseLr", baseLr, "a finite number >= 0");
        check(warmupSteps >= 0, "warmupSteps", warmupSteps, "at least 0");
        check(totalSteps >= 1, "totalSteps", totalSteps, "at least 1");
        check(Double.isFinite(minLr) && minLr >= 0 && minLr <= baseLr, "minLr", minLr, "in [0, baseLr=" + baseLr + "]");
    }

    /**
     * @param lr the rate of every step
     * @return a constant schedule with no warm-up
     */
    public static LrSchedule constant(double lr) {
        return new LrSchedule(Kind.CONSTANT, lr, 0, 1, 0);
    }

    /**
     * @param lr the rate after warm-up
     * @param warmupSteps steps of linear warm-up
     * @return a constant schedule with warm-up
     */
    public static LrSchedule constant(double lr, long warmupSteps) {
        return new LrSchedule(Kind.CONSTANT, lr, warmupSteps, Math.max(1, warmupSteps), 0);
    }

    /**
     * @param baseLr the peak rate
     * @param warmupSteps steps of linear warm-up
     * @param totalSteps the run's step count
     * @param minLr the floor reached at the last step
     * @return a warm-up then cosine schedule
     */
    public static LrSchedule warmupCosine(double baseLr, long warmupSteps, long totalSteps, double minLr) {
        return new LrSchedule(Kind.COSINE, baseLr, warmupSteps, totalSteps, minLr);
    }

    /**
     * @param step the optimizer step, counted from 0
     * @return its learning rate
     * @throws IllegalArgumentException if step is negative
     */
    public double lr(long step) {
        if (step < 0) {
            throw new IllegalArgumentException("LrSchedule.lr: step is " + step + ", expected at least 0");
        }
        if (step < warmupSteps) {
            return baseLr * (step + 1) / warmupSteps;
        }
        if (kind == Kind.CONSTANT) {
            return baseLr;
        }
        double span = Math.max(1, totalSteps - 1 - warmupSteps);
        double q = Math.min(1.0, (step - warmupSteps) / span);
        return minLr + (baseLr - minLr) * 0.5 * (1 + Math.cos(Math.PI * q));
    }

    private static void check(boolean ok, String field, Object got, String expected) {
        if (!ok) {
            throw new IllegalArgumentException("LrSchedule: " + field + " is " + got + ", expected " + expected);
        }
    }
}
