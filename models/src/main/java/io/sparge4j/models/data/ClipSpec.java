package io.sparge4j.models.data;

/**
 * The geometry of generated clips and how often captions name the background.
 *
 * @param frames frames per clip, in [{@link #MIN_FRAMES}, {@link #MAX_FRAMES}]
 * @param height rows, in [{@link #MIN_SIDE}, {@link #MAX_SIDE}]
 * @param width columns, in [{@link #MIN_SIDE}, {@link #MAX_SIDE}]
 * @param backgroundCaptionProbability the probability that a caption ends with "on a ... background", in [0, 1]
 * @param motion the object's speeds and start range
 * @param attributeDropout the probability, drawn separately for the colour and for the direction, that the caption
 *     leaves that attribute out ("a circle moving left", "a red circle"), in [0, 1); 0 names both always. A caption
 *     without its colour can only help a denoiser through its shape and direction words, which tiny-demo never
 *     learnt to read while the colour word was always there (bench/tiny-demo/RECIPE.md, stage 4)
 * @param fixed attributes every clip has (e.g. one colour and shape, so that the direction is the only word that
 *     varies); {@link PromptRequest#NONE} draws them all
 */
public record ClipSpec(int frames, int height, int width, double backgroundCaptionProbability, ClipMotion motion,
                       double attributeDropout, PromptRequest fixed) {
    public static final int MIN_FRAMES = 8;
    public static final int MAX_FRAMES = 32;
    public static final int MIN_SIDE = 24;
    public static final int MAX_SIDE = 256;
    /** The default probability that a caption names the background. */
    public static final double DEFAULT_BACKGROUND_CAPTION_PROBABILITY = 0.25;
    /** 16 frames of 32x32 pixels, a quarter of the captions naming the background. */
    public static final ClipSpec DEFAULT = new ClipSpec(16, 32, 32, DEFAULT_BACKGROUND_CAPTION_PROBABILITY);

    /** A spec with {@link ClipMotion#DEFAULT} and every caption naming colour and direction. */
    public ClipSpec(int frames, int height, int width, double backgroundCaptionProbability) {
        this(frames, height, width, backgroundCaptionProbability, ClipMotion.DEFAULT, 0, PromptRequest.NONE);
    }

    public ClipSpec {
        if (fixed == null) {
            throw new IllegalArgumentException("fixed is null, expected PromptRequest.NONE to draw every attribute");
        }
        if (motion == null) {
            throw new IllegalArgumentException("motion is null, expected a ClipMotion such as ClipMotion.DEFAULT");
        }
        check("frames", frames, MIN_FRAMES, MAX_FRAMES);
        check("height", height, MIN_SIDE, MAX_SIDE);
        check("width", width, MIN_SIDE, MAX_SIDE);
        if (!(backgroundCaptionProbability >= 0 && backgroundCaptionProbability <= 1)) {
            throw new IllegalArgumentException("backgroundCaptionProbability is " + backgroundCaptionProbability
                    + ", expected a probability in [0, 1]");
        }
        if (!(attributeDropout >= 0 && attributeDropout < 1)) {
            throw new IllegalArgumentException("attributeDropout is " + attributeDropout + ", expected a probability"
                    + " in [0, 1)");
        }
    }

    /** @return a spec of this geometry with the default background caption probability */
    public static ClipSpec of(int frames, int height, int width) {
        return new ClipSpec(frames, height, width, DEFAULT_BACKGROUND_CAPTION_PROBABILITY);
    }

    /** @return this spec with another motion */
    public ClipSpec withMotion(ClipMotion newMotion) {
        return new ClipSpec(frames, height, width, backgroundCaptionProbability, newMotion, attributeDropout, fixed);
    }

    /** @return this spec with another attribute dropout */
    public ClipSpec withAttributeDropout(double probability) {
        return new ClipSpec(frames, height, width, backgroundCaptionProbability, motion, probability, fixed);
    }

    /** @return this spec with other attributes fixed ({@link PromptRequest#NONE}: none) */
    public ClipSpec withFixed(PromptRequest newFixed) {
        return new ClipSpec(frames, height, width, backgroundCaptionProbability, motion, attributeDropout, newFixed);
    }

    private static void check(String name, int value, int min, int max) {
        if (value < min || value > max) {
            throw new IllegalArgumentException(name + " is " + value + ", expected " + min + ".." + max);
        }
    }

    /** @return the clip tensor's shape {@code (3, frames, height, width)} */
    public int[] shape() {
        return new int[] {3, frames, height, width};
    }
}
