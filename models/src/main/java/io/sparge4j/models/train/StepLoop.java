package io.sparge4j.models.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The loop {@link Trainer} and {@link ShardedTrainer} share: run steps up to a count, append each to the history and
 * the JSON-lines log, move the progress bar, and save a checkpoint every {@link TrainerConfig#checkpointEvery} steps
 * and at the end.
 */
final class StepLoop {
    /** What a trainer supplies to the loop. */
    interface Steps {
        /** @return the steps completed */
        long step();

        /** @return the step of the last checkpoint saved (or restored) */
        long savedStep();

        /** @return one optimizer step's log; advances {@link #step()} */
        TrainerStepLog runStep();

        /** Saves a checkpoint of the current step (nothing if the outputs name no directory). */
        Path saveCheckpoint() throws IOException;
    }

    private StepLoop() {
    }

    /**
     * @param op the trainer's runUntil, for the message
     * @param steps the trainer
     * @param lastStep the step count to reach, in [0, {@link TrainerConfig#steps}]
     * @param config the run's settings
     * @param outputs where the log, progress and checkpoints go
     * @param lead whether this process writes the log and shows progress (rank 0 of a sharded run; always for one)
     * @param history the trainer's history, appended to
     * @return the logs of the steps run by this call
     * @throws IOException if the log or a checkpoint cannot be written
     * @throws IllegalArgumentException if {@code lastStep} is out of range
     */
    static List<TrainerStepLog> run(String op, Steps steps, long lastStep, TrainerConfig config,
            TrainerOutputs outputs, boolean lead, List<TrainerStepLog> history) throws IOException {
        if (lastStep < 0 || lastStep > config.steps()) {
            throw new IllegalArgumentException(op + ": lastStep is " + lastStep + ", expected in [0, "
                    + config.steps() + "] (the configured steps)");
        }
        List<TrainerStepLog> done = new ArrayList<>();
        TrainerLog log = lead && outputs.logFile() != null ? TrainerLog.open(outputs.logFile(), steps.step()) : null;
        try (TrainerProgress progress = TrainerProgress.open(lead && outputs.progressBar(), steps.step(),
                config.steps())) {
            while (steps.step() < lastStep) {
                TrainerStepLog record = steps.runStep();
                done.add(record);
                history.add(record);
                if (log != null) {
                    log.write(record);
                }
                progress.update(record);
                if (config.checkpointEvery() > 0 && steps.step() % config.checkpointEvery() == 0) {
                    steps.saveCheckpoint();
                }
            }
            if (outputs.checkpointDir() != null && steps.savedStep() != steps.step()) {
                steps.saveCheckpoint();
            }
        } finally {
            if (log != null) {
                log.close();
            }
        }
        return done;
    }
}
