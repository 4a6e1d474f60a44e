package io.sparge4j.models.eval;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.Captions;
import io.sparge4j.models.data.Direction;
import io.sparge4j.models.data.PromptRequest;
import io.sparge4j.models.data.ShapeColour;
import io.sparge4j.models.data.ShapeKind;

import java.util.Arrays;
import java.util.Optional;

/**
 * Measures, without a neural network, whether a clip shows what its prompt asks for: the colour and shape of the
 * moving object, its direction, how smooth its motion is, and two image-quality proxies (edge sharpness and
 * background noise). Made for the procedural data of {@code io.sparge4j.models.data}: one bright object moving over
 * a static dark background. See {@link Foreground}, {@link ObjectTrack} and {@link Motion} for the methods.
 *
 * <p>Stateless and thread-safe.
 */
public final class ClipEvaluator {
    /** Skewness above which a frame's object is a triangle (half a triangle's 2 sqrt(2) / 5). */
    static final double TRIANGLE_SKEWNESS = Math.sqrt(2) / 5;
    /** Fill ratio above which a frame's object is a square (midway between pi/4 and 1). */
    static final double SQUARE_ABOVE = (Math.PI / 4 + 1) / 2;
    /** The smallest frame count the evaluator accepts (two velocities and one second difference). */
    public static final int MIN_FRAMES = 3;
    /** The smallest height and width the evaluator accepts. */
    public static final int MIN_SIDE = 8;

    /**
     * @param clip {@code (3, F, H, W)} RGB in [-1, 1] (values outside are allowed, NaN and infinities are not)
     * @param prompt the prompt, parsed by {@link Captions#parse}
     * @return the measurements
     * @throws IllegalArgumentException on a bad shape, a non-finite value or a null argument
     */
    public ClipEvaluation evaluate(Tensor clip, String prompt) {
        if (prompt == null) {
            throw new IllegalArgumentException("prompt is null, expected text (\"\" asks for nothing)");
        }
        return evaluate(clip, Captions.parse(prompt));
    }

    /**
     * @param clip {@code (3, F, H, W)} RGB in [-1, 1] (values outside are allowed, NaN and infinities are not)
     * @param request what the clip should show
     * @return the measurements
     * @throws IllegalArgumentException on a bad shape, a non-finite value or a null argument
     */
    public ClipEvaluation evaluate(Tensor clip, PromptRequest request) {
        if (request == null) {
            throw new IllegalArgumentException("request is null, expected PromptRequest.NONE to ask for nothing");
        }
        float[] data = checkedValues(clip);
        int frames = clip.dim(1);
        int height = clip.dim(2);
        int width = clip.dim(3);
        Foreground fg = Foreground.of(data, frames, height, width);
        ObjectTrack track = new ObjectTrack(fg);
        Motion motion = new Motion(track, height, width);

        int present = track.presentCount();
        Optional<ShapeColour> colour = Optional.empty();
        Optional<ShapeKind> shape = Optional.empty();
        double colourDistance = Double.NaN;
        double fill = 0;
        double sharpness = 0;
        double skewness = 0;
        if (present > 0) {
            ShapeColour named = ShapeColour.nearest(fg.objectColour);
            colour = Optional.of(named);
            double d = 0;
            for (int c = 0; c < 3; c++) {
                double e = fg.objectColour[c] - named.signedChannel(c);
                d += e * e;
            }
            colourDistance = Math.sqrt(d);
            int[] votes = new int[ShapeKind.values().length];
            for (int f = 0; f < frames; f++) {
                if (track.present[f]) {
                    votes[classify(track.fill[f], track.skewness[f]).ordinal()]++;
                    fill += track.fill[f];
                    skewness += track.skewness[f];
                    sharpness += track.sharpness[f];
                }
            }
            fill /= present;
            skewness /= present;
            sharpness /= present;
            int best = 0;
            for (int k = 1; k < votes.length; k++) {
                best = votes[k] > votes[best] ? k : best;
            }
            shape = Optional.of(ShapeKind.values()[best]);
        }
        Optional<Direction> direction = motion.direction;
        return new ClipEvaluation(request, colour, shape, direction,
                matches(request.colour(), colour), matches(request.shape(), shape),
                matches(request.direction(), direction), present / (double) frames, fill, skewness, colourDistance,
                motion.speed, motion.accelerationRatio, motion.smoothness, sharpness, backgroundNoise(fg),
                fg.contrast);
    }

    /**
     * @param fill the frame's fill ratio
     * @param skewness the frame's skewness
     * @return a triangle when skewed, otherwise the square or circle whose fill ratio is nearer
     */
    static ShapeKind classify(double fill, double skewness) {
        if (skewness > TRIANGLE_SKEWNESS) {
            return ShapeKind.TRIANGLE;
        }
        return fill > SQUARE_ABOVE ? ShapeKind.SQUARE : ShapeKind.CIRCLE;
    }

    private static <T> boolean matches(Optional<T> requested, Optional<T> found) {
        return requested.isPresent() && requested.equals(found);
    }

    /**
     * The root mean square, over pixels, channels and the frames in which a pixel is clear of the object, of its
     * deviation from its own mean over those frames (pixels clear in fewer than two frames are left out).
     */
    private static double backgroundNoise(Foreground fg) {
        int plane = fg.height * fg.width;
        double sum = 0;
        long count = 0;
        for (int p = 0; p < plane; p++) {
            int n = 0;
            for (int f = 0; f < fg.frames; f++) {
                n += fg.clear[f][p] ? 1 : 0;
            }
            if (n < 2) {
                continue;
            }
            for (int c = 0; c < 3; c++) {
                double mean = 0;
                for (int f = 0; f < fg.frames; f++) {
                    mean += fg.clear[f][p] ? fg.value(c, f, p) : 0;
                }
                mean /= n;
                for (int f = 0; f < fg.frames; f++) {
                    if (fg.clear[f][p]) {
                        double e = fg.value(c, f, p) - mean;
                        sum += e * e;
                    }
                }
                count += n;
            }
        }
        return count == 0 ? 0 : Math.sqrt(sum / count);
    }

    private static float[] checkedValues(Tensor clip) {
        if (clip == null) {
            throw new IllegalArgumentException("clip is null, expected a (3, F, H, W) tensor in [-1, 1]");
        }
        int[] s = clip.shape();
        if (s.length != 4 || s[0] != 3 || s[1] < MIN_FRAMES || s[2] < MIN_SIDE || s[3] < MIN_SIDE) {
            throw new IllegalArgumentException("clip has shape " + Arrays.toString(s) + ", expected (3, F, H, W) with F >= "
                    + MIN_FRAMES + " and H, W >= " + MIN_SIDE);
        }
        float[] data = clip.toFloatArray();
        for (int i = 0; i < data.length; i++) {
            if (!Float.isFinite(data[i])) {
                int plane = s[2] * s[3];
                throw new IllegalArgumentException("clip has " + data[i] + " at channel " + i / (s[1] * plane)
                        + ", frame " + i / plane % s[1] + ", row " + i % plane / s[3] + ", column " + i % s[3]
                        + ", expected finite values in [-1, 1]");
            }
        }
        return data;
    }
}
