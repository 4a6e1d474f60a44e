package io.sparge4j.models.train;

import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * One step's record, as written to the JSON-lines log and kept in checkpoints.
 *
 * @param step steps completed after this one (the first step logs 1)
 * @param loss the step's loss, the mean over its micro-batches
 * @param lr the learning rate it used
 * @param gradNorm the global gradient norm before clipping
 * @param stepSeconds wall time of the step (forward, backward, clipping, update; not checkpointing)
 * @param tokensPerSecond tokens processed per second of step time
 * @param metrics the task's extra figures, averaged over the micro-batches
 */
public record TrainerStepLog(
        @JsonProperty("step") long step,
        @JsonProperty("loss") double loss,
        @JsonProperty("lr") double lr,
        @JsonProperty("grad_norm") double gradNorm,
        @JsonProperty("step_time_s") double stepSeconds,
        @JsonProperty("tokens_per_s") double tokensPerSecond,
        @JsonProperty("metrics") Map<String, Double> metrics) {

    /** Copies the metrics, sorted by name. */
    public TrainerStepLog {
        metrics = metrics == null ? Map.of() : Collections.unmodifiableMap(new TreeMap<>(metrics));
    }
}
