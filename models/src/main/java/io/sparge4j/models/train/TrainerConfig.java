package io.sparge4j.models.train;

/**
 * Everything that decides a training run's numbers; saved in every checkpoint and restored on resume.
 *
 * @param steps optimizer steps of the whole run, at least 1
 * @param microBatches micro-batches accumulated per step, at least 1
 * @param seed the run's seed; each micro-batch's seed derives from it ({@link MicroBatch#derive})
 * @param maxGradNorm global gradient-norm clip, above 0; 0 measures the norm without clipping
 * @param optimizer AdamW's hyperparameters
 * @param schedule the learning rate of each step
 * @param checkpointEvery save a checkpoint after every this many steps (0: only when a run call ends)
 * @param keepLast checkpoints kept on disk, at least 1
 * @param historyTail step logs kept in each checkpoint's JSON, at least 0
 */
public record TrainerConfig(long steps, int microBatches, long seed, double maxGradNorm, AdamWConfig optimizer,
        LrSchedule schedule, long checkpointEvery, int keepLast, int historyTail) {

    /** Checks every field, naming the one that is wrong. */
    public TrainerConfig {
        check(steps >= 1, "steps", steps, "at least 1");
        check(microBatches >= 1, "microBatches", microBatches, "at least 1");
        check(Double.isFinite(maxGradNorm) && maxGradNorm >= 0, "maxGradNorm", maxGradNorm,
                "a finite number >= 0 (0: no clipping)");
        check(optimizer != null, "optimizer", null, "an AdamWConfig");
        check(schedule != null, "schedule", null, "an LrSchedule");
        check(checkpointEvery >= 0, "checkpointEvery", checkpointEvery, "at least 0 (0: only at the end)");
        check(keepLast >= 1, "keepLast", keepLast, "at least 1");
        check(historyTail >= 0, "historyTail", historyTail, "at least 0");
    }

    /**
     * A configuration with one micro-batch, checkpoints only at the end, the last 3 kept and 100 logs per
     * checkpoint.
     *
     * @param steps the run's steps
     * @param seed the run's seed
     * @param maxGradNorm the clip (0: none)
     * @param optimizer AdamW's hyperparameters
     * @param schedule the learning rates
     * @return the configuration
     */
    public static TrainerConfig of(long steps, long seed, double maxGradNorm, AdamWConfig optimizer,
            LrSchedule schedule) {
        return new TrainerConfig(steps, 1, seed, maxGradNorm, optimizer, schedule, 0, 3, 100);
    }

    /** @return a copy with another micro-batch count */
    public TrainerConfig withMicroBatches(int count) {
        return new TrainerConfig(steps, count, seed, maxGradNorm, optimizer, schedule, checkpointEvery, keepLast,
                historyTail);
    }

    /** @return a copy that checkpoints every {@code every} steps and keeps the last {@code keep} */
    public TrainerConfig withCheckpoints(long every, int keep) {
        return new TrainerConfig(steps, microBatches, seed, maxGradNorm, optimizer, schedule, every, keep,
                historyTail);
    }

    /**
     * The same run with another total step count (to extend a run on resume). A cosine schedule whose end was the
     * run's end ({@code schedule.totalSteps() == steps()}) is stretched to the new end, so it still reaches its floor
     * at the last step (the steps already taken keep the rates they had); any other schedule is kept as it is, so a
     * schedule that is constant after warm-up gives exactly the rates of a run started with the larger total.
     *
     * @param newSteps the run's new total, at least 1
     * @return the copy
     */
    public TrainerConfig withSteps(long newSteps) {
        check(newSteps >= 1, "steps", newSteps, "at least 1");
        LrSchedule s = schedule;
        if (s.kind() == LrSchedule.Kind.COSINE && s.totalSteps() == steps) {
            s = new LrSchedule(s.kind(), s.baseLr(), s.warmupSteps(), newSteps, s.minLr());
        }
        return new TrainerConfig(newSteps, microBatches, seed, maxGradNorm, optimizer, s, checkpointEvery, keepLast,
                historyTail);
    }

    private static void check(boolean ok, String field, Object got, String expected) {
        if (!ok) {
            throw new IllegalArgumentException("TrainerConfig: " + field + " is " + got + ", expected " + expected);
        }
    }
}
