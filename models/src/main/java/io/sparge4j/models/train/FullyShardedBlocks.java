package io.sparge4j.models.train;

import io.sparge4j.engine.distributed.CollectiveQueue;
import io.sparge4j.engine.distributed.Communicator;
import io.sparge4j.engine.distributed.ShardedParameters;
import io.sparge4j.engine.tensor.Tensor;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Future;

/**
 * {@link BlockParameters} from a rank's shard, FSDP style: a block's parameters are all-gathered when the graph asks
 * for them and freed when it gives them back, so at most two blocks are whole at a time (the running one and the next,
 * fetched ahead); each backward's block gradients are reduce-scattered into the shard-sized gradient as soon as the
 * block is done. Gathers and reduce-scatters run on a {@link CollectiveQueue}, overlapping the graph's computation:
 * while block i computes, block i + 1's all-gather (i - 1's in a backward) and block i + 1's reduce-scatter are in
 * flight. Every rank runs the same blocks in the same order, so every rank queues the same collectives.
 */
final class FullyShardedBlocks implements BlockParameters, AutoCloseable {
    private final ShardedParameters sharded;
    private final Communicator comm;
    private final CollectiveQueue queue;
    private final int blocks;
    /** Null for a frozen model's blocks, which then own their shard (freed on close) and take no gradient. */
    private final Tensor gradient;
    private final Map<Integer, Future<Map<String, Tensor>>> ahead = new HashMap<>();
    private Map<String, Tensor> current;
    private int currentBlock = -1;
    private long gathers;
    private long prefetched;
    private int mostWhole;

    /**
     * @param sharded the shard, with one unit per block named {@link #unit}
     * @param comm the ranks
     * @param queue where the collectives run; nothing else calls {@code comm} while it holds work
     * @param blocks the number of blocks
     * @param gradient the shard-sized gradient the blocks' reduce-scatters add into; null for a frozen model's
     *     blocks ({@link #frozen})
     */
    FullyShardedBlocks(ShardedParameters sharded, Communicator comm, CollectiveQueue queue, int blocks,
            Tensor gradient) {
        this.sharded = sharded;
        this.comm = comm;
        this.queue = queue;
        this.blocks = blocks;
        this.gradient = gradient;
    }

    /**
     * The blocks of a frozen model (a distillation teacher), sharded here: gathered as they run, never given
     * gradients; every rank calls it together with the same values.
     *
     * @param params the frozen model's parameters; only the blocks' ({@link WanGraph#blockOf} at least 0) are
     *     sharded, and are not read afterwards
     * @param comm the ranks
     * @param queue where the gathers run (the trainer's, so that every rank queues in one order)
     * @param blocks the number of blocks
     * @return the blocks' source; close it to free the shard
     */
    static FullyShardedBlocks frozen(Map<String, Tensor> params, Communicator comm, CollectiveQueue queue,
            int blocks) {
        Map<String, Tensor> blockParams = new HashMap<>();
        params.forEach((name, t) -> {
            if (WanGraph.blockOf(name) >= 0) {
                blockParams.put(name, t);
            }
        });
        ShardedParameters shards = ShardedParameters.shard(blockParams, comm, name -> unit(WanGraph.blockOf(name)));
        return new FullyShardedBlocks(shards, comm, queue, blocks, null);
    }

    /** @return the unit key of block {@code i}'s parameters */
    static String unit(int block) {
        return "blocks." + block;
    }

    @Override
    public Map<String, Tensor> acquire(int block, Pass pass) {
        if (current != null) {
            throw new IllegalStateException("FullyShardedBlocks: block " + block + " acquired while block "
                    + currentBlock + " is held, expected release first");
        }
        Future<Map<String, Tensor>> f = ahead.remove(block);
        if (f == null) {
            f = gatherLater(block);
        } else {
            prefetched++;
        }
        int next = pass == Pass.FORWARD ? block + 1 : block - 1;
        if (next >= 0 && next < blocks && !ahead.containsKey(next)) {
            ahead.put(next, gatherLater(next));   // in flight while this block computes
        }
        current = CollectiveQueue.await(f);
        currentBlock = block;
        mostWhole = Math.max(mostWhole, 1 + ahead.size());
        return current;
    }

    private Future<Map<String, Tensor>> gatherLater(int block) {
        gathers++;
        return queue.submit(() -> sharded.gatherUnit(comm, unit(block)));
    }

    @Override
    public void release(int block) {
        if (current != null) {
            current.values().forEach(Tensor::close);
        }
        current = null;
        currentBlock = -1;
    }

    @Override
    public void gradientsReady(int block, Map<String, Tensor> grads) {
        if (gradient == null) {   // frozen
            grads.values().forEach(Tensor::close);
            throw new IllegalStateException("FullyShardedBlocks: block " + block + " of a frozen model got gradients,"
                    + " expected a frozen model to run forward only");
        }
        queue.submit(() -> {
            try {
                sharded.reduceScatterUnit(comm, unit(block), grads, gradient);
            } finally {
                grads.values().forEach(Tensor::close);
            }
            return null;
        });
    }

    /**
     * Frees blocks fetched ahead that no pass asked for (the forward's last look-ahead, or a failed pass's); waits
     * for the queue first. Every rank calls it at the same point.
     */
    void settle() {
        queue.drain();
        ahead.values().forEach(f -> CollectiveQueue.await(f).values().forEach(Tensor::close));
        ahead.clear();
    }

    /** @return all-gathers issued so far */
    long gathers() {
        return gathers;
    }

    /** @return acquires served by a gather issued ahead of time */
    long prefetched() {
        return prefetched;
    }

    /** @return the most blocks whole at one time (held and fetched ahead) */
    int mostWhole() {
        return mostWhole;
    }

    /**
     * Frees what this rank holds without waiting for the other ranks (after a failure they may never come): the held
     * block, and blocks fetched ahead whose gathers completed.
     */
    @Override
    public void close() {
        release(currentBlock);
        for (Future<Map<String, Tensor>> f : ahead.values()) {
            if (f.state() == Future.State.SUCCESS) {
                f.resultNow().values().forEach(Tensor::close);
            }
        }
        ahead.clear();
        if (gradient == null) {   // frozen
            sharded.close();
        }
    }
}
