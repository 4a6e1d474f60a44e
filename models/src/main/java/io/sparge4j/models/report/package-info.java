/**
 * The analysis and reporting half of the fine-tuning experiment (issue 7): PNG plots drawn with {@code java.awt}
 * ({@link io.sparge4j.models.report.LinePlot}, {@link io.sparge4j.models.report.Heatmap}), the paper's Case 2
 * attention-concentration measurement ({@link io.sparge4j.models.report.Concentration}), and the RESULTS.md
 * assembly from evaluation JSON files ({@link io.sparge4j.models.report.ResultsReport}).
 */
package io.sparge4j.models.report;
