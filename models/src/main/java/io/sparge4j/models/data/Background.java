package io.sparge4j.models.data;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * A static background: its kind and the parameters that draw it. Every channel stays in
 * [{@link #MIN_CHANNEL}, {@link #MAX_CHANNEL}] (dark), so every {@link ShapeColour} stands out against it.
 *
 * @param kind what is drawn
 * @param base the first colour, RGB in [0, 1] (three values)
 * @param second the second colour (the gradient's end, the other stripe); equal to base for plain and noise
 * @param angle the gradient's or stripes' direction in radians (0 = varying along x)
 * @param period the stripes' period in pixels (unused otherwise)
 * @param amplitude the noise's amplitude per channel (unused otherwise)
 * @param noiseSeed the seed of the noise field (unused otherwise)
 */
public record Background(BackgroundKind kind, double[] base, double[] second, double angle, double period,
                         double amplitude, long noiseSeed) {
    /** The darkest channel value a background uses. */
    public static final double MIN_CHANNEL = 0.02;
    /** The brightest channel value a background uses. */
    public static final double MAX_CHANNEL = 0.30;
    /** The cell size of the soft noise's lattice, in pixels. */
    static final int NOISE_CELL = 8;

    public Background {
        if (kind == null) {
            throw new IllegalArgumentException("kind is null, expected one of " + Arrays.toString(BackgroundKind.values()));
        }
        base = checkColour("base", base);
        second = checkColour("second", second);
    }

    private static double[] checkColour(String name, double[] rgb) {
        if (rgb == null || rgb.length != 3) {
            throw new IllegalArgumentException(name + " is " + Arrays.toString(rgb) + ", expected 3 values in [0, 1]");
        }
        return rgb.clone();
    }

    @Override
    public double[] base() {
        return base.clone();
    }

    @Override
    public double[] second() {
        return second.clone();
    }

    /**
     * Draws a background of a kind with random dark colours and texture.
     *
     * @param kind the kind
     * @param rng the source of randomness (advanced by a fixed number of draws per kind)
     * @return the background
     */
    static Background random(BackgroundKind kind, SplittableRandom rng) {
        // Leave room for the noise's amplitude inside [MIN_CHANNEL, MAX_CHANNEL].
        double[] base = darkColour(rng, 0.06, 0.24);
        double[] second = base;
        double angle = 0;
        double period = 0;
        double amplitude = 0;
        long noiseSeed = 0;
        switch (kind) {
            case PLAIN -> {
            }
            case GRADIENT -> {
                second = darkColour(rng, MIN_CHANNEL, MAX_CHANNEL);
                angle = rng.nextDouble(0, 2 * Math.PI);
            }
            case NOISE -> {
                amplitude = rng.nextDouble(0.03, 0.06);
                noiseSeed = rng.nextLong();
            }
            case STRIPES -> {
                second = darkColour(rng, MIN_CHANNEL, MAX_CHANNEL);
                // Keep the stripes visible: at least 0.12 apart in total over the channels.
                if (Math.abs(second[0] - base[0]) + Math.abs(second[1] - base[1]) + Math.abs(second[2] - base[2]) < 0.12) {
                    for (int c = 0; c < 3; c++) {
                        second[c] = base[c] > 0.16 ? base[c] - 0.08 : base[c] + 0.08;
                    }
                }
                angle = rng.nextInt(4) * Math.PI / 4;
                period = rng.nextDouble(5, 11);
            }
        }
        return new Background(kind, base, second, angle, period, amplitude, noiseSeed);
    }

    private static double[] darkColour(SplittableRandom rng, double lo, double hi) {
        return new double[] {rng.nextDouble(lo, hi), rng.nextDouble(lo, hi), rng.nextDouble(lo, hi)};
    }

    /**
     * Renders the background.
     *
     * @param height rows
     * @param width columns
     * @return {@code [3][height * width]} intensities in [0, 1], row-major per channel
     */
    double[][] render(int height, int width) {
        double[][] out = new double[3][height * width];
        double[][][] lattice = kind == BackgroundKind.NOISE ? noiseLattice(height, width) : null;
        double cos = Math.cos(angle);
        double sin = Math.sin(angle);
        // The gradient's extent: the projections of the frame's corners onto its direction.
        double lo = Math.min(0, cos * width) + Math.min(0, sin * height);
        double hi = Math.max(0, cos * width) + Math.max(0, sin * height);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                double px = x + 0.5;
                double py = y + 0.5;
                int i = y * width + x;
                for (int c = 0; c < 3; c++) {
                    double v = switch (kind) {
                        case PLAIN -> base[c];
                        case GRADIENT -> {
                            double t = (px * cos + py * sin - lo) / (hi - lo);
                            yield base[c] + t * (second[c] - base[c]);
                        }
                        case NOISE -> base[c] + amplitude * smoothNoise(lattice[c], px, py);
                        case STRIPES -> {
                            double t = 0.5 + 0.5 * Math.sin(2 * Math.PI * (px * cos + py * sin) / period);
                            yield base[c] + t * (second[c] - base[c]);
                        }
                    };
                    out[c][i] = Math.max(MIN_CHANNEL, Math.min(MAX_CHANNEL, v));
                }
            }
        }
        return out;
    }

    /** Uniform values in [-1, 1] on a lattice of {@link #NOISE_CELL}-pixel cells covering the frame. */
    private double[][][] noiseLattice(int height, int width) {
        SplittableRandom rng = new SplittableRandom(noiseSeed);
        int rows = height / NOISE_CELL + 2;
        int cols = width / NOISE_CELL + 2;
        double[][][] lattice = new double[3][rows][cols];
        for (double[][] channel : lattice) {
            for (double[] row : channel) {
                for (int j = 0; j < cols; j++) {
                    row[j] = rng.nextDouble(-1, 1);
                }
            }
        }
        return lattice;
    }

    /** Smoothstep interpolation of the lattice: continuous, with a zero slope at lattice points. */
    private static double smoothNoise(double[][] lattice, double px, double py) {
        double gx = px / NOISE_CELL;
        double gy = py / NOISE_CELL;
        int x0 = (int) gx;
        int y0 = (int) gy;
        double tx = smoothstep(gx - x0);
        double ty = smoothstep(gy - y0);
        double top = lattice[y0][x0] + tx * (lattice[y0][x0 + 1] - lattice[y0][x0]);
        double bottom = lattice[y0 + 1][x0] + tx * (lattice[y0 + 1][x0 + 1] - lattice[y0 + 1][x0]);
        return top + ty * (bottom - top);
    }

    private static double smoothstep(double t) {
        return t * t * (3 - 2 * t);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Background b && kind == b.kind && Arrays.equals(base, b.base)
                && Arrays.equals(second, b.second) && Double.compare(angle, b.angle) == 0
                && Double.compare(period, b.period) == 0 && Double.compare(amplitude, b.amplitude) == 0
                && noiseSeed == b.noiseSeed;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(kind, Arrays.hashCode(base), Arrays.hashCode(second), angle, period, amplitude,
                noiseSeed);
    }

    @Override
    public String toString() {
        return "Background[" + kind + ", base=" + Arrays.toString(base) + ", second=" + Arrays.toString(second)
                + ", angle=" + angle + ", period=" + period + ", amplitude=" + amplitude + ", noiseSeed=" + noiseSeed
                + "]";
    }
}
