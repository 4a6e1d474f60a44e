package io.sparge4j.models.report;

/**
 * A perceptually ordered colour ramp (viridis, sampled at nine points and interpolated linearly in RGB), so that a
 * heatmap reads from dark purple (low) through teal to yellow (high), also in grey-scale print.
 */
public final class ColourMap {
    /** Viridis at t = 0, 1/8, ..., 1. */
    private static final int[] STOPS = {
        0x440154, 0x472c7a, 0x3b518b, 0x2c718e, 0x21908d, 0x27ad81, 0x5cc863, 0xaadc32, 0xfde725};

    private ColourMap() {
    }

    /**
     * @param t a position in [0, 1]; values outside are clamped
     * @return the colour as 0xRRGGBB
     * @throws IllegalArgumentException on NaN
     */
    public static int rgb(double t) {
        if (Double.isNaN(t)) {
            throw new IllegalArgumentException("ColourMap.rgb: t is NaN, expected a number in [0, 1]");
        }
        double c = Math.max(0, Math.min(1, t)) * (STOPS.length - 1);
        int i = Math.min(STOPS.length - 2, (int) Math.floor(c));
        double f = c - i;
        int a = STOPS[i];
        int b = STOPS[i + 1];
        return (mix(a >> 16, b >> 16, f) << 16) | (mix(a >> 8, b >> 8, f) << 8) | mix(a, b, f);
    }

    private static int mix(int a, int b, double f) {
        int x = a & 0xff;
        int y = b & 0xff;
        return (int) Math.round(x + (y - x) * f);
    }
}
