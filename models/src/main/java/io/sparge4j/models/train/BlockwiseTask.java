package io.sparge4j.models.train;

import io.sparge4j.engine.distributed.CollectiveQueue;
import io.sparge4j.engine.distributed.Communicator;

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

    /**
     * Shards the task's frozen model too (a distillation teacher), its blocks gathered as they run like the trained
     * model's, the gathers on {@code queue}; every rank calls it together. Default: there is none.
     *
     * @param comm the ranks
     * @param queue the trainer's collective queue
     */
    default void shardFrozen(Communicator comm, CollectiveQueue queue) {
    }

    /** Undoes {@link #shardFrozen}: the frozen model reads its own parameters again. Default: nothing to undo. */
    default void unshardFrozen() {
    }

    /**
     * Frees the whole host copies of the blocks' parameters, the trained model's and, after {@link #shardFrozen},
     * the frozen model's: what lets each rank of a fully sharded run hold only its shard of the blocks, as PyTorch's
     * FSDP keeps only flat shards once a module is wrapped. Called by the trainer once the blocks are sharded and
     * read from a {@link BlockParameters} source. The freed tensors stay in {@link #parameters()} (their names and
     * shapes), closed: reading one throws, and the task cannot go back to reading its own blocks
     * ({@code readBlocksFrom(null)}, {@link #unshardFrozen}); the trainer's gathers give the blocks' values. Default:
     * the task keeps its copies.
     *
     * @return whether the copies were freed (the trainer then never writes the blocks back into them)
     */
    default boolean releaseBlocks() {
        return false;
    }
}
