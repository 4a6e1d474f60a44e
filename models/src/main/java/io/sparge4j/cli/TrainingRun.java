package io.sparge4j.cli;

import io.sparge4j.engine.distributed.CollectiveQueue;
import io.sparge4j.engine.distributed.Communicator;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.data.ClipSpec;
import io.sparge4j.models.pipeline.GenerationDefaults;
import io.sparge4j.models.pipeline.ModelDirectory;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.text.TextEncoderParameters;
import io.sparge4j.models.train.AdamWConfig;
import io.sparge4j.models.train.BlockParameters;
import io.sparge4j.models.train.BlockwiseTask;
import io.sparge4j.models.train.LrSchedule;
import io.sparge4j.models.train.MicroBatch;
import io.sparge4j.models.train.ShardedTrainer;
import io.sparge4j.models.train.StepResult;
import io.sparge4j.models.train.Trainer;
import io.sparge4j.models.train.TrainerConfig;
import io.sparge4j.models.train.TrainerOutputs;
import io.sparge4j.models.train.TrainerStepLog;
import io.sparge4j.models.train.TrainingCheckpoint;
import io.sparge4j.models.train.TrainingRunner;
import io.sparge4j.models.train.TrainingTask;
import io.sparge4j.models.wan.WanConfig;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Drives a {@link Trainer} for the training commands: checkpoints under {@code DIR/checkpoints}, the JSON-lines log
 * {@code DIR/train.jsonl}, a progress bar, and the model directory {@code DIR/model} rewritten at every checkpoint
 * and at the end (the trainer runs from checkpoint to checkpoint, and the model is written after each).
 */
final class TrainingRun {
    static final String CHECKPOINTS = "checkpoints";
    static final String LOG = "train.jsonl";
    static final String MODEL = "model";

    /** Writes {@code DIR/model} for the parameters as they are after {@code step} steps. */
    @FunctionalInterface
    interface ModelWriter {
        /**
         * @param blocks the blocks' parameters where the task no longer holds them whole (a fully sharded run's,
         *     {@link ShardedTrainer#gatherBlocks}), written in place of the task's; empty otherwise
         */
        void write(Path modelDir, long step, Map<String, Tensor> blocks) throws IOException;
    }

    /**
     * @return a writer saving the trained DiT (f32, its tensors as they are when called) and text encoder as a
     *     model directory whose generation.json is {@code trained} with the counts filled in: the steps and clips
     *     behind the starting weights plus this run's (micro-batches x batch size clips a step); the clips stay
     *     unknown when the start's are
     * @param priorSteps the optimizer steps behind the starting weights (0 from scratch)
     * @param priorClips the clips behind them (0 from scratch), or null when not known
     */
    static ModelWriter modelWriter(WanConfig config, Map<String, Tensor> params, TextEncoder text,
            GenerationDefaults trained, long priorSteps, Long priorClips, RunSettings settings) {
        long clipsPerStep = (long) settings.microBatches() * settings.batchSize();
        // the counts cover every step behind the weights: a fine-tune adds its own to its --init's
        return (dir, step, blocks) -> {
            Map<String, Tensor> weights = new LinkedHashMap<>(params);
            weights.putAll(blocks);
            ModelDirectory.save(dir, config, weights, text, trained.withTrained(priorSteps + step,
                    priorClips == null ? null : priorClips + step * clipsPerStep), DType.F32);
        };
    }

    /** @return the clips behind a start model: its generation.json's count, unknown (null) when it has none */
    static Long priorClips(ModelDirectory start) {
        GenerationDefaults g = start.generation();
        return g == null ? null : g.clipsTrained();
    }

    /** @return the run's clips (its motion and caption attribute dropout), from the run's seed + 2 (seed and seed + 1 initialise the DiT and the text encoder) */
    static ClipGenerator clips(RunSettings s) {
        return new ClipGenerator(s.seed() + 2, ClipSpec.of(s.frames(), s.height(), s.width()).withMotion(s.motion())
                .withAttributeDropout(s.captionAttributeDropout())
                .withFixed(ClipMotionFlags.fixed(s.clipFixed())));
    }

