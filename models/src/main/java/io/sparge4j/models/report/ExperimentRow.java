package io.sparge4j.models.report;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * One evaluated model, as the report sees it: a name (the file's, e.g. {@code hybrid-distill} or
 * {@code sweep-training-free-0.90}), the attention sparsity it ran at, and every number of its evaluation summary by
 * flattened key ({@code summary.colour_rate} becomes {@code colour_rate}; nested objects join with dots).
 *
 * @param name the run's name
 * @param sparsity the measured sparsity, else the nominal one (from the file name), else NaN
 * @param nominalSparsity the sparsity the file name gives (sweeps), else NaN
 * @param metrics numbers by key, insertion-ordered; NaN where the file had null
 * @param source the file it came from
 */
public record ExperimentRow(String name, double sparsity, double nominalSparsity, Map<String, Double> metrics,
        Path source) {
    /** Copies the metrics. */
    public ExperimentRow {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("ExperimentRow: name is '" + name + "', expected a run name");
        }
        metrics = Collections.unmodifiableMap(new LinkedHashMap<>(metrics == null ? Map.of() : metrics));
    }

    /**
     * A metric by any of its names: the first alias that equals a key's last part or its whole dotted path (case,
     * underscores, dashes and dots ignored, "color" read as "colour"). Matching is exact on purpose: a loose match
     * could put an unrelated number (a noise seed under "noise") into a column.
     *
     * @param aliases names to try, in order
     * @return the first finite value found
     */
    public Optional<Double> metric(List<String> aliases) {
        for (String alias : aliases) {
            String a = normalise(alias);
            for (Map.Entry<String, Double> e : metrics.entrySet()) {
                String key = e.getKey();
                String last = key.substring(key.lastIndexOf('.') + 1);
                if ((normalise(last).equals(a) || normalise(key).equals(a)) && Double.isFinite(e.getValue())) {
                    return Optional.of(e.getValue());
                }
            }
        }
        return Optional.empty();
    }

    static String normalise(String key) {
        return key.toLowerCase(Locale.ROOT).replace("color", "colour").replaceAll("[^a-z0-9]", "");
    }
}
