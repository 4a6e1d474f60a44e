package io.sparge4j.models.report;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.Point;
import java.awt.Rectangle;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LinePlotTest {
    @TempDir
    Path dir;

    @Test
    void writesAPngWhoseMarkersHaveTheirSeriesColourWhereTheDataSays() throws IOException {
        SplittableRandom rng = new SplittableRandom(7);
        double[] x = {0.80, 0.90, 0.95, 0.97};
        double[] a = new double[x.length];
        double[] b = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            a[i] = 0.6 + 0.4 * rng.nextDouble();   // series a stays above b, so markers never overlap
            b[i] = 0.4 * rng.nextDouble();
        }
        LinePlot plot = new LinePlot("quality vs sparsity", "sparsity", "colour match rate",
                List.of(new LinePlot.Series("hybrid, distilled", x, a), new LinePlot.Series("training-free", x, b)),
                640, 400);
        Path png = dir.resolve("sub/plot.png");
        plot.write(png);
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(640, img.getWidth());
        assertEquals(400, img.getHeight());
        Rectangle area = plot.plotArea();
        for (int i = 0; i < x.length; i++) {
            Point pa = plot.pixel(x[i], a[i]);
            Point pb = plot.pixel(x[i], b[i]);
            assertTrue(area.contains(pa) && area.contains(pb), "points inside the plot area");
            assertEquals(LinePlot.colour(0), img.getRGB(pa.x, pa.y) & 0xffffff, "series 0 marker at point " + i);
            assertEquals(LinePlot.colour(1), img.getRGB(pb.x, pb.y) & 0xffffff, "series 1 marker at point " + i);
        }
        // Larger y is higher up, larger x further right.
        assertTrue(plot.pixel(0.9, 0.9).y < plot.pixel(0.9, 0.1).y);
        assertTrue(plot.pixel(0.95, 0.5).x > plot.pixel(0.8, 0.5).x);
        // The area's corner away from the data is background or grid, not a series colour.
        int corner = img.getRGB(area.x + area.width - 3, area.y + area.height / 2) & 0xffffff;
        assertTrue(corner != LinePlot.colour(0) && corner != LinePlot.colour(1));
        // Some pixels are black: axes, ticks and labels.
        assertTrue(countColour(img, 0x000000) > 500, "axes and labels drawn");
        try (var files = Files.list(png.getParent())) {
            assertEquals(List.of(png), files.toList(), "no temporary file left behind");
        }
    }

    @Test
    void aSinglePointStillGetsARange() {
        LinePlot plot = new LinePlot("t", "x", "y", List.of(new LinePlot.Series("s", new double[] {0.95},
                new double[] {0.5})));
        BufferedImage img = plot.render();
        Point p = plot.pixel(0.95, 0.5);
        assertEquals(LinePlot.colour(0), img.getRGB(p.x, p.y) & 0xffffff);
    }

    @Test
    void refusesBadInputWithAClearMessage() {
        var nan = assertThrows(IllegalArgumentException.class, () -> new LinePlot.Series("s", new double[] {1, 2},
                new double[] {0.5, Double.NaN}));
        assertTrue(nan.getMessage().contains("'s'") && nan.getMessage().contains("point 1")
                && nan.getMessage().contains("NaN"), nan.getMessage());
        var lengths = assertThrows(IllegalArgumentException.class, () -> new LinePlot.Series("s", new double[] {1, 2},
                new double[] {0.5}));
        assertTrue(lengths.getMessage().contains("2 values") && lengths.getMessage().contains("1"), lengths.getMessage());
        var empty = assertThrows(IllegalArgumentException.class, () -> new LinePlot.Series("s", new double[0],
                new double[0]));
        assertTrue(empty.getMessage().contains("no points"), empty.getMessage());
        var none = assertThrows(IllegalArgumentException.class, () -> new LinePlot("t", "x", "y", List.of()));
        assertTrue(none.getMessage().contains("empty"), none.getMessage());
        LinePlot.Series s = new LinePlot.Series("s", new double[] {1}, new double[] {1});
        var twice = assertThrows(IllegalArgumentException.class, () -> new LinePlot("t", "x", "y", List.of(s, s)));
        assertTrue(twice.getMessage().contains("distinct"), twice.getMessage());
    }

    static int countColour(BufferedImage img, int rgb) {
        int n = 0;
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                n += (img.getRGB(x, y) & 0xffffff) == rgb ? 1 : 0;
            }
        }
        return n;
    }
}
