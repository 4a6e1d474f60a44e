package io.sparge4j.models.train;

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
}
