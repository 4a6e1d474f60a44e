package io.sparge4j.models.train;

import io.sparge4j.engine.tensor.Tensor;

import java.util.Map;

/**
 * Where a {@link WanGraph} finds its transformer blocks' parameters when they are not kept whole (FSDP-style full
 * sharding, {@link ShardedTrainer.Strategy#FULL_SHARD}): the graph asks for block i's parameters just before it runs
 * the block (its forward, the recompute of a checkpointed block, its backward), gives them back just after, and hands
 * over the block's gradients as soon as its backward is done. The blocks come in order: 0, 1, ... in a forward, the
 * reverse in a backward, so that an implementation can fetch the next block while this one computes.
 */
public interface BlockParameters {
    /** Which pass asks: the next block is {@code block + 1} in a forward, {@code block - 1} in a backward. */
    enum Pass {
        /** A forward (or a prediction without a tape). */
        FORWARD,
        /** A backward, with the recompute of a checkpointed block. */
        BACKWARD
    }

    /**
     * @param block the block's index
     * @param pass which pass asks
     * @return the block's parameters under their full names ({@code blocks.i.*}), f32, valid until {@link #release}
     */
    Map<String, Tensor> acquire(int block, Pass pass);

    /**
     * The graph is done with the block's parameters until it acquires them again.
     *
     * @param block the block acquired last
     */
    void release(int block);

    /**
     * The gradients of one backward for the block's parameters, complete.
     *
     * @param block the block
     * @param grads its parameters' gradients by full name; the implementation owns and closes them
     */
    void gradientsReady(int block, Map<String, Tensor> grads);
}
