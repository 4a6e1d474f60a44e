package io.sparge4j.models.train;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.distributed.CollectiveQueue;
import io.sparge4j.engine.distributed.Communicator;
import io.sparge4j.engine.distributed.HostValues;
import io.sparge4j.engine.distributed.ShardedParameters;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Data-parallel training over a {@link Communicator}, ZeRO style: every rank holds the full parameters to compute
 * with, but owns one shard of the flat parameters, of the gradient and of AdamW's moments ({@link ShardedParameters},
 * {@link ShardedAdamW}). It computes the same numbers as the single-process {@link Trainer} at the same global batch
 * ({@link TrainerConfig#microBatches}), up to the rounding of the cross-rank gradient sum.
 *
 * <p>One step, on every rank together:
 * <ol>
 *   <li>rank r runs the global micro-batches j = r, r + W, r + 2W, ... (W the world size), each with the seed the
 *       {@link Trainer} gives micro-batch j ({@link MicroBatch#derive}), accumulating its gradients;</li>
 *   <li>the gradients are reduce-scattered (mean over ranks) into this rank's shard, then divided by the micro-batches
 *       per rank: the mean over all micro-batches, as the {@link Trainer} averages them;</li>
 *   <li>the global gradient norm is the square root of the ranks' float64 sums of squares, added in rank order; the
 *       shard is clipped with {@link GradNormClip}'s rule;</li>
 *   <li>{@link ShardedAdamW} updates the shard, and an all-gather writes the new values into the full parameters.</li>
 * </ol>
 * The loss, token count and metrics of every micro-batch are exchanged exactly (float64 bit patterns) and summed in
 * global micro-batch order, as the {@link Trainer} sums them, so every rank reports the same step log.
 *
 * <p>{@link Strategy#FULL_SHARD} (ZeRO-3) shards the transformer blocks' parameters too: the task
 * ({@link BlockwiseTask}) reads each block's parameters from an all-gather issued just before the block runs (the
 * next block's is issued while the current one computes), frees them after, and each block's gradients are
 * reduce-scattered as soon as its backward is done ({@link FullyShardedBlocks}); only the parameters used throughout
 * (embeddings, head, text encoder) stay whole on every rank. A frozen distillation teacher's blocks are sharded and
 * gathered the same way ({@link BlockwiseTask#shardFrozen}). The numbers are those of {@link Strategy#SHARD_GRAD_OP}
 * up to the rounding of the per-block, per-clip reduce-scatters. A task that can ({@link BlockwiseTask#releaseBlocks},
 * {@link WanTrainingTask}, {@link DeviceWanTrainingTask}) frees its whole copies of the blocks once they are sharded,
 * the teacher's too, so that a rank's host holds its shard of the blocks and no more; their values then come from
 * {@link #gatherBlocks} (as FSDP's full state dict does). Another task's block tensors are not read during the run and
 * are written back when {@link #runUntil} returns.
 *
 * <p>Before the first step, every rank checks that all ranks hold the same configuration and the same parameter
 * values (a hash of each parameter's bits), and fails together with the others if not. A micro-batch that throws on
 * one rank makes every rank throw at the end of the micro-batches, instead of leaving the others waiting in a
 * collective. Rank 0 alone writes the log and draws the progress bar; checkpoints are sharded, each rank writing
 * its own part ({@link ShardedCheckpoint}), and {@link #resume} continues such a run bit for bit on the same world
 * size.
 */
public final class ShardedTrainer implements TrainingRunner, AutoCloseable {
    private static final String OP = "ShardedTrainer";
    /** The unit of the parameters outside the blocks, under {@link Strategy#FULL_SHARD}. */
    private static final String ROOT_UNIT = "";

    /** What every rank keeps whole, in PyTorch FSDP's terms. */
    public enum Strategy {
        /** ZeRO-2: every rank keeps the full parameters; gradients and AdamW's moments are sharded. */
        SHARD_GRAD_OP,
        /**
         * ZeRO-3: the blocks' parameters are sharded too and gathered block by block as the model runs (the task must
         * be a {@link BlockwiseTask}).
         */
        FULL_SHARD
    }

    private final TrainingTask task;
    private final TrainerConfig config;
    private final TrainerOutputs outputs;
    private final Communicator comm;
    private final Map<String, Tensor> parameters;
    private final Map<String, Tensor> gradients = new LinkedHashMap<>();
    private final ShardedParameters sharded;
    private final ShardedAdamW optimizer;
    private final int localMicroBatches;
    private final Strategy strategy;
    /** FULL_SHARD only: the blocks' gather and reduce-scatter, the queue they run on, the shard-sized gradient. */
    private final FullyShardedBlocks blocks;
    private final CollectiveQueue queue;
    private final Tensor gradientShard;
    /** FULL_SHARD only: whether the task freed its whole block tensors ({@link BlockwiseTask#releaseBlocks}). */
    private final boolean blocksReleased;
    private final List<TrainerStepLog> history = new ArrayList<>();
    private long step;
    private long savedStep = -1;

    /**
     * Shards the task's parameters over the ranks; every rank calls it together.
     *
     * @param task the model and objective; every rank holds the same parameter values (drawn from one seed or loaded
     *     from one checkpoint)
     * @param config the run's settings, the same on every rank; {@link TrainerConfig#microBatches} is the global
     *     batch, a multiple of the world size
     * @param outputs the log and progress bar (rank 0's are used) and the checkpoint root (the same on every rank)
     * @param comm the ranks
     * @throws IllegalArgumentException if an argument is null, the ranks differ in configuration or parameters, or
     *     the global batch is not a multiple of the world size
     */
    public ShardedTrainer(TrainingTask task, TrainerConfig config, TrainerOutputs outputs, Communicator comm) {
        this(task, config, outputs, comm, Strategy.SHARD_GRAD_OP, true);
    }

    /**
     * @param strategy what stays whole on every rank; {@link Strategy#FULL_SHARD} needs a {@link BlockwiseTask}
     * @see #ShardedTrainer(TrainingTask, TrainerConfig, TrainerOutputs, Communicator)
     */
    public ShardedTrainer(TrainingTask task, TrainerConfig config, TrainerOutputs outputs, Communicator comm,
            Strategy strategy) {
        this(task, config, outputs, comm, strategy, true);
    }

    private ShardedTrainer(TrainingTask task, TrainerConfig config, TrainerOutputs outputs, Communicator comm,
            Strategy strategy, boolean checkValues) {
        if (task == null || config == null || outputs == null || comm == null) {
            throw new IllegalArgumentException(OP + ": task, config, outputs and comm must not be null, got task="
                    + task + ", config=" + config + ", outputs=" + outputs + ", comm=" + comm);
        }
        this.task = task;
        this.config = config;
        this.outputs = outputs;
        this.comm = comm;
        this.parameters = task.parameters();
        StartCheck.requireSameStart(comm, config, parameters, checkValues);
        int world = comm.worldSize();
        if (config.microBatches() % world != 0) {
            throw new IllegalArgumentException(OP + ": config.microBatches (the global batch) is "
                    + config.microBatches() + ", expected a multiple of the world size " + world
                    + " (every rank runs the same number of micro-batches)");
        }
        this.localMicroBatches = config.microBatches() / world;
        if (strategy == null) {
            throw new IllegalArgumentException(OP + ": strategy is null, expected SHARD_GRAD_OP or FULL_SHARD");
        }
        this.strategy = strategy;
        if (strategy == Strategy.FULL_SHARD) {
            if (!(task instanceof BlockwiseTask blockwise)) {
                throw new IllegalArgumentException(OP + ": FULL_SHARD needs a task that runs block by block"
                        + " (BlockwiseTask, e.g. WanTrainingTask), got " + task.getClass().getSimpleName()
                        + "; use SHARD_GRAD_OP");
            }
            this.sharded = ShardedParameters.shard(parameters, comm, name -> {
                int block = blockwise.blockOf(name);
                return block < 0 ? ROOT_UNIT : FullyShardedBlocks.unit(block);
            });
            this.gradientShard = Tensor.zeros(sharded.shardSize());
            this.queue = new CollectiveQueue("sparge-collectives-rank-" + comm.rank());
            this.blocks = new FullyShardedBlocks(sharded, comm, queue, blockwise.blocks(), gradientShard);
            blockwise.readBlocksFrom(blocks);
            blockwise.shardFrozen(comm, queue);
        } else {
            this.sharded = ShardedParameters.shard(parameters, comm);
            this.gradientShard = null;
            this.queue = null;
            this.blocks = null;
        }
        this.optimizer = new ShardedAdamW(config.optimizer(), sharded, parameters);
        this.blocksReleased = strategy == Strategy.FULL_SHARD && ((BlockwiseTask) task).releaseBlocks();
        List<String> whole = strategy == Strategy.FULL_SHARD
                ? (sharded.units().contains(ROOT_UNIT) ? sharded.unitNames(ROOT_UNIT) : List.of())
                : List.copyOf(parameters.keySet());
        for (String name : whole) {
            gradients.put(name, Tensor.allocate(DType.F32, parameters.get(name).shape()));
        }
    }

    /**
     * Continues a sharded run from its checkpoint, with the configuration saved in it; every rank calls it together,
     * with the world size that saved it.
     *
     * @param checkpoint a checkpoint root (its {@code latest} is used) or a step directory, the same on every rank
     * @param task the same model and objective (parameter names and shapes); its values are overwritten
     * @param outputs where to write from now on
     * @param comm the ranks
     * @return a trainer at the checkpoint's step
     * @throws IOException if a file cannot be read
     * @throws IllegalArgumentException if the checkpoint was written by another world size or another model
     */
    public static ShardedTrainer resume(Path checkpoint, TrainingTask task, TrainerOutputs outputs, Communicator comm)
            throws IOException {
        return resume(checkpoint, task, outputs, comm, 0);
    }

    /**
     * {@link #resume(Path, TrainingTask, TrainerOutputs, Communicator)} with the run's total step count changed to
     * {@code steps}, as {@link Trainer#resume(Path, TrainingTask, TrainerOutputs, long)} extends a single-process run
     * ({@link TrainerConfig#withSteps}).
     *
     * @param steps the run's new total, at least the checkpoint's step; 0 keeps the saved total
     * @throws IllegalArgumentException if {@code steps} is below the steps already done (on every rank alike)
     */
    public static ShardedTrainer resume(Path checkpoint, TrainingTask task, TrainerOutputs outputs, Communicator comm,
            long steps) throws IOException {
        return resume(checkpoint, task, outputs, comm, steps, Strategy.SHARD_GRAD_OP);
    }

    /**
     * @param strategy the strategy of the run that saved the checkpoint (the layouts differ)
     * @see #resume(Path, TrainingTask, TrainerOutputs, Communicator, long)
     */
    public static ShardedTrainer resume(Path checkpoint, TrainingTask task, TrainerOutputs outputs, Communicator comm,
            long steps, Strategy strategy) throws IOException {
        ShardedCheckpoint.Opened ckpt = ShardedCheckpoint.open(checkpoint);
        TrainingCheckpointState state = ckpt.state();
        ckpt.requireWorldSize(comm.worldSize());
        TrainerConfig config = state.configForResume(steps, OP + ".resume", ckpt.directory());
        ShardedTrainer trainer = new ShardedTrainer(task, config, outputs, comm, strategy, false);
        try {
            ckpt.restore(comm, trainer.sharded, trainer.optimizer);
            if (trainer.blocksReleased) {
                trainer.gatherUnit(ROOT_UNIT);
            } else {
                trainer.gatherParameters();
            }
        } catch (IOException | RuntimeException e) {
            trainer.close();
            throw e;
        }
        trainer.step = state.step();
        trainer.savedStep = state.step();
        trainer.history.addAll(state.history());
        return trainer;
    }

    /** @return the steps completed */
    @Override
    public long step() {
        return step;
    }

    /** @return the run's settings */
    @Override
    public TrainerConfig config() {
        return config;
    }

    /** @return this rank's shard of the parameters and the layout */
    public ShardedParameters sharded() {
        return sharded;
    }

    /** @return this rank's optimizer (its moments cover this rank's shard) */
    public ShardedAdamW optimizer() {
        return optimizer;
    }

    /** @return the step logs so far, the same on every rank */
    public List<TrainerStepLog> history() {
        return Collections.unmodifiableList(history);
    }

    /**
     * Runs until {@code lastStep} steps are complete; every rank calls it together.
     *
     * @param lastStep the step count to reach, in [0, {@link TrainerConfig#steps}]
     * @return the logs of the steps run by this call
     * @throws IOException if rank 0 cannot write the log
     * @throws IllegalStateException if a step's loss or gradient norm is not finite, or a micro-batch failed on some
     *     rank (on every rank; the update is not applied)
     */
    @Override
    public List<TrainerStepLog> runUntil(long lastStep) throws IOException {
        List<TrainerStepLog> logs = runSteps(lastStep);
        if (strategy == Strategy.FULL_SHARD && !blocksReleased) {
            gatherParameters();   // the task's block tensors were not updated during the run
        }
        return logs;
    }

    /** @return whether the task freed its whole block tensors, so that {@link #gatherBlocks} alone has their values */
    public boolean blocksReleased() {
        return blocksReleased;
    }

    /**
     * The blocks' current values under {@link Strategy#FULL_SHARD}, all-gathered one block at a time, between steps;
     * every rank calls it together. Like FSDP's full state dict with {@code rank0_only}, with {@code everyRank} false
     * only rank 0 keeps them (it holds the whole blocks for the moment; each other rank one block at a time) and the
     * others get an empty map.
     *
     * @param everyRank whether every rank keeps the gathered blocks, or rank 0 only
     * @return new f32 tensors by parameter name, which the caller closes; empty under {@link Strategy#SHARD_GRAD_OP}
     *     (the task's parameters are whole there)
     */
    public Map<String, Tensor> gatherBlocks(boolean everyRank) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        if (blocks == null) {
            return out;
        }
        boolean keep = everyRank || comm.rank() == 0;
        try {
            for (int i = 0; i < ((BlockwiseTask) task).blocks(); i++) {
                Map<String, Tensor> unit = sharded.gatherUnit(comm, FullyShardedBlocks.unit(i));
                if (keep) {
                    out.putAll(unit);
                } else {
                    unit.values().forEach(Tensor::close);
                }
            }
        } catch (RuntimeException e) {
            out.values().forEach(Tensor::close);
            throw e;
        }
        return out;
    }

    /** @return the strategy */
    public Strategy strategy() {
        return strategy;
    }

    /** @return under FULL_SHARD, the blocks' gathers (for tests: counts of gathers and of gathers fetched ahead) */
    FullyShardedBlocks fullyShardedBlocks() {
        return blocks;
    }

    private List<TrainerStepLog> runSteps(long lastStep) throws IOException {
        return StepLoop.run(OP + ".runUntil", new StepLoop.Steps() {
            @Override
            public long step() {
                return step;
            }

            @Override
            public long savedStep() {
                return savedStep;
            }

            @Override
            public TrainerStepLog runStep() {
                return ShardedTrainer.this.runStep();
            }

            @Override
            public Path saveCheckpoint() throws IOException {
                return ShardedTrainer.this.saveCheckpoint();
            }
        }, lastStep, config, outputs, comm.rank() == 0, history);
    }

    /**
     * Saves a sharded checkpoint of the current step into the outputs' directory (nothing if none is set); every rank
     * calls it together.
     *
     * @return the checkpoint directory, or null if no directory is set
     * @throws IOException on every rank if writing failed on any (the previous checkpoint stays intact)
     */
    public Path saveCheckpoint() throws IOException {
        if (outputs.checkpointDir() == null) {
            return null;
        }
        int tail = config.historyTail();
        List<TrainerStepLog> kept = history.subList(Math.max(0, history.size() - tail), history.size());
        TrainingCheckpointState state = new TrainingCheckpointState(TrainingCheckpointState.FORMAT, step,
                config.seed(), step, config, kept, task.describe());
        Path dir = ShardedCheckpoint.save(outputs.checkpointDir(), comm, sharded, optimizer, state, config.keepLast());
        savedStep = step;
        return dir;
    }

    /** One optimizer step on every rank; advances {@link #step}. */
    private TrainerStepLog runStep() {
        long start = System.nanoTime();
        for (Tensor g : gradients.values()) {
            g.fill(0f);
        }
        if (gradientShard != null) {
            gradientShard.fill(0f);
        }
        int world = comm.worldSize();
        int micros = config.microBatches();
        List<StepResult> results = new ArrayList<>(localMicroBatches);
        RuntimeException failure = null;
        int failedMicro = -1;
        for (int k = 0; k < localMicroBatches && failure == null; k++) {
            int micro = k * world + comm.rank();
            MicroBatch batch = new MicroBatch(step, micro, micros, MicroBatch.derive(config.seed(), step, micro));
            try {
                StepResult r = task.computeGradients(batch, gradients);
                if (r == null) {
                    throw new IllegalStateException(OP + ": step " + (step + 1) + " micro-batch " + micro
                            + ": the task returned no StepResult, expected its loss and token count");
                }
                results.add(r);
            } catch (RuntimeException e) {
                failure = e;
                failedMicro = micro;
            }
        }
        if (blocks != null) {
            if (failure != null) {
                // the block gathers are collectives inside the forward: the other ranks cannot meet this one at
                // the exchange below, so this rank stops here (sparge launch then stops the others)
                throw new IllegalStateException(OP + ": step " + (step + 1) + " micro-batch " + failedMicro
                        + " failed on rank " + comm.rank() + " under FULL_SHARD; the step was not applied", failure);
            }
            blocks.settle();   // every block's reduce-scatter is in gradientShard
        }
        StepStats stats = StepStats.exchange(comm, step, results, failure, failedMicro);
        double loss = stats.lossSum() / micros;
        double lr = config.schedule().lr(step);
        double norm;
        try (Tensor shard = reduceGradients()) {
            if (localMicroBatches > 1) {
                // the reduce-scatters averaged over ranks; this makes it the mean over all micro-batches
                GradNormClip.scale(Map.of("shard", shard), (float) (1.0 / localMicroBatches));
            }
            norm = globalNorm(shard);
            if (config.maxGradNorm() > 0) {
                GradNormClip.clipToNorm(Map.of("shard", shard), norm, config.maxGradNorm());
            }
            if (!Double.isFinite(loss) || !Double.isFinite(norm)) {
                throw new IllegalStateException(OP + ": step " + (step + 1) + " has loss " + loss
                        + " and gradient norm " + norm + ", expected finite values; the update was not applied; try"
                        + " a lower learning rate or a gradient clip");
            }
            optimizer.step(shard, lr);
        }
        if (blocks != null) {
            gatherUnit(ROOT_UNIT);   // the blocks are gathered when they next run
        } else {
            gatherParameters();
        }
        step++;
        double seconds = (System.nanoTime() - start) / 1e9;
        Map<String, Double> metrics = new TreeMap<>();
        stats.metricSums().forEach((k, v) -> metrics.put(k, v / micros));
        return new TrainerStepLog(step, loss, lr, norm, seconds, seconds > 0 ? stats.tokens() / seconds : 0, metrics);
    }

    /**
     * @return this rank's shard of the step's gradient, the mean over ranks (per micro-batch still summed); under
     *     FULL_SHARD the blocks' parts are already in {@link #gradientShard} and the whole parameters' are added
     */
    private Tensor reduceGradients() {
        if (blocks == null) {
            return sharded.reduceScatterGradients(comm, gradients);
        }
        if (!gradients.isEmpty()) {
            sharded.reduceScatterUnit(comm, ROOT_UNIT, gradients, gradientShard);
        }
        return gradientShard.reshape(gradientShard.shape());   // a view: closing it leaves the buffer
    }

    /** All-gathers one unit and writes it into the task's tensors. */
    private void gatherUnit(String unit) {
        if (!sharded.units().contains(unit)) {
            return;
        }
        Map<String, Tensor> full = sharded.gatherUnit(comm, unit);
        try {
            full.forEach((name, t) -> parameters.get(name).copyFrom(t));
        } finally {
            full.values().forEach(Tensor::close);
        }
    }

    /** All-gathers the shards into the full parameters the task computes with. */
    private void gatherParameters() {
        Map<String, Tensor> full = sharded.gather(comm);
        try {
            full.forEach((name, t) -> parameters.get(name).copyFrom(t));
        } finally {
            full.values().forEach(Tensor::close);
        }
    }

    /** The L2 norm of the whole gradient: float64 sums of squares of each shard, added in rank order. */
    private double globalNorm(Tensor shard) {
        double total = 0;
        double local = GradNormClip.sumOfSquares(Map.of("shard", shard));
        for (double rankSum : HostValues.allGather(comm, new double[] {local})) {
            total += rankSum;
        }
        return Math.sqrt(total);
    }

    /**
     * Frees the shard, the optimizer's moments and the gradients (not the task's parameters); under FULL_SHARD the task
     * reads its own parameters again.
     */
    @Override
    public void close() {
        if (blocks != null) {
            blocks.close();
            queue.close();
            gradientShard.close();
            ((BlockwiseTask) task).unshardFrozen();
            ((BlockwiseTask) task).readBlocksFrom(null);
        }
        sharded.close();
        optimizer.close();
        gradients.values().forEach(Tensor::close);
    }

    /**
     * The step's figures from every rank, summed in global micro-batch order.
     *
     * @param lossSum the micro-batches' losses, added in order 0, 1, 2, ...
     * @param tokens their tokens
     * @param metricSums their metrics, each added in micro-batch order (0 where a micro-batch lacks one)
     */
    private record StepStats(double lossSum, long tokens, Map<String, Double> metricSums) {

        /**
         * Two all-gathers of float64 bit patterns: first each rank's status and metric names (so that a failure on
         * one rank stops all of them here), then every micro-batch's loss, tokens and metric values.
         */
        static StepStats exchange(Communicator comm, long step, List<StepResult> results, RuntimeException failure,
                int failedMicro) {
            int world = comm.worldSize();
            TreeSet<String> names = new TreeSet<>();
            results.forEach(r -> names.addAll(r.metrics().keySet()));
            long[] header = {failure == null ? 0 : 1 + failedMicro, names.size(), hash(String.join("\n", names))};
            long[] headers = HostValues.allGather(comm, header);
            for (int r = 0; r < world; r++) {
                if (headers[r * 3] != 0) {
                    String what = OP + ": step " + (step + 1) + " micro-batch " + (headers[r * 3] - 1) + " failed on"
                            + " rank " + r;
                    if (failure != null) {
                        failure.addSuppressed(new IllegalStateException(what + "; the step was not applied"));
                        throw failure;
                    }
                    throw new IllegalStateException(what + " (see that rank's error); the step was not applied");
                }
            }
            for (int r = 1; r < world; r++) {
                if (headers[r * 3 + 1] != headers[1] || headers[r * 3 + 2] != headers[2]) {
                    throw new IllegalStateException(OP + ": step " + (step + 1) + ": rank " + r + " reports "
                            + headers[r * 3 + 1] + " metrics and rank 0 " + headers[1] + " (this rank: " + names
                            + "), expected the same metric names from every rank's micro-batches");
                }
            }
            int per = 2 + names.size();
            long[] mine = new long[results.size() * per];
            for (int k = 0; k < results.size(); k++) {
                StepResult res = results.get(k);
                mine[k * per] = Double.doubleToRawLongBits(res.loss());
                mine[k * per + 1] = res.tokens();
                int i = 2;
                for (String name : names) {
                    mine[k * per + i++] = Double.doubleToRawLongBits(res.metrics().getOrDefault(name, 0.0));
                }
            }
            long[] all = HostValues.allGather(comm, mine);
            int local = results.size();
            double lossSum = 0;
            long tokens = 0;
            Map<String, Double> metricSums = new TreeMap<>();
            for (int micro = 0; micro < world * local; micro++) {
                int at = (micro % world) * local * per + (micro / world) * per;
                lossSum += Double.longBitsToDouble(all[at]);
                tokens += all[at + 1];
                int i = 2;
                for (String name : names) {
                    metricSums.merge(name, Double.longBitsToDouble(all[at + i++]), Double::sum);
                }
            }
            return new StepStats(lossSum, tokens, metricSums);
        }
    }

    /** A 64-bit hash of a string's UTF-8 bytes (FNV-1a), the same in every process. */
    static long hash(String s) {
        long h = 0xcbf29ce484222325L;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            h = (h ^ (b & 0xff)) * 0x100000001b3L;
        }
        return h;
    }

    /** Checks, collectively, that every rank starts from the same configuration and parameter values. */
    private static final class StartCheck {
        private StartCheck() {
        }

        /** @param checkValues whether to compare the parameter values too (not on resume: they are loaded) */
        static void requireSameStart(Communicator comm, TrainerConfig config, Map<String, Tensor> parameters,
                boolean checkValues) {
            if (parameters == null || parameters.isEmpty()) {
                throw new IllegalArgumentException(OP + ": the task's parameters are "
                        + (parameters == null ? "null" : "empty") + ", expected at least one f32 tensor");
            }
            List<String> names = new ArrayList<>(new TreeMap<>(parameters).keySet());
            StringBuilder layout = new StringBuilder();
            for (String name : names) {
                Tensor t = parameters.get(name);
                layout.append(name).append(' ').append(t == null ? "null" : t.dtype() + Arrays.toString(t.shape()))
                        .append('\n');
            }
            long[] header = {names.size(), hash(layout.toString()), hash(config.toString())};
            long[] headers = HostValues.allGather(comm, header);
            int world = comm.worldSize();
            for (int r = 1; r < world; r++) {
                if (headers[r * 3] != headers[0] || headers[r * 3 + 1] != headers[1]) {
                    throw new IllegalArgumentException(OP + ": rank " + r + " has " + headers[r * 3]
                            + " parameters and rank 0 " + headers[0] + ", or their names, dtypes or shapes differ"
                            + ", expected the same model on every rank");
                }
                if (headers[r * 3 + 2] != headers[2]) {
                    throw new IllegalArgumentException(OP + ": rank " + r + "'s config differs from rank 0's (this"
                            + " rank's: " + config + "), expected the same TrainerConfig on every rank");
                }
            }
            if (!checkValues) {
                return;
            }
            long[] hashes = new long[names.size()];
            CpuRuntime.parallelFor(names.size(), i -> hashes[i] = valueHash(parameters.get(names.get(i))));
            long[] all = HostValues.allGather(comm, hashes);
            for (int r = 1; r < world; r++) {
                for (int i = 0; i < names.size(); i++) {
                    if (all[r * names.size() + i] != all[i]) {
                        throw new IllegalArgumentException(OP + ": parameter '" + names.get(i) + "' on rank " + r
                                + " differs from rank 0's (value hash " + Long.toHexString(all[r * names.size() + i])
                                + " vs " + Long.toHexString(all[i]) + "), expected every rank to start from the same"
                                + " parameters (draw them from one seed or load one checkpoint on every rank)");
                    }
                }
            }
        }

        /** A 64-bit hash of a tensor's bytes. */
        private static long valueHash(Tensor t) {
            MemorySegment s = t.segment();
            long n = t.byteSize();
            long h = 0x9e3779b97f4a7c15L ^ n;
            long i = 0;
            for (; i + 8 <= n; i += 8) {
                h = Long.rotateLeft(h ^ s.get(ValueLayout.JAVA_LONG_UNALIGNED, i) * 0xbf58476d1ce4e5b9L, 29)
                        * 0x94d049bb133111ebL;
            }
            for (; i < n; i++) {
                h = (h ^ s.get(ValueLayout.JAVA_BYTE, i)) * 0x100000001b3L;
            }
            return h;
        }
    }
}
