package io.sparge4j.models.data;

import io.sparge4j.engine.tensor.Tensor;

import java.util.SplittableRandom;

/**
 * A seeded, unbounded source of captioned clips. Clip {@code i} depends only on the seed, the spec and {@code i}
 * (each clip draws from its own {@link SplittableRandom} seeded by a mix of seed and index), so clips can be asked
 * for in any order, from any thread.
 *
 * <p>Every clip satisfies two guarantees that the {@code ClipEvaluator} relies on:
 * <ul>
 *   <li>the object moves straight for at least {@value #STRAIGHT_STEPS} steps before its first bounce, so its
 *       starting direction can be read off its track;</li>
 *   <li>every pixel is at least {@value #CLEAR_MARGIN} pixels clear of the object's bounding square in at least
 *       {@value #MIN_CLEAR_FRAMES} frames, so the whole background shows at some time.</li>
 * </ul>
 * Speed and start are redrawn until both hold. The object's half-extent, speed and start range are the spec's
 * {@link ClipMotion} (by default 0.10 to 0.16 of the shorter side, at least {@value #MIN_SIZE_PIXELS} pixels; 0.2 to
 * 0.5 of its width per frame; starting anywhere).
 */
public final class ClipGenerator {
    /** Steps the object moves before it may first bounce. */
    public static final int STRAIGHT_STEPS = 3;
    static final double MIN_SIZE_PIXELS = 3.0;
    /** How far (pixels) from the object's bounding square a pixel counts as clear of it. */
    public static final int CLEAR_MARGIN = 2;
    /** Frames in which every pixel is clear of the object. */
    public static final int MIN_CLEAR_FRAMES = 2;
    private static final int MAX_ATTEMPTS = 100_000;
    private static final long GOLDEN_GAMMA = 0x9e3779b97f4a7c15L;

    private final long seed;
    private final ClipSpec spec;

    /**
     * @param seed the sequence's seed
     * @param spec frames, size and caption options
     */
    public ClipGenerator(long seed, ClipSpec spec) {
        if (spec == null) {
            throw new IllegalArgumentException("spec is null, expected a ClipSpec such as ClipSpec.DEFAULT");
        }
        this.seed = seed;
        this.spec = spec;
    }

    /** @return the seed */
    public long seed() {
        return seed;
    }

    /** @return the spec */
    public ClipSpec spec() {
        return spec;
    }

    /**
     * @param index the clip's index, at least 0
     * @return clip {@code index} of this sequence
     */
    public Clip clip(long index) {
        return clip(index, PromptRequest.NONE);
    }

    /**
     * Clip {@code index} with some attributes fixed: the others are drawn as for {@link #clip(long)} (so with
     * {@link PromptRequest#NONE} this is the same clip).
     *
     * @param index the clip's index, at least 0
     * @param request the attributes to fix (empty parts are the spec's {@link ClipSpec#fixed()} ones, else drawn)
     * @return the clip
     */
    public Clip clip(long index, PromptRequest request) {
        if (index < 0) {
            throw new IllegalArgumentException("index is " + index + ", expected >= 0");
        }
        if (request == null) {
            throw new IllegalArgumentException("request is null, expected PromptRequest.NONE to draw everything");
        }
        SplittableRandom rng = new SplittableRandom(mix64(seed + GOLDEN_GAMMA * (index + 1)));
        ClipAttributes attributes = drawAttributes(rng, request);
        boolean withBackground = rng.nextDouble() < spec.backgroundCaptionProbability();
        // drawn last and only when asked for, so that without dropout every clip is what it always was
        double dropout = spec.attributeDropout();
        boolean withoutColour = dropout > 0 && rng.nextDouble() < dropout;
        boolean withoutDirection = dropout > 0 && rng.nextDouble() < dropout;
        Tensor video = ClipRenderer.render(attributes, spec.frames(), spec.height(), spec.width());
        return new Clip(index, video, attributes, Captions.caption(attributes, withBackground, withoutColour,
                withoutDirection));
    }

