package io.sparge4j.models.eval;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.Captions;
import io.sparge4j.models.data.Clip;
import io.sparge4j.models.data.ClipAttributes;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.data.Direction;
import io.sparge4j.models.data.ShapeColour;
import io.sparge4j.models.data.ShapeKind;
import io.sparge4j.models.sampling.ConditionalVelocityModel;
import io.sparge4j.models.sampling.Noise;
import io.sparge4j.models.train.Losses;
import io.sparge4j.models.train.NoisySample;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.function.IntConsumer;

/**
 * Does a model read each caption word? A model that ignores a word denoises a clip as well with that word swapped
 * as with the right one, so the flow-matching loss {@code mean((v - (noise - x0))^2)} barely moves; a model that
 * reads it does worse with the wrong word. For N procedural clips, each noised to every level with its own seeded
 * noise, the loss is measured with the clip's caption and with one attribute changed at a time (colour, shape,
 * direction reversed) and with the empty caption; the report is the mean loss per level and each variant's
 * relative change against the right caption. Swapped captions come from {@link Captions#caption} on changed
 * attributes, naming the background exactly when the clip's caption does, so only the one word differs.
 *
 * <p>It also reports how far each swap moves the text features themselves ({@link Result#textChange}): a word the
 * text encoder barely passes on cannot be read by the DiT however it is trained, so a small loss change with a
 * small feature change points at the text encoder, with a large one at the DiT.
 */
public final class CaptionSensitivity {
    /** The wrong captions, each against the clip's own. */
    public enum Variant {
        /** Another colour, drawn uniformly from the other colours. */
        COLOUR("colour"),
        /** Another shape, drawn uniformly from the other shapes. */
        SHAPE("shape"),
        /** The opposite direction: both signs flipped. */
        DIRECTION("direction"),
        /** The empty caption: zero text features, the unconditional branch. */
        EMPTY("empty");

        private final String word;

        Variant(String word) {
            this.word = word;
        }

        /** @return the lower-case name used in reports */
        public String word() {
            return word;
        }
    }

    /**
     * The captions one clip is measured with.
     *
     * @param index the clip's index in its generator
     * @param right the clip's own caption
     * @param colour the caption with another colour
     * @param shape the caption with another shape
     * @param direction the caption with the opposite direction
     */
    public record ClipCaptions(long index, String right, String colour, String shape, String direction) {
        public ClipCaptions {
            if (right == null || colour == null || shape == null || direction == null) {
                throw new IllegalArgumentException("captions of clip " + index + " are " + right + ", " + colour
                        + ", " + shape + ", " + direction + ", expected four captions");
            }
        }

        /**
         * @param variant which caption
         * @return its text ("" for {@link Variant#EMPTY})
         */
        public String caption(Variant variant) {
            return switch (variant) {
                case COLOUR -> colour;
                case SHAPE -> shape;
                case DIRECTION -> direction;
                case EMPTY -> "";
            };
        }
    }

    /**
     * The mean losses at one noise level, over all clips.
     *
     * @param level the noise level s in (0, 1]
     * @param timestep the timestep the model saw there (0..1000)
     * @param loss the mean loss with each clip's own caption
     * @param colourLoss with another colour
     * @param shapeLoss with another shape
     * @param directionLoss with the opposite direction
     * @param emptyLoss with the empty caption
     */
    public record Level(double level, double timestep, double loss, double colourLoss, double shapeLoss,
                        double directionLoss, double emptyLoss) {
        public Level {
            if (!(level > 0 && level <= 1)) {
                throw new IllegalArgumentException("level is " + level + ", expected a noise level in (0, 1]");
            }
            for (double l : new double[] {loss, colourLoss, shapeLoss, directionLoss, emptyLoss}) {
                if (!(l >= 0)) {
                    throw new IllegalArgumentException("losses at level " + level + " are " + loss + ", "
                            + colourLoss + ", " + shapeLoss + ", " + directionLoss + ", " + emptyLoss
                            + ", expected numbers >= 0 (or infinity for a diverging model)");
                }
            }
        }

        /**
         * @param variant which wrong caption
         * @return its mean loss
         */
        public double loss(Variant variant) {
            return switch (variant) {
                case COLOUR -> colourLoss;
                case SHAPE -> shapeLoss;
                case DIRECTION -> directionLoss;
                case EMPTY -> emptyLoss;
            };
        }

        /**
         * @param variant which wrong caption
         * @return {@code loss(variant) / loss - 1}: 0.14 means the wrong word costs 14% more loss; exactly 0 when
         *     the losses are equal (also both 0)
         */
        public double change(Variant variant) {
            double v = loss(variant);
            return v == loss ? 0 : v / loss - 1;
        }
    }

