package io.sparge4j.models.report;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.Rectangle;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HeatmapTest {
    @TempDir
    Path dir;

    @Test
    void cellsTakeTheColourOfTheirValueAndTheBarSpansTheRange() throws IOException {
        SplittableRandom rng = new SplittableRandom(11);
        int rows = 5;
        int cols = 7;
        double[][] v = new double[rows][cols];
        for (double[] row : v) {
            for (int c = 0; c < cols; c++) {
                row[c] = 0.2 + 0.7 * rng.nextDouble();
            }
        }
        v[1][2] = 0.1;    // the minimum
        v[3][6] = 0.95;   // the maximum
        Heatmap map = new Heatmap("sparsity for 60% mass", "head", "layer", v);
        Path png = dir.resolve("map.png");
        map.write(png);
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(map.width(), img.getWidth());
        assertEquals(map.height(), img.getHeight());
        assertEquals(0.1, map.low());
        assertEquals(0.95, map.high());
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                Rectangle cell = map.cell(r, c);
                int expected = ColourMap.rgb((v[r][c] - 0.1) / 0.85);
                assertEquals(expected, img.getRGB((int) cell.getCenterX(), (int) cell.getCenterY()) & 0xffffff,
                        "cell " + r + "," + c);
            }
        }
        assertEquals(ColourMap.rgb(0), img.getRGB(map.cell(1, 2).x, map.cell(1, 2).y) & 0xffffff);
        assertEquals(ColourMap.rgb(1), img.getRGB(map.cell(3, 6).x, map.cell(3, 6).y) & 0xffffff);
        Rectangle bar = map.colourBar();
        int mid = bar.x + bar.width / 2;
        assertEquals(ColourMap.rgb(1), img.getRGB(mid, bar.y) & 0xffffff, "bar top is the high colour");
        assertEquals(ColourMap.rgb(0), img.getRGB(mid, bar.y + bar.height - 1) & 0xffffff, "bar bottom is the low one");
        assertTrue(LinePlotTest.countColour(img, 0x000000) > 100, "labels drawn");
    }

    @Test
    void aFixedRangeClampsOutsideValues() {
        Heatmap map = new Heatmap("t", "x", "y", new double[][] {{-1, 0.5, 2}}).withRange(0, 1);
        BufferedImage img = map.render();
        assertEquals(ColourMap.rgb(0), img.getRGB(map.cell(0, 0).x + 1, map.cell(0, 0).y + 1) & 0xffffff);
        assertEquals(ColourMap.rgb(0.5), img.getRGB(map.cell(0, 1).x + 1, map.cell(0, 1).y + 1) & 0xffffff);
        assertEquals(ColourMap.rgb(1), img.getRGB(map.cell(0, 2).x + 1, map.cell(0, 2).y + 1) & 0xffffff);
    }

    @Test
    void colourMapRunsFromDarkToBright() {
        assertEquals(0x440154, ColourMap.rgb(0));
        assertEquals(0xfde725, ColourMap.rgb(1));
        double previous = -1;
        for (int i = 0; i <= 20; i++) {
            int c = ColourMap.rgb(i / 20.0);
            double luma = 0.299 * (c >> 16) + 0.587 * ((c >> 8) & 0xff) + 0.114 * (c & 0xff);
            assertTrue(luma > previous, "brightness rises at " + i);
            previous = luma;
        }
    }

    @Test
    void refusesBadInputWithAClearMessage() {
        var nan = assertThrows(IllegalArgumentException.class, () -> new Heatmap("t", "x", "y",
                new double[][] {{1, 2}, {Double.NaN, 3}}));
        assertTrue(nan.getMessage().contains("[1][0]") && nan.getMessage().contains("NaN"), nan.getMessage());
        var empty = assertThrows(IllegalArgumentException.class, () -> new Heatmap("t", "x", "y", new double[0][]));
        assertTrue(empty.getMessage().contains("empty"), empty.getMessage());
        var ragged = assertThrows(IllegalArgumentException.class, () -> new Heatmap("t", "x", "y",
                new double[][] {{1, 2}, {3}}));
        assertTrue(ragged.getMessage().contains("row 1") && ragged.getMessage().contains("rectangular"),
                ragged.getMessage());
        var range = assertThrows(IllegalArgumentException.class, () -> new Heatmap("t", "x", "y",
                new double[][] {{1}}).withRange(1, 1));
        assertTrue(range.getMessage().contains("low < high"), range.getMessage());
    }
}
