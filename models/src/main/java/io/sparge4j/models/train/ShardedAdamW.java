package io.sparge4j.models.train;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.distributed.ShardedParameters;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.nn.AdamWKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@link AdamW} on one rank's shard of ZeRO-style flat parameters ({@link ShardedParameters}): the moments have the
 * shard's size, and weight decay is chosen per element from the name of the parameter the element belongs to
 * ({@link AdamWConfig#decays}, the rule {@link AdamW} applies per parameter). The per-element arithmetic is
 * {@link AdamW}'s own ({@link AdamW#update}), so a shard updated with the same gradient gives the same bits as the
 * unsharded optimizer. Padding elements (past the last parameter) are never touched.
 */
public final class ShardedAdamW implements AutoCloseable {
    /** Elements per parallel work item, as in {@link AdamW}. */
    private static final int CHUNK = 16384;

    private final AdamWConfig config;
    private final Tensor shard;
    private final Tensor expAvg;
    private final Tensor expAvgSq;
    /** Work items {from, length, AdamWConfig#group} in shard coordinates; none crosses a parameter boundary. */
    private final List<long[]> chunks = new ArrayList<>();
    private long steps;

    /**
     * @param config hyperparameters and the weight-decay rule
     * @param sharded this rank's shard (updated in place at each {@link #step}) and the layout
     * @param parameters the full parameters by name (only their names and ranks are read, to choose weight decay)
     * @throws IllegalArgumentException if an argument is null or a laid-out parameter is missing
     */
    public ShardedAdamW(AdamWConfig config, ShardedParameters sharded, Map<String, Tensor> parameters) {
        if (config == null || sharded == null || parameters == null) {
            throw new IllegalArgumentException("ShardedAdamW: config, sharded and parameters must not be null, got "
                    + config + ", " + sharded + ", " + (parameters == null ? null : parameters.keySet()));
        }
        this.config = config;
        this.shard = sharded.shard();
        for (ShardedParameters.Piece piece : sharded.pieces()) {
            Tensor p = parameters.get(piece.name());
            if (p == null) {
                throw new IllegalArgumentException("ShardedAdamW: parameters has no '" + piece.name()
                        + "', expected every laid-out parameter (to choose its weight decay)");
            }
            long group = config.group(piece.name(), p);
            for (long i = 0; i < piece.length(); i += CHUNK) {
                chunks.add(new long[] {piece.shardOffset() + i, Math.min(CHUNK, piece.length() - i), group});
            }
        }
        this.expAvg = Tensor.allocate(DType.F32, sharded.shardSize());
        this.expAvgSq = Tensor.allocate(DType.F32, sharded.shardSize());
    }

    /** @return the hyperparameters */
    public AdamWConfig config() {
        return config;
    }

    /** @return the steps taken */
    public long steps() {
        return steps;
    }

    /** @return this shard's first moments, f32 (shardSize); owned by the optimizer */
    public Tensor expAvg() {
        return expAvg;
    }

    /** @return this shard's second moments, f32 (shardSize); owned by the optimizer */
    public Tensor expAvgSq() {
        return expAvgSq;
    }

    /**
     * One AdamW step on the shard.
     *
     * @param gradient this shard's gradient, f32 with the shard's element count (read, not changed)
     * @param lr this step's learning rate, finite and at least 0
     * @throws IllegalArgumentException if the gradient does not fit the shard or lr is bad
     */
    public void step(Tensor gradient, double lr) {
        if (gradient == null || gradient.dtype() != DType.F32 || gradient.numel() != shard.numel()) {
            throw new IllegalArgumentException("ShardedAdamW.step: gradient is " + (gradient == null ? "null"
                    : gradient.dtype() + " with " + gradient.numel() + " elements") + ", expected f32 with "
                    + shard.numel() + " elements (the shard's)");
        }
        long t = steps + 1;
        FloatArray[] hyper = config.hyperparameters(lr, t);
        MemorySegment p = shard.segment();
        MemorySegment m = expAvg.segment();
        MemorySegment v = expAvgSq.segment();
        MemorySegment g = gradient.segment();
        CpuRuntime.parallelForRange(chunks.size(), 1, (c0, c1) -> {
            for (int c = c0; c < c1; c++) {
                long[] chunk = chunks.get(c);
                AdamW.update(p, m, v, g, hyper[(int) chunk[2]], chunk[0], (int) chunk[1]);
            }
        });
        steps = t;
    }

    /**
     * Replaces the moments and step count, for resuming; values are copied.
     *
     * @param savedExpAvg first moments, f32 with the shard's element count
     * @param savedExpAvgSq second moments, the same
     * @param savedSteps the steps already taken, at least 0
     */
    void restore(Tensor savedExpAvg, Tensor savedExpAvgSq, long savedSteps) {
        if (savedSteps < 0) {
            throw new IllegalArgumentException("ShardedAdamW.restore: steps is " + savedSteps + ", expected at least 0");
        }
        expAvg.copyFrom(savedExpAvg.reshape(shard.shape()));
        expAvgSq.copyFrom(savedExpAvgSq.reshape(shard.shape()));
        steps = savedSteps;
    }

    /** Frees the moments (the shard belongs to its {@link ShardedParameters}). */
    @Override
    public void close() {
        expAvg.close();
        expAvgSq.close();
    }
}