    /**
     * @param levels one entry per noise level, in the order asked for
     * @param captions the captions of each clip, in clip order
     * @param textChanges per variant, in {@link Variant} order: the mean over clips of
     *     {@code |c_wrong - c_right| / |c_right|}, the relative L2 distance between the text features of the wrong
     *     caption and the clip's own (the shorter read as zero-padded)
     */
    public record Result(List<Level> levels, List<ClipCaptions> captions, List<Double> textChanges) {
        public Result {
            levels = List.copyOf(levels);
            captions = List.copyOf(captions);
            textChanges = List.copyOf(textChanges);
            if (textChanges.size() != Variant.values().length) {
                throw new IllegalArgumentException("textChanges has " + textChanges.size() + " entries, expected one"
                        + " per variant (" + Variant.values().length + ")");
            }
        }

        /**
         * @param variant which wrong caption
         * @return the mean relative L2 distance of its text features from the right caption's: 0 when the text
         *     encoder maps both to the same features, 1 for the empty caption's zero features
         */
        public double textChange(Variant variant) {
            return textChanges.get(variant.ordinal());
        }
    }

    /** Mixed into the seed for the swaps' draws, so that they do not repeat clip 0's noise bits. */
    private static final long SWAP_SEED_MIX = 0xC0105EEDL;

    private CaptionSensitivity() {
    }

    /**
     * @param model the velocity model; its result is closed here
     * @param context the text features of a caption, a new tensor each call (closed here)
     * @param data the clip source; clips 0..clips-1 are measured
     * @param clips N, at least 1
     * @param levels noise levels, each in (0, 1], at least one
     * @param seed the noise's seed: clip c's noise is {@code Noise.gaussian(seed + c, shape)}, the same at every
     *     level and for every caption; it also seeds the drawn colours and shapes
     * @return the mean losses per level and the captions used
     */
    public static Result measure(ConditionalVelocityModel model, Function<String, Tensor> context, ClipGenerator data,
            int clips, double[] levels, long seed) {
        return measure(model, context, data, clips, levels, seed, done -> { });
    }

    /**
     * {@link #measure(ConditionalVelocityModel, Function, ClipGenerator, int, double[], long)}, reporting progress.
     *
     * @param progress told the number of clips done after each clip (a clip costs levels x 5 forwards)
     */
    public static Result measure(ConditionalVelocityModel model, Function<String, Tensor> context, ClipGenerator data,
            int clips, double[] levels, long seed, IntConsumer progress) {
        if (model == null || context == null || data == null || progress == null) {
            throw new IllegalArgumentException("model, context, data and progress are " + model + ", " + context
                    + ", " + data + ", " + progress + ", expected all four");
        }
        if (clips < 1) {
            throw new IllegalArgumentException("clips is " + clips + ", expected at least 1");
        }
        checkLevels(levels);
        Variant[] variants = Variant.values();
        double[][] sums = new double[levels.length][1 + variants.length];
        double[] timesteps = new double[levels.length];
        List<ClipCaptions> captions = new ArrayList<>(clips);
        SplittableRandom swaps = new SplittableRandom(seed ^ SWAP_SEED_MIX);
        for (int c = 0; c < clips; c++) {
            Clip clip = data.clip(c);
            Tensor[] contexts = new Tensor[1 + variants.length];
            try (Tensor x0 = clip.video(); Tensor noise = Noise.gaussian(seed + c, x0.shape())) {
                ClipCaptions caps = captions(clip, swaps);
                captions.add(caps);
                contexts[0] = context.apply(caps.right());
                for (int k = 0; k < variants.length; k++) {
                    contexts[1 + k] = context.apply(caps.caption(variants[k]));
                }
                double[] target = target(x0, noise);
                for (int l = 0; l < levels.length; l++) {
                    NoisySample noisy = Losses.noisy(x0, noise, levels[l]);
                    timesteps[l] = noisy.timestep();
                    try (Tensor xt = noisy.xt()) {
                        for (int k = 0; k < contexts.length; k++) {
                            try (Tensor v = model.velocity(xt, noisy.timestep(), contexts[k], 0)) {
                                sums[l][k] += loss(v, target);
                            }
                        }
                    }
                }
            } finally {
                for (Tensor t : contexts) {
                    if (t != null) {
                        t.close();
                    }
                }
            }
            progress.accept(c + 1);
        }
        List<Level> out = new ArrayList<>(levels.length);
        for (int l = 0; l < levels.length; l++) {
            double[] s = sums[l];
            out.add(new Level(levels[l], timesteps[l], s[0] / clips, s[1] / clips, s[2] / clips, s[3] / clips,
                    s[4] / clips));
        }
        return new Result(out, captions, textChanges(context, captions));
    }

    /**
     * How far each swap moves the features: per variant, in {@link Variant} order, the mean over the clips of
     * {@code |f(wrong) - f(right)| / |f(right)|} (relative L2, the shorter tensor read as zero-padded).
     *
     * @param features the features of a caption, a new tensor each call (closed here): the text encoder's, or
     *     those after the DiT's own text embedding
     * @param captions the clips' captions, at least one
     * @return one mean per variant
     */
    public static List<Double> textChanges(Function<String, Tensor> features, List<ClipCaptions> captions) {
        if (features == null || captions == null || captions.isEmpty()) {
            throw new IllegalArgumentException("features and captions are " + features + ", " + captions
                    + ", expected a function and at least one clip's captions");
        }
        Variant[] variants = Variant.values();
        double[] sums = new double[variants.length];
        for (ClipCaptions caps : captions) {
            try (Tensor right = features.apply(caps.right())) {
                for (int k = 0; k < variants.length; k++) {
                    try (Tensor wrong = features.apply(caps.caption(variants[k]))) {
                        sums[k] += relativeDistance(wrong, right);
                    }
                }
            }
        }
        List<Double> out = new ArrayList<>(variants.length);
        for (double s : sums) {
            out.add(s / captions.size());
        }
        return out;
    }

