package io.sparge4j.models.data;

/**
 * The colours of a clip's object, chosen bright and saturated so that each stays far from the others (at least
 * 0.38 apart in RGB on a 0..1 scale, orange against yellow being the closest pair) and from every background,
 * whose channels stay at or below {@link Background#MAX_CHANNEL}.
 */
public enum ShapeColour {
    RED("red", 0.95, 0.12, 0.10),
    GREEN("green", 0.12, 0.95, 0.18),
    BLUE("blue", 0.15, 0.35, 1.00),
    YELLOW("yellow", 0.98, 0.92, 0.15),
    CYAN("cyan", 0.10, 0.90, 0.95),
    MAGENTA("magenta", 0.95, 0.15, 0.90),
    WHITE("white", 0.97, 0.97, 0.97),
    ORANGE("orange", 1.00, 0.55, 0.05);

    private final String word;
    private final double red;
    private final double green;
    private final double blue;

    ShapeColour(String word, double red, double green, double blue) {
        this.word = word;
        this.red = red;
        this.green = green;
        this.blue = blue;
    }

    /** @return the caption word, lower case */
    public String word() {
        return word;
    }

    /**
     * @param channel 0 red, 1 green, 2 blue
     * @return the channel's intensity in [0, 1]
     */
    public double channel(int channel) {
        return switch (channel) {
            case 0 -> red;
            case 1 -> green;
            case 2 -> blue;
            default -> throw new IllegalArgumentException("channel is " + channel + ", expected 0, 1 or 2");
        };
    }

    /**
     * @param channel 0 red, 1 green, 2 blue
     * @return the channel as a clip value in [-1, 1] ({@code 2 * intensity - 1})
     */
    public double signedChannel(int channel) {
        return 2 * channel(channel) - 1;
    }

    /**
     * The named colour closest to a colour given in clip values.
     *
     * @param rgb three values in [-1, 1] (red, green, blue)
     * @return the nearest colour by Euclidean distance
     */
    public static ShapeColour nearest(double[] rgb) {
        if (rgb == null || rgb.length != 3) {
            throw new IllegalArgumentException("rgb has " + (rgb == null ? "null" : rgb.length + " values")
                    + ", expected 3 values (red, green, blue) in [-1, 1]");
        }
        ShapeColour best = null;
        double bestDistance = Double.POSITIVE_INFINITY;
        for (ShapeColour c : values()) {
            double d = 0;
            for (int k = 0; k < 3; k++) {
                double e = rgb[k] - c.signedChannel(k);
                d += e * e;
            }
            if (d < bestDistance) {
                bestDistance = d;
                best = c;
            }
        }
        return best;
    }
}
