package io.sparge4j.models.eval;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.Clip;
import io.sparge4j.models.data.ClipAttributes;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.data.Direction;

import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * What each caption word is worth to a perfect model at noise 1, from the data alone: there x_t is pure noise, the
 * best velocity prediction is {@code x_t - E[x0 | caption]} and its flow-matching loss is the variance of x0 about the
 * caption's mean clip. A word is worth the drop in that loss when the mean clip is taken over the clips that share
 * the word as well: the spread of the finer class means about the coarser ones, per element. Set against
 * {@link CaptionSensitivity}'s loss change at high noise, it says whether a word the model ignores carries anything.
 *
 * <p>Class means come from a finite sample, which inflates every spread a little; the same spread with the direction
 * replaced by a random one (seeded) is that inflation, reported beside the values.
 */
public final class CaptionWordValue {
    private static final Direction[] DIRECTIONS = Direction.values();

    private CaptionWordValue() {
    }

    /**
     * Per element, as the flow-matching loss is.
     *
     * @param clips the clips sampled
     * @param variance of x0 about the mean of all clips: the loss at noise 1 with no caption
     * @param colour the drop from knowing the colour
     * @param shapeGivenColour the further drop from knowing the shape as well
     * @param directionGivenColour the further drop from knowing the direction as well (instead of the shape)
     * @param randomDirectionGivenColour the same with each clip's direction drawn at random: the sampling inflation
     */
    public record Result(int clips, double variance, double colour, double shapeGivenColour,
            double directionGivenColour, double randomDirectionGivenColour) {
    }

    /**
     * @param data the clips (their own seed and motion)
     * @param clips how many, from index 0; at least 2
     * @param seed of the random directions of the control
     * @return the values
     * @throws IllegalArgumentException if data is null or clips is below 2
     */
    public static Result measure(ClipGenerator data, int clips, long seed) {
        if (data == null || clips < 2) {
            throw new IllegalArgumentException("CaptionWordValue.measure: data is " + data + " and clips " + clips
                    + ", expected a clip generator and at least 2 clips");
        }
        SplittableRandom random = new SplittableRandom(seed);
        Map<String, Mean> means = new HashMap<>();
        double sumSquares = 0;
        int numel = 0;
        for (int i = 0; i < clips; i++) {
            Clip clip = data.clip(i);
            float[] x;
            try (Tensor video = clip.video()) {
                x = video.toFloatArray();
            }
            numel = x.length;
            ClipAttributes a = clip.attributes();
            String colour = a.colour().name();
            String randomDirection = DIRECTIONS[random.nextInt(DIRECTIONS.length)].name();
            for (String key : new String[] {"", colour, colour + "/shape " + a.shape().name(), colour + "/direction "
                    + a.direction().name(), colour + "/random " + randomDirection}) {
                means.computeIfAbsent(key, k -> new Mean(x.length)).add(x);
            }
            for (float v : x) {
                sumSquares += (double) v * v;
            }
        }
        Mean all = means.get("");
        double variance = sumSquares / clips / numel - all.squaredNorm() / numel;
        double per = (double) clips * numel;
        return new Result(clips, variance, spread(means, "") / per, spread(means, "/shape ") / per,
                spread(means, "/direction ") / per, spread(means, "/random ") / per);
    }

    /**
     * The sum over the finer classes of count x |finer mean - coarser mean|^2: with {@code marker} "" the colours about
     * the mean of all clips, else the classes "colour + marker + value" about their colour's mean.
     */
    private static double spread(Map<String, Mean> means, String marker) {
        double total = 0;
        for (Map.Entry<String, Mean> e : means.entrySet()) {
            String key = e.getKey();
            String coarser;
            if (marker.isEmpty()) {
                if (key.isEmpty() || key.contains("/")) {
                    continue;
                }
                coarser = "";
            } else {
                int at = key.indexOf(marker);
                if (at < 0) {
                    continue;
                }
                coarser = key.substring(0, at);
            }
            total += e.getValue().count * e.getValue().squaredDistance(means.get(coarser));
        }
        return total;
    }

    /** A running mean clip in float64. */
    private static final class Mean {
        private final double[] sum;
        private int count;

        Mean(int length) {
            sum = new double[length];
        }

        void add(float[] x) {
            for (int j = 0; j < x.length; j++) {
                sum[j] += x[j];
            }
            count++;
        }

        double squaredNorm() {
            double s = 0;
            for (double v : sum) {
                s += (v / count) * (v / count);
            }
            return s;
        }

        double squaredDistance(Mean other) {
            double s = 0;
            for (int j = 0; j < sum.length; j++) {
                double d = sum[j] / count - other.sum[j] / other.count;
                s += d * d;
            }
            return s;
        }
    }
}
