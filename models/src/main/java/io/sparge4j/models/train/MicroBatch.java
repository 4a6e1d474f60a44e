package io.sparge4j.models.train;

/**
 * Which micro-batch a {@link TrainingTask} is asked for, and the seed its data and noise must come from.
 *
 * @param step the optimizer step, counted from 0
 * @param micro the micro-batch within the step, in [0, microBatches)
 * @param microBatches micro-batches per step (gradient accumulation)
 * @param seed derived from the run's seed, the step and the micro-batch only ({@link #derive}), so a resumed run
 *     sees the same batches
 */
public record MicroBatch(long step, int micro, int microBatches, long seed) {
    private static final long GOLDEN_GAMMA = 0x9e3779b97f4a7c15L;

    /**
     * The micro-batch's seed: SplitMix64's mix of the run seed, the step and the micro-batch, each folded in
     * with its own finalisation so that nearby (step, micro) pairs give unrelated seeds.
     *
     * @param runSeed the run's seed
     * @param step the step
     * @param micro the micro-batch
     * @return the seed
     */
    public static long derive(long runSeed, long step, int micro) {
        long h = mix64(runSeed + GOLDEN_GAMMA);
        h = mix64(h ^ (step * GOLDEN_GAMMA + 1));
        return mix64(h ^ ((micro + 1L) * GOLDEN_GAMMA));
    }

    /**
     * The seed of clip {@code index} of this micro-batch when it holds several clips: clip 0 uses {@link #seed}
     * itself (so a batch of one draws what it always drew), later clips a mix of it and their index.
     *
     * @param index the clip, at least 0
     * @return the seed its clip, caption, noise and noise level come from
     */
    public long sampleSeed(int index) {
        if (index < 0) {
            throw new IllegalArgumentException("MicroBatch.sampleSeed: index is " + index + ", expected at least 0");
        }
        return index == 0 ? seed : mix64(mix64(seed ^ GOLDEN_GAMMA) ^ (index * GOLDEN_GAMMA));
    }

    /** SplitMix64's output function (Stafford's variant 13). */
    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
