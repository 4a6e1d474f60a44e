package io.sparge4j.models.train;

import io.sparge4j.engine.tensor.Tensor;

import java.util.Map;

/**
 * The blocks of a model whose whole host copies were freed ({@link BlockwiseTask#releaseBlocks}) after the fully
 * sharded trainer holding their shards closed: every request fails with what happened and where the values are.
 */
final class ReleasedBlocks implements BlockParameters {
    private final String model;

    /** @param model which model's blocks, for the message (e.g. "WanTrainingTask's student") */
    ReleasedBlocks(String model) {
        this.model = model;
    }

    @Override
    public Map<String, Tensor> acquire(int block, Pass pass) {
        throw new IllegalStateException(model + ": block " + block + "'s parameters were released to a fully sharded"
                + " trainer (ShardedTrainer FULL_SHARD), which is closed; their trained values are in its checkpoint"
                + " and in what ShardedTrainer.gatherBlocks returned; build a new task from those to run the model"
                + " again");
    }

    @Override
    public void release(int block) {
    }

    @Override
    public void gradientsReady(int block, Map<String, Tensor> grads) {
        grads.values().forEach(Tensor::close);
        throw new IllegalStateException(model + ": block " + block + " got gradients after its parameters were"
                + " released to a closed fully sharded trainer");
    }
}
