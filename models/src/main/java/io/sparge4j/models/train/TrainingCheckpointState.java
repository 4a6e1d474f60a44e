package io.sparge4j.models.train;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The JSON part of a checkpoint ({@code state.json}).
 *
 * @param format {@link #FORMAT}
 * @param step optimizer steps completed
 * @param seed the run's seed
 * @param dataCursor the next step whose data will be drawn (data derive from (seed, step, micro-batch), so this
 *     equals {@code step})
 * @param config the run's configuration, including its optimizer and schedule
 * @param history the last step logs (at most {@link TrainerConfig#historyTail})
 * @param task the task's {@link TrainingTask#describe() description}
 */
public record TrainingCheckpointState(String format, long step, long seed, long dataCursor, TrainerConfig config,
        List<TrainerStepLog> history, Map<String, Object> task) {

    /** The format tag, checked on load. */
    public static final String FORMAT = "sparge4j-training-checkpoint-1";

    /** Copies the lists and checks the fields. */
    public TrainingCheckpointState {
        if (!FORMAT.equals(format)) {
            throw new IllegalArgumentException("TrainingCheckpointState: format is '" + format + "', expected '"
                    + FORMAT + "'");
        }
        if (step < 0 || config == null) {
            throw new IllegalArgumentException("TrainingCheckpointState: step is " + step + " and config is " + config
                    + ", expected a step >= 0 and a configuration");
        }
        history = history == null ? List.of() : List.copyOf(history);
        task = task == null ? Map.of() : task;
    }

    /**
     * The configuration a resume continues with: the saved one, its total changed to {@code steps} (a run extended
     * past its planned end, see {@link TrainerConfig#withSteps}).
     *
     * @param steps the run's new total, at least {@link #step}; 0 keeps the saved total
     * @param op the resuming method, for the message
     * @param checkpoint where the state was read, for the message
     * @return the configuration
     * @throws IllegalArgumentException if {@code steps} is below the steps already done
     */
    TrainerConfig configForResume(long steps, String op, Path checkpoint) {
        if (steps != 0 && steps < step) {
            throw new IllegalArgumentException(op + ": steps is " + steps + ", expected 0 (keep the saved "
                    + config.steps() + ") or at least the " + step + " steps the checkpoint " + checkpoint
                    + " has done");
        }
        return steps == 0 ? config : config.withSteps(steps);
    }
}
