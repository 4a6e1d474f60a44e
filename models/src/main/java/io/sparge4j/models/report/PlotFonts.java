package io.sparge4j.models.report;

import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.util.function.IntSupplier;

/**
 * The plots' labels need a font from the operating system (AWT asks fontconfig). A server without one fails deep inside
 * AWT with "Fontconfig head is null"; the commands that draw call {@link #require} first, so they stop at once with
 * advice instead of after minutes of computing.
 */
public final class PlotFonts {
    private PlotFonts() {
    }

    /**
     * Measures a label the way the plots do.
     *
     * @param what the command or option that needs the fonts, for the message (e.g. "sparge concentration")
     * @throws IllegalStateException naming what is missing and how to install it
     */
    public static void require(String what) {
        require(what, PlotFonts::measure);
    }

    /** {@link #require(String)} with the measurement given, so that a missing font can be simulated. */
    static void require(String what, IntSupplier measure) {
        Throwable failure;
        try {
            if (measure.getAsInt() > 0) {
                return;
            }
            failure = null;
        } catch (RuntimeException | Error e) {
            failure = e;
        }
        throw new IllegalStateException(what + " draws PNG plots with text, but this Java runtime finds no usable font"
                + (failure == null ? "" : " (" + failure.getClass().getSimpleName() + ": " + failure.getMessage() + ")")
                + ": install fontconfig and a font (Debian/Ubuntu: apt-get install fontconfig fonts-dejavu-core), or"
                + " run it on a machine that has them", failure);
    }

    private static int measure() {
        BufferedImage probe = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = probe.createGraphics();
        try {
            return g.getFontMetrics(new Font(Font.SANS_SERIF, Font.PLAIN, 12)).stringWidth("0.95");
        } finally {
            g.dispose();
        }
    }
}