    /** Every parameter of the jointly trained text encoder, by name. */
    static final String TEXT_ENCODER_PARAMETERS = Pattern.quote(TextEncoderParameters.PREFIX) + ".*";
    /** The DiT's text_embedding (Linear-GELU-Linear from the encoder's features to the cross-attention's input). */
    static final String TEXT_EMBEDDING_PARAMETERS = Pattern.quote("text_embedding.") + ".*";

    private TrainingRun() {
    }

    /**
     * @return the trainer's configuration for these settings: AdamW (the text encoder's parameters, and with
     *     scaleTextEmbedding the DiT's text_embedding, at lr times the settings' scale), warm-up then cosine to
     *     lr * min-lr-ratio
     */
    static TrainerConfig trainerConfig(RunSettings s) {
        LrSchedule schedule = LrSchedule.warmupCosine(s.lr(), s.warmup(), s.steps(), s.lr() * s.minLrRatio());
        return new TrainerConfig(s.steps(), s.microBatches(), s.seed(), s.maxGradNorm(),
                AdamWConfig.pytorchDefaults(s.weightDecay()).withLrScale(s.scaleTextEmbedding()
                        ? TEXT_ENCODER_PARAMETERS + "|" + TEXT_EMBEDDING_PARAMETERS : TEXT_ENCODER_PARAMETERS,
                        s.textEncoderLrScale()), schedule, s.checkpointEvery(), s.keep(), 100);
    }

    /**
     * Refuses to start a new run over an existing one.
     *
     * @param out the run's directory
     * @throws IllegalArgumentException if it holds a checkpoint already
     */
    static void checkFresh(Path out) throws IOException {
        if (TrainingCheckpoint.latest(out.resolve(CHECKPOINTS)).isPresent()) {
            throw new IllegalArgumentException("--out: " + out + " already holds a run (" + CHECKPOINTS + "/"
                    + TrainingCheckpoint.LATEST + "), expected an empty or new directory; add --resume to continue it");
        }
    }

    /**
     * Runs (or continues) to the settings' total steps.
     *
     * @param out the run's directory
     * @param settings the run's settings (already saved in {@code run.json})
     * @param task the model and objective
     * @param resume continue the latest checkpoint
     * @param writer writes {@code DIR/model}
     * @param err where the summary goes
     * @return the steps done at the end
     */
    static long run(Path out, RunSettings settings, TrainingTask task, boolean resume, ModelWriter writer,
            PrintWriter err) throws IOException {
        return run(out, settings, task, resume, writer, err, null);
    }

    /**
     * {@link #run(Path, RunSettings, TrainingTask, boolean, ModelWriter, PrintWriter)} on every rank of a job
     * together when {@code comm} is given: a {@link ShardedTrainer} (the global batch is the settings'
     * micro-batches, a multiple of the world size; checkpoints sharded, one part per rank), with rank 0 alone writing
     * the log, the model directory and the messages.
     *
     * @param comm the job's ranks, or null to train alone
     */
    static long run(Path out, RunSettings settings, TrainingTask task, boolean resume, ModelWriter writer,
            PrintWriter err, Communicator comm) throws IOException {
        Path checkpoints = out.resolve(CHECKPOINTS);
        if (resume && TrainingCheckpoint.latest(checkpoints).isEmpty()) {
            throw new IllegalArgumentException("--resume: " + checkpoints + " holds no checkpoint, expected the"
                    + " directory of a run that saved one (drop --resume to start it again)");
        }
        TrainerOutputs outputs = new TrainerOutputs(checkpoints, out.resolve(LOG), true);
        if (comm == null) {
            Trainer trainer = resume ? Trainer.resume(checkpoints, task, outputs, settings.steps())
                    : new Trainer(task, trainerConfig(settings), outputs);
            if (resume) {
                err.printf(Locale.ROOT, "sparge: resuming %s at step %d of %d%n", out, trainer.step(),
                        trainer.config().steps());
            }
            return drive(out, trainer, writer, err, true, "");
        }
        try (ShardedTrainer trainer = resume ? ShardedTrainer.resume(checkpoints, task, outputs, comm,
                settings.steps(), settings.strategy())
                : new ShardedTrainer(task, trainerConfig(settings), outputs, comm, settings.strategy())) {
            boolean leader = comm.rank() == 0;
            if (leader) {
                err.printf(Locale.ROOT, "sparge: rank 0 of %d, %s%s at step %d of %d%n", comm.worldSize(),
                        resume ? "resuming " : "training ", out, trainer.step(), trainer.config().steps());
            }
            return drive(out, trainer, writer, err, leader, String.format(Locale.ROOT, " (%d ranks)",
                    comm.worldSize()));
        }
    }

