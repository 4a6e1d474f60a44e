package io.sparge4j.models.train;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * What one micro-batch of a {@link TrainingTask} reports.
 *
 * @param loss the micro-batch's loss (finite)
 * @param tokens tokens processed, for the tokens/s figure (at least 0)
 * @param metrics extra figures to log, for example {@code "sparsity"}; averaged over the step's micro-batches
 */
public record StepResult(double loss, long tokens, Map<String, Double> metrics) {
    /** Copies the metrics (sorted by name) and checks the counts. */
    public StepResult {
        if (tokens < 0) {
            throw new IllegalArgumentException("StepResult: tokens is " + tokens + ", expected at least 0");
        }
        metrics = metrics == null ? Map.of() : Collections.unmodifiableMap(new TreeMap<>(metrics));
    }

    /**
     * @param loss the micro-batch's loss
     * @param tokens tokens processed
     * @return a result with no extra metrics
     */
    public static StepResult of(double loss, long tokens) {
        return new StepResult(loss, tokens, Map.of());
    }
}
