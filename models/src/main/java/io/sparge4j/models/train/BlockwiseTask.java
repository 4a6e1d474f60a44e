package io.sparge4j.models.train;

/**
 * A {@link TrainingTask} whose model runs transformer blocks one after another and can read their parameters from
 * {@link BlockParameters} instead of {@link #parameters()}: what a fully sharded trainer
 * ({@link ShardedTrainer.Strategy#FULL_SHARD}) needs to hold each block's parameters only while it runs.
 */
public interface BlockwiseTask extends TrainingTask {
    /**
     * @param name a parameter of {@link #parameters()}
     * @return the block that uses it, or -1 for the parameters used throughout (embeddings, head, text encoder)
     */
    int blockOf(String name);

    /** @return the number of blocks */
    int blocks();

    /**
     * From now on the trained model reads its blocks' parameters from {@code source}, and leaves the blocks'
     * gradients to it (they no longer reach the map given to {@link #computeGradients}); the block tensors of
     * {@link #parameters()} are not read and go stale until the trainer writes them back.
     *
     * @param source the blocks' parameters, or null to read {@link #parameters()} again
     */
    void readBlocksFrom(BlockParameters source);
}
