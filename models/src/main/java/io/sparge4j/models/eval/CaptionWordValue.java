package io.sparge4j.models.eval;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.Clip;
import io.sparge4j.models.data.ClipAttributes;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.data.Direction;
import io.sparge4j.models.data.ShapeColour;

import java.util.EnumMap;
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
        Mean all = null;
        Map<ShapeColour, Mean> byColour = new EnumMap<>(ShapeColour.class);
        Map<Group, Mean> byShape = new HashMap<>();
        Map<Group, Mean> byDirection = new HashMap<>();
        Map<Group, Mean> byRandomDirection = new HashMap<>();
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
            ShapeColour colour = a.colour();
            Direction randomDirection = DIRECTIONS[random.nextInt(DIRECTIONS.length)];
            all = all == null ? new Mean(x.length) : all;
            all.add(x);
            byColour.computeIfAbsent(colour, k -> new Mean(x.length)).add(x);
            byShape.computeIfAbsent(new Group(colour, a.shape()), k -> new Mean(x.length)).add(x);
            byDirection.computeIfAbsent(new Group(colour, a.direction()), k -> new Mean(x.length)).add(x);
            byRandomDirection.computeIfAbsent(new Group(colour, randomDirection), k -> new Mean(x.length)).add(x);
            for (float v : x) {
                sumSquares += (double) v * v;
            }
        }
        double variance = sumSquares / clips / numel - all.squaredNorm() / numel;
        double colourSpread = 0;
        for (Mean m : byColour.values()) {
            colourSpread += m.count * m.squaredDistance(all);
        }
        double per = (double) clips * numel;
        return new Result(clips, variance, colourSpread / per, spread(byShape, byColour) / per,
                spread(byDirection, byColour) / per, spread(byRandomDirection, byColour) / per);
    }

    /** A class within a colour: the colour and one more attribute. */
    private record Group(ShapeColour colour, Object value) {
    }

    /** The sum over the classes of count x |class mean - its colour's mean|^2. */
    private static double spread(Map<Group, Mean> classes, Map<ShapeColour, Mean> byColour) {
        double total = 0;
        for (Map.Entry<Group, Mean> e : classes.entrySet()) {
            total += e.getValue().count * e.getValue().squaredDistance(byColour.get(e.getKey().colour()));
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
