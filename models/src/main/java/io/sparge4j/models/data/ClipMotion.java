package io.sparge4j.models.data;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * How the object of a generated clip moves: its speed, as a fraction of its own width per frame, and where it may
 * start: around the frame's centre, or at the side it comes from ({@code trailing}).
 *
 * <p>The defaults (0.2 to 0.5 widths a frame, anywhere) bounce the object off the edges one to four times in 16
 * frames of 32 pixels, so the caption's direction, which is the first frame's, holds only until the first bounce
 * (about step 6 of 15). Slower objects that start near the centre do no better: they must still travel far enough to
 * uncover the whole background (the generator's guarantee), so they meet an edge about half-way and come back. In
 * both, only 46-48% of the frame-to-frame steps move the captioned way (ClipGeneratorTest), so the direction word
 * tells a denoiser little. A trailing start puts the object at the edge it moves away from (both edges for a
 * diagonal), so that a slow object (0.13 to 0.2 widths a frame, spread 0.1) sweeps across the frame the captioned
 * way in 98% of its steps.
 *
 * @param minSpeed the slowest speed, in object widths per frame, above 0
 * @param maxSpeed the fastest, at least minSpeed and at most 1
 * @param startSpread the start's range as a fraction of the free range on each axis: centred on the frame's centre
 *     (1 anywhere the object fits, 0.25 within a quarter of it), or with {@code trailing} measured from the edge the
 *     object moves away from on each axis it moves along; in (0, 1]
 * @param trailing start at the side the object comes from instead of around the centre (an axis it does not move
 *     along keeps the centred range); false in a run.json written before the setting existed
 * @param minSize the smallest half-extent of the object (radius, half side), as a fraction of the frame's shorter
 *     side (at least {@code ClipGenerator}'s 3 pixels), above 0; 0 and 0 (a run.json written before the setting
 *     existed) mean {@link #DEFAULT_MIN_SIZE} to {@link #DEFAULT_MAX_SIZE}
 * @param maxSize the largest, at least minSize and at most {@link #MAX_SIZE}. Speeds are in object widths, so a
 *     larger object also moves more pixels a frame
 */
public record ClipMotion(double minSpeed, double maxSpeed, double startSpread, boolean trailing, double minSize,
                         double maxSize) {
    /** The smallest half-extent by default: a tenth of the shorter side (3.2 pixels at 32). */
    public static final double DEFAULT_MIN_SIZE = 0.10;
    /** The largest half-extent by default (5.1 pixels at 32): objects 6 to 10 pixels wide. */
    public static final double DEFAULT_MAX_SIZE = 0.16;
    /**
     * The largest half-extent allowed. The generator must uncover every pixel in two frames, so an object that moves
     * along an axis needs {@code 2 size + 2 margin < side / 2} on it (0.219 of 32 pixels); at 0.20 to 0.21 most slow
     * trailing clips of 16 x 32 x 32 could not be drawn, at 0.18 to 0.20 every one of 200 could.
     */
    public static final double MAX_SIZE = 0.20;
    /** 0.2 to 0.5 object widths a frame, starting anywhere: the data of tiny-demo's stages 1 to 3. */
    public static final ClipMotion DEFAULT = new ClipMotion(0.2, 0.5, 1.0);

    /** Checks each value, naming the one that is wrong. */
    public ClipMotion {
        if (minSize == 0 && maxSize == 0) {
            minSize = DEFAULT_MIN_SIZE;
            maxSize = DEFAULT_MAX_SIZE;
        }
        if (!(minSize > 0) || !(maxSize >= minSize) || !(maxSize <= MAX_SIZE)) {
            throw new IllegalArgumentException("ClipMotion: object sizes " + minSize + " to " + maxSize + " of the"
                    + " shorter side, expected 0 < min <= max <= " + MAX_SIZE);
        }
        if (!(minSpeed > 0) || !(maxSpeed >= minSpeed) || !(maxSpeed <= 1)) {
            throw new IllegalArgumentException("ClipMotion: speeds " + minSpeed + " to " + maxSpeed + " object widths"
                    + " a frame, expected 0 < min <= max <= 1");
        }
        if (!(startSpread > 0) || !(startSpread <= 1)) {
            throw new IllegalArgumentException("ClipMotion: startSpread is " + startSpread + ", expected a fraction"
                    + " of the free range in (0, 1]");
        }
    }

    /** Objects of the default sizes that start around the frame's centre. */
    public ClipMotion(double minSpeed, double maxSpeed, double startSpread) {
        this(minSpeed, maxSpeed, startSpread, false);
    }

    /** Objects of the default sizes. */
    public ClipMotion(double minSpeed, double maxSpeed, double startSpread, boolean trailing) {
        this(minSpeed, maxSpeed, startSpread, trailing, DEFAULT_MIN_SIZE, DEFAULT_MAX_SIZE);
    }

    /** @return this motion with a trailing start (at the side the object comes from) or a centred one */
    public ClipMotion withTrailingStart(boolean trailingStart) {
        return new ClipMotion(minSpeed, maxSpeed, startSpread, trailingStart, minSize, maxSize);
    }

    /**
     * @param min the smallest half-extent, a fraction of the shorter side
     * @param max the largest
     * @return this motion with objects of those sizes
     */
    public ClipMotion withSizes(double min, double max) {
        return new ClipMotion(minSpeed, maxSpeed, startSpread, trailing, min, max);
    }

    /**
     * @param text {@code MIN,MAX}, e.g. {@code 0.16,0.2}
     * @return this motion with objects of those half-extents (fractions of the shorter side)
     * @throws IllegalArgumentException naming the text when it is not two numbers, or a value out of range
     */
    public ClipMotion withSizes(String text) {
        double[] v = pair(text, "sizes", "half-extents as fractions of the shorter side, e.g. 0.16,0.2");
        return withSizes(v[0], v[1]);
    }

    /** @return {@code MIN,MAX} of the sizes as {@link #withSizes(String)} reads it */
    public String sizes() {
        return String.format(Locale.ROOT, "%s,%s", minSize, maxSize);
    }

    /**
     * @param text {@code MIN,MAX}, e.g. {@code 0.15,0.3}
     * @param startSpread as the record's
     * @return the motion
     * @throws IllegalArgumentException naming the text when it is not two numbers, or a value out of range
     */
    public static ClipMotion parse(String text, double startSpread) {
        double[] v = pair(text, "speeds", "object widths a frame, e.g. 0.15,0.3");
        return new ClipMotion(v[0], v[1], startSpread);
    }

    private static double[] pair(String text, String what, String expected) {
        String[] parts = text == null ? new String[0] : text.split(",");
        if (parts.length != 2) {
            throw new IllegalArgumentException(what + " '" + text + "': expected MIN,MAX in " + expected);
        }
        try {
            return new double[] {Double.parseDouble(parts[0].strip()), Double.parseDouble(parts[1].strip())};
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(what + " '" + text + "': expected two numbers MIN,MAX in " + expected,
                    e);
        }
    }

    /** @return {@code MIN,MAX} as {@link #parse} reads it */
    public String speeds() {
        return String.format(Locale.ROOT, "%s,%s", minSpeed, maxSpeed);
    }

    /**
     * @return the motion as the evaluation reports write it, in the command-line spellings: {@code clip_speed}
     *     ({@link #speeds}), {@code clip_start} ({@code trailing} or {@code centre}), {@code clip_start_spread} and
     *     {@code clip_size} ({@link #sizes})
     */
    public Map<String, Object> settings() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("clip_speed", speeds());
        m.put("clip_start", trailing ? "trailing" : "centre");
        m.put("clip_start_spread", startSpread);
        m.put("clip_size", sizes());
        return m;
    }
}
