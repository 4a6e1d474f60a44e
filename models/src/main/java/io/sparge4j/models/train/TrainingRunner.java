package io.sparge4j.models.train;

import java.io.IOException;
import java.util.List;

/**
 * What drives a run from checkpoint to checkpoint, the same for one process ({@link Trainer}) and for the ranks of
 * a sharded job ({@link ShardedTrainer}).
 */
public interface TrainingRunner {
    /** @return the steps completed */
    long step();

    /** @return the run's settings */
    TrainerConfig config();

    /**
     * Runs up to and including step {@code lastStep} (capped at the run's end), saving checkpoints on the way.
     *
     * @param lastStep the step to stop after
     * @return the logs of the steps run by this call
     * @throws IOException if the log or a checkpoint cannot be written
     */
    List<TrainerStepLog> runUntil(long lastStep) throws IOException;

    /**
     * Runs to the end of the run ({@link TrainerConfig#steps}).
     *
     * @return the logs of the steps run by this call
     * @throws IOException if the log or a checkpoint cannot be written
     */
    default List<TrainerStepLog> run() throws IOException {
        return runUntil(config().steps());
    }
}
