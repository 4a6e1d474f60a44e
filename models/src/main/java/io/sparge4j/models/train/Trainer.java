package io.sparge4j.models.train;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The training loop: for each step, zeroed gradients, {@link TrainerConfig#microBatches} micro-batches accumulated
 * and averaged, global-norm clipping ({@link GradNormClip}), one {@link AdamW} update at the {@link LrSchedule}'s
 * rate, a JSON-lines log line, a progress bar, and a checkpoint every {@link TrainerConfig#checkpointEvery} steps.
 *
 * <p>Exact resume: every number a step uses is a function of the parameters, the optimizer state, the step index
 * and the run's seed ({@link MicroBatch#derive}); all of these are in a checkpoint, so {@link #resume} followed by
 * {@link #run} produces the same losses and parameters, bit for bit, as an uninterrupted run with the same thread
 * count. A run killed mid-way loses the steps since its last checkpoint, at most {@code checkpointEvery}.
 *
 * <p>A step whose loss or gradient norm is not finite stops the run with an exception before the update, so the
 * parameters and the last checkpoint stay usable.
 */
public final class Trainer implements TrainingRunner {
    private final TrainingTask task;
    private final TrainerConfig config;
    private final TrainerOutputs outputs;
    private final Map<String, Tensor> parameters;
    private final Map<String, Tensor> gradients = new LinkedHashMap<>();
    private final AdamW optimizer;
    private final List<TrainerStepLog> history = new ArrayList<>();
    private long step;
    private long savedStep = -1;

    /**
     * A fresh run from the task's current parameters.
     *
     * @param task the model and objective
     * @param config the run's settings
     * @param outputs where to write (checkpoints, log, progress bar)
     * @throws IllegalArgumentException if an argument is null or a parameter is not f32
     */
    public Trainer(TrainingTask task, TrainerConfig config, TrainerOutputs outputs) {
        if (task == null || config == null || outputs == null) {
            throw new IllegalArgumentException("Trainer: task, config and outputs must not be null, got task=" + task
                    + ", config=" + config + ", outputs=" + outputs);
        }
        this.task = task;
        this.config = config;
        this.outputs = outputs;
        this.parameters = task.parameters();
        this.optimizer = new AdamW(config.optimizer(), parameters);
        for (Map.Entry<String, Tensor> e : parameters.entrySet()) {
            gradients.put(e.getKey(), Tensor.allocate(DType.F32, e.getValue().shape()));
        }
    }

    /**
     * Continues a run from a checkpoint with the configuration saved in it.
     *
     * @param checkpoint a checkpoint root (its {@code latest} is used) or a step directory
     * @param task the same model and objective, with parameters of the same names and shapes (their values are
     *     overwritten by the checkpoint's)
     * @param outputs where to write from now on; the log keeps its lines up to the checkpoint's step
     * @return a trainer at the checkpoint's step
     * @throws IOException if the checkpoint cannot be read
     * @throws IllegalArgumentException if the checkpoint does not match the task (names, shapes)
     */
    public static Trainer resume(Path checkpoint, TrainingTask task, TrainerOutputs outputs) throws IOException {
        return resume(checkpoint, task, outputs, 0);
    }

    /**
     * Continues a run from a checkpoint, with its total step count changed to {@code steps} (a run extended past
     * its planned end, see {@link TrainerConfig#withSteps} for what happens to the learning-rate schedule); every
     * other setting is the checkpoint's.
     *
     * @param steps the run's new total, at least the checkpoint's step; 0 keeps the saved total
     * @see #resume(Path, TrainingTask, TrainerOutputs)
     * @throws IllegalArgumentException if {@code steps} is below the steps already done
     */
    public static Trainer resume(Path checkpoint, TrainingTask task, TrainerOutputs outputs, long steps)
            throws IOException {
        TrainingCheckpoint ckpt = TrainingCheckpoint.open(checkpoint);
        TrainingCheckpointState state = ckpt.state();
        TrainerConfig config = state.configForResume(steps, "Trainer.resume", ckpt.directory());
        Trainer trainer = new Trainer(task, config, outputs);
        ckpt.restore(trainer.parameters, trainer.optimizer);
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

    /** @return the optimizer (its state is what checkpoints save) */
    public AdamW optimizer() {
        return optimizer;
    }

    /** @return the step logs so far (after a resume: the checkpoint's tail, then the new steps) */
    public List<TrainerStepLog> history() {
        return Collections.unmodifiableList(history);
    }

    /**
     * Runs until {@code lastStep} steps are complete (or none if already there), then saves a checkpoint if the
     * outputs name a directory and the last step is not saved yet.
     *
     * @param lastStep the step count to reach, at most {@link TrainerConfig#steps}
     * @return the logs of the steps run by this call
     * @throws IOException if the log or a checkpoint cannot be written
     * @throws IllegalStateException if a step's loss or gradient norm is not finite
     */
    @Override
    public List<TrainerStepLog> runUntil(long lastStep) throws IOException {
        return StepLoop.run("Trainer.runUntil", new StepLoop.Steps() {
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
                return Trainer.this.runStep();
            }

            @Override
            public Path saveCheckpoint() throws IOException {
                return Trainer.this.saveCheckpoint();
            }
        }, lastStep, config, outputs, true, history);
    }

    /**
     * Saves a checkpoint of the current step into the outputs' directory (nothing if none is set).
     *
     * @return the checkpoint directory, or null if no directory is set
     * @throws IOException if writing fails (the previous checkpoint stays intact)
     */
    public Path saveCheckpoint() throws IOException {
        if (outputs.checkpointDir() == null) {
            return null;
        }
        int tail = config.historyTail();
        List<TrainerStepLog> kept = history.subList(Math.max(0, history.size() - tail), history.size());
        TrainingCheckpointState state = new TrainingCheckpointState(TrainingCheckpointState.FORMAT, step,
                config.seed(), step, config, kept, task.describe());
        Path dir = TrainingCheckpoint.save(outputs.checkpointDir(), parameters, optimizer, state, config.keepLast());
        savedStep = step;
        return dir;
    }

    /** One optimizer step; advances {@link #step}. */
    private TrainerStepLog runStep() {
        long start = System.nanoTime();
        for (Tensor g : gradients.values()) {
            g.fill(0f);
        }
        int micros = config.microBatches();
        double lossSum = 0;
        long tokens = 0;
        Map<String, Double> metricSums = new TreeMap<>();
        for (int micro = 0; micro < micros; micro++) {
            MicroBatch batch = new MicroBatch(step, micro, micros, MicroBatch.derive(config.seed(), step, micro));
            StepResult r = task.computeGradients(batch, gradients);
            if (r == null) {
                throw new IllegalStateException("Trainer: step " + (step + 1) + " micro-batch " + micro
                        + ": the task returned no StepResult, expected its loss and token count");
            }
            lossSum += r.loss();
            tokens += r.tokens();
            r.metrics().forEach((k, v) -> metricSums.merge(k, v, Double::sum));
        }
        if (micros > 1) {
            GradNormClip.scale(gradients, (float) (1.0 / micros));
        }
        double loss = lossSum / micros;
        double norm = config.maxGradNorm() > 0 ? GradNormClip.clip(gradients, config.maxGradNorm())
                : GradNormClip.norm(gradients);
        if (!Double.isFinite(loss) || !Double.isFinite(norm)) {
            throw new IllegalStateException("Trainer: step " + (step + 1) + " has loss " + loss + " and gradient norm "
                    + norm + ", expected finite values; the update was not applied (last checkpoint: "
                    + (savedStep < 0 ? "none" : "step " + savedStep) + "); try a lower learning rate or a gradient "
                    + "clip");
        }
        double lr = config.schedule().lr(step);
        optimizer.step(gradients, lr);
        step++;
        double seconds = (System.nanoTime() - start) / 1e9;
        Map<String, Double> metrics = new TreeMap<>();
        metricSums.forEach((k, v) -> metrics.put(k, v / micros));
        return new TrainerStepLog(step, loss, lr, norm, seconds, seconds > 0 ? tokens / seconds : 0, metrics);
    }
}