    /**
     * Runs from checkpoint to checkpoint to the end; after each, the leader rewrites {@code DIR/model} and prints the
     * last step's line (with {@code suffix}).
     */
    private static long drive(Path out, TrainingRunner trainer, ModelWriter writer, PrintWriter err, boolean leader,
            String suffix) throws IOException {
        err.flush();
        long total = trainer.config().steps();
        long every = trainer.config().checkpointEvery();
        do {
            long next = Math.min(total, (trainer.step() / every + 1) * every);
            List<TrainerStepLog> done = trainer.runUntil(next);
            // a fully sharded run's blocks live only in the ranks' shards: every rank takes part in gathering them,
            // rank 0 alone keeps them, one block at a time on the others
            Map<String, Tensor> blocks = trainer instanceof ShardedTrainer sharded && sharded.blocksReleased()
                    ? sharded.gatherBlocks(false) : Map.of();
            if (!leader) {
                continue;
            }
            try {
                writer.write(out.resolve(MODEL), trainer.step(), blocks);
            } finally {
                blocks.values().forEach(Tensor::close);
            }
            if (!done.isEmpty()) {
                TrainerStepLog last = done.getLast();
                err.printf(Locale.ROOT, "sparge: step %d/%d loss %.5g lr %.3g %.3f s/step %.0f tokens/s%s%s%n",
                        last.step(), total, last.loss(), last.lr(), last.stepSeconds(), last.tokensPerSecond(),
                        last.metrics().containsKey("sparsity") ? String.format(Locale.ROOT, " sparsity %.3f",
                                last.metrics().get("sparsity")) : "", suffix);
                err.flush();
            }
        } while (trainer.step() < total);
        return trainer.step();
    }

    /**
     * A task whose step results carry fixed extra metrics (the mask hyperparameters, into every log line); a
     * {@link BlockwiseTask} stays one, so that it can still be fully sharded.
     */
    static TrainingTask withMetrics(TrainingTask task, Map<String, Double> extra) {
        return task instanceof BlockwiseTask blockwise ? new BlockwiseWithMetrics(blockwise, extra)
                : new WithMetrics(task, extra);
    }

    private static class WithMetrics implements TrainingTask {
        private final TrainingTask task;
        private final Map<String, Double> extra;

        WithMetrics(TrainingTask task, Map<String, Double> extra) {
            this.task = task;
            this.extra = extra;
        }

        @Override
        public Map<String, Tensor> parameters() {
            return task.parameters();
        }

        @Override
        public StepResult computeGradients(MicroBatch batch, Map<String, Tensor> gradients) {
            StepResult r = task.computeGradients(batch, gradients);
            Map<String, Double> m = new TreeMap<>(r.metrics());
            m.putAll(extra);
            return new StepResult(r.loss(), r.tokens(), m);
        }

        @Override
        public Map<String, Object> describe() {
            return task.describe();
        }
    }

    private static final class BlockwiseWithMetrics extends WithMetrics implements BlockwiseTask {
        private final BlockwiseTask blockwise;

        BlockwiseWithMetrics(BlockwiseTask task, Map<String, Double> extra) {
            super(task, extra);
            this.blockwise = task;
        }

        @Override
        public int blockOf(String name) {
            return blockwise.blockOf(name);
        }

        @Override
        public int blocks() {
            return blockwise.blocks();
        }

        @Override
        public void readBlocksFrom(BlockParameters source) {
            blockwise.readBlocksFrom(source);
        }

        @Override
        public void shardFrozen(Communicator comm, CollectiveQueue queue) {
            blockwise.shardFrozen(comm, queue);
        }

        @Override
        public void unshardFrozen() {
            blockwise.unshardFrozen();
        }

        @Override
        public boolean releaseBlocks() {
            return blockwise.releaseBlocks();
        }
    }
}
