package io.sparge4j.models.eval;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Averages over many {@link ClipEvaluation}s: the rate of each check over the clips whose prompt asked for it,
 * and the mean of each score over the clips where it is finite.
 *
 * @param clips how many clips
 * @param colourRate correct colours over clips whose prompt names a colour (NaN when none does)
 * @param shapeRate correct shapes over clips whose prompt names a shape (NaN when none does)
 * @param directionRate correct directions over clips whose prompt names a direction (NaN when none does)
 * @param allCorrectRate clips showing everything their prompt asked for, over all clips
 * @param smoothness mean smoothness
 * @param edgeSharpness mean edge sharpness
 * @param backgroundNoise mean background noise
 * @param objectPresence mean fraction of frames holding an object
 */
public record EvaluationSummary(int clips, double colourRate, double shapeRate, double directionRate,
                                double allCorrectRate, double smoothness, double edgeSharpness,
                                double backgroundNoise, double objectPresence) {

    /**
     * @param evaluations at least one evaluation
     * @return their summary
     * @throws IllegalArgumentException on a null or empty list
     */
    public static EvaluationSummary of(List<ClipEvaluation> evaluations) {
        if (evaluations == null || evaluations.isEmpty()) {
            throw new IllegalArgumentException("evaluations is " + (evaluations == null ? "null" : "empty")
                    + ", expected at least one ClipEvaluation");
        }
        int[] asked = new int[3];
        int[] correct = new int[3];
        int all = 0;
        double[] sums = new double[4];
        int[] counts = new int[4];
        for (ClipEvaluation e : evaluations) {
            if (e.request().colour().isPresent()) {
                asked[0]++;
                correct[0] += e.colourCorrect() ? 1 : 0;
            }
            if (e.request().shape().isPresent()) {
                asked[1]++;
                correct[1] += e.shapeCorrect() ? 1 : 0;
            }
            if (e.request().direction().isPresent()) {
                asked[2]++;
                correct[2] += e.directionCorrect() ? 1 : 0;
            }
            all += e.allCorrect() ? 1 : 0;
            double[] scores = {e.smoothness(), e.edgeSharpness(), e.backgroundNoise(), e.objectPresence()};
            for (int k = 0; k < scores.length; k++) {
                if (Double.isFinite(scores[k])) {
                    sums[k] += scores[k];
                    counts[k]++;
                }
            }
        }
        return new EvaluationSummary(evaluations.size(), rate(correct[0], asked[0]), rate(correct[1], asked[1]),
                rate(correct[2], asked[2]), rate(all, evaluations.size()), rate(sums[0], counts[0]),
                rate(sums[1], counts[1]), rate(sums[2], counts[2]), rate(sums[3], counts[3]));
    }

    private static double rate(double part, int whole) {
        return whole == 0 ? Double.NaN : part / whole;
    }

    /** @return an insertion-ordered map of JSON values (null where a value is NaN) */
    public Map<String, Object> toJsonMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("clips", clips);
        m.put("colour_rate", finite(colourRate));
        m.put("shape_rate", finite(shapeRate));
        m.put("direction_rate", finite(directionRate));
        m.put("all_correct_rate", finite(allCorrectRate));
        m.put("smoothness", finite(smoothness));
        m.put("edge_sharpness", finite(edgeSharpness));
        m.put("background_noise", finite(backgroundNoise));
        m.put("object_presence", finite(objectPresence));
        return m;
    }

    private static Double finite(double v) {
        return Double.isFinite(v) ? v : null;
    }
}