    private ClipAttributes drawAttributes(SplittableRandom rng, PromptRequest request) {
        // Always draw every categorical part, so fixing one does not shift the draws of the others.
        ShapeKind shape = pick(ShapeKind.values(), rng);
        ShapeColour colour = pick(ShapeColour.values(), rng);
        Direction direction = pick(Direction.values(), rng);
        BackgroundKind backgroundKind = pick(BackgroundKind.values(), rng);
        // a request wins over the spec's fixed attributes, which win over the draws
        PromptRequest fixed = spec.fixed();
        shape = request.shape().or(fixed::shape).orElse(shape);
        colour = request.colour().or(fixed::colour).orElse(colour);
        direction = request.direction().or(fixed::direction).orElse(direction);
        backgroundKind = request.background().or(fixed::background).orElse(backgroundKind);
        Background background = Background.random(backgroundKind, rng);
        int side = Math.min(spec.height(), spec.width());
        ClipMotion motion = spec.motion();
        double size = Math.max(MIN_SIZE_PIXELS, uniform(rng, motion.minSize(), motion.maxSize()) * side);
        for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
            double speed = uniform(rng, motion.minSpeed(), motion.maxSpeed()) * 2 * size;
            double x = motion.trailing() && direction.signX() != 0
                    ? trailingStart(rng, size, spec.width(), motion.startSpread(), direction.signX())
                    : start(rng, size, spec.width(), motion.startSpread());
            double y = motion.trailing() && direction.signY() != 0
                    ? trailingStart(rng, size, spec.height(), motion.startSpread(), direction.signY())
                    : start(rng, size, spec.height(), motion.startSpread());
            if (2 * size + speed > side) {
                continue;
            }
            ClipAttributes a = new ClipAttributes(shape, colour, direction, x, y, speed, size, background);
            if (a.firstBounceStep(spec.frames(), spec.height(), spec.width()) >= STRAIGHT_STEPS
                    && backgroundShows(a)) {
                return a;
            }
        }
        throw new IllegalStateException("no clip of " + spec + " met the generator's guarantees in " + MAX_ATTEMPTS
                + " attempts; use more frames, larger frames, a faster motion or smaller objects");
    }

    /** A draw from [min, max), or min itself when the range is empty (SplittableRandom refuses it). */
    private static double uniform(SplittableRandom rng, double min, double max) {
        return max > min ? rng.nextDouble(min, max) : min;
    }

    /**
     * A start coordinate: anywhere the object fits ({@code spread} 1, the draw of the first tiny-demo data, kept bit
     * for bit), else within {@code spread} of that range around the centre.
     */
    private static double start(SplittableRandom rng, double size, int side, double spread) {
        if (spread >= 1) {
            return rng.nextDouble(size, side - size);
        }
        double half = spread * (side / 2.0 - size);
        return half > 0 ? rng.nextDouble(side / 2.0 - half, side / 2.0 + half) : side / 2.0;
    }

    /**
     * A start coordinate within {@code spread} of the free range from the edge the object moves away from: the low
     * edge when it moves towards higher coordinates ({@code sign} 1), the high edge otherwise.
     */
    private static double trailingStart(SplittableRandom rng, double size, int side, double spread, int sign) {
        double reach = spread * (side - 2 * size);
        if (!(reach > 0)) {
            return sign > 0 ? size : side - size;
        }
        return sign > 0 ? rng.nextDouble(size, size + reach) : rng.nextDouble(side - size - reach, side - size);
    }

    /** Whether every pixel is {@link #CLEAR_MARGIN} pixels clear of the object's bounding square in enough frames. */
    private boolean backgroundShows(ClipAttributes a) {
        int frames = spec.frames();
        int height = spec.height();
        int width = spec.width();
        double[][] centres = a.centres(frames, height, width);
        int[] covered = new int[height * width];
        int limit = frames - MIN_CLEAR_FRAMES;
        double s = a.size() + CLEAR_MARGIN;
        for (double[] c : centres) {
            // Pixel x covers [x, x + 1): it overlaps [c - s, c + s] with positive area when x in (c - s - 1, c + s).
            int x0 = (int) Math.floor(c[0] - s);
            int x1 = (int) Math.ceil(c[0] + s) - 1;
            int y0 = (int) Math.floor(c[1] - s);
            int y1 = (int) Math.ceil(c[1] + s) - 1;
            for (int y = Math.max(0, y0); y <= Math.min(height - 1, y1); y++) {
                for (int x = Math.max(0, x0); x <= Math.min(width - 1, x1); x++) {
                    if (++covered[y * width + x] > limit) {
                        return false;
                    }
                }
            }
        }
        return true;
    }

    private static <T> T pick(T[] values, SplittableRandom rng) {
        return values[rng.nextInt(values.length)];
    }

    /** SplitMix64's finaliser (Stafford's mix 13): spreads nearby seeds and indices over all 64 bits. */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