    /** {@code |a - b| / |b|} over the flattened tensors, the shorter zero-padded, in double (0 when both are 0). */
    static double relativeDistance(Tensor a, Tensor b) {
        float[] x = a.toFloatArray();
        float[] y = b.toFloatArray();
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < Math.max(x.length, y.length); i++) {
            double xi = i < x.length ? x[i] : 0;
            double yi = i < y.length ? y[i] : 0;
            diff += (xi - yi) * (xi - yi);
            norm += yi * yi;
        }
        return diff == 0 ? 0 : Math.sqrt(diff / norm);
    }

    /**
     * The wrong captions of one clip; the colour and shape are drawn from {@code random}.
     *
     * @param clip a clip whose caption is {@link Captions#caption} of its attributes, with or without background
     * @param random the source of the other colour and shape
     * @return its captions
     * @throws IllegalArgumentException if the clip's caption is not one the caption builder makes
     */
    public static ClipCaptions captions(Clip clip, SplittableRandom random) {
        ClipAttributes a = clip.attributes();
        boolean withBackground;
        if (clip.caption().equals(Captions.caption(a, true))) {
            withBackground = true;
        } else if (clip.caption().equals(Captions.caption(a, false))) {
            withBackground = false;
        } else {
            throw new IllegalArgumentException("clip " + clip.index() + "'s caption \"" + clip.caption() + "\" is not"
                    + " built from its attributes, expected \"" + Captions.caption(a, false) + "\" (with or without"
                    + " its background)");
        }
        return new ClipCaptions(clip.index(), clip.caption(),
                Captions.caption(swap(a, Variant.COLOUR, random), withBackground),
                Captions.caption(swap(a, Variant.SHAPE, random), withBackground),
                Captions.caption(swap(a, Variant.DIRECTION, random), withBackground));
    }

    /**
     * @param a a clip's attributes
     * @param variant colour, shape or direction
     * @param random the source of the other colour or shape (not drawn from for the direction)
     * @return the attributes with that one attribute changed: another colour or shape, or the opposite direction
     */
    public static ClipAttributes swap(ClipAttributes a, Variant variant, SplittableRandom random) {
        return switch (variant) {
            case COLOUR -> new ClipAttributes(a.shape(), other(ShapeColour.values(), a.colour().ordinal(), random),
                    a.direction(), a.startX(), a.startY(), a.speed(), a.size(), a.background());
            case SHAPE -> new ClipAttributes(other(ShapeKind.values(), a.shape().ordinal(), random), a.colour(),
                    a.direction(), a.startX(), a.startY(), a.speed(), a.size(), a.background());
            case DIRECTION -> new ClipAttributes(a.shape(), a.colour(),
                    Direction.of(-a.direction().signX(), -a.direction().signY()), a.startX(), a.startY(), a.speed(),
                    a.size(), a.background());
            case EMPTY -> throw new IllegalArgumentException("variant is EMPTY, expected COLOUR, SHAPE or DIRECTION"
                    + " (the empty caption has no attributes)");
        };
    }

    /** One of the values other than {@code values[skip]}, uniformly. */
    private static <T> T other(T[] values, int skip, SplittableRandom random) {
        return values[(skip + 1 + random.nextInt(values.length - 1)) % values.length];
    }

    private static void checkLevels(double[] levels) {
        if (levels == null || levels.length == 0) {
            throw new IllegalArgumentException("levels are " + (levels == null ? "null" : "empty")
                    + ", expected at least one noise level in (0, 1]");
        }
        for (double l : levels) {
            if (!(l > 0 && l <= 1)) {
                throw new IllegalArgumentException("levels " + Arrays.toString(levels) + " hold " + l
                        + ", expected each noise level in (0, 1]");
            }
        }
    }

    /** The flow-matching target {@code noise - x0}, in double. */
    private static double[] target(Tensor x0, Tensor noise) {
        float[] a = x0.toFloatArray();
        float[] e = noise.toFloatArray();
        double[] t = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            t[i] = (double) e[i] - a[i];
        }
        return t;
    }

    /** {@code mean((v - target)^2)}, summed in double. */
    private static double loss(Tensor v, double[] target) {
        if (v.numel() != target.length) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "the velocity has shape %s (%d values),"
                    + " expected %d values like the clip", Arrays.toString(v.shape()), v.numel(), target.length));
        }
        float[] a = v.toFloatArray();
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            double d = a[i] - target[i];
            s += d * d;
        }
        return s / a.length;
    }
}
