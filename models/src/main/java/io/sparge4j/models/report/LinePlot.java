package io.sparge4j.models.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.Point;
import java.awt.Rectangle;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A line plot: one or more series of (x, y) points, each a coloured line with square markers, over axes with ticks,
 * tick labels and axis labels, a title and a legend. Drawn headless with {@code java.awt}; markers and lines are not
 * anti-aliased, so a marker's centre pixel is exactly its series colour ({@link #colour}).
 *
 * <pre>{@code
 * new LinePlot("colour match vs sparsity", "sparsity", "colour match rate", List.of(
 *         new LinePlot.Series("hybrid, distilled", new double[] {0.8, 0.9}, new double[] {0.9, 0.85}),
 *         new LinePlot.Series("training-free", new double[] {0.8, 0.9}, new double[] {0.7, 0.4})))
 *     .write(Path.of("quality.png"));
 * }</pre>
 */
public final class LinePlot {
    /** Series colours, in order (Tableau 10); more series than this is refused. */
    private static final int[] PALETTE = {
        0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};
    private static final int MARKER = 8;
    private static final int TICKS = 6;

    /**
     * One series.
     *
     * @param name the legend text
     * @param x the x values, finite
     * @param y the y values, finite, as many as x
     */
    public record Series(String name, double[] x, double[] y) {
        /** @throws IllegalArgumentException naming the series and what is wrong */
        public Series {
            if (name == null || name.isBlank()) {
                throw new IllegalArgumentException("LinePlot.Series: name is '" + name + "', expected a legend text");
            }
            if (x == null || y == null) {
                throw new IllegalArgumentException("LinePlot.Series '" + name + "': x is " + (x == null ? "null" : "set")
                        + " and y is " + (y == null ? "null" : "set") + ", expected two arrays");
            }
            if (x.length != y.length) {
                throw new IllegalArgumentException("LinePlot.Series '" + name + "': x has " + x.length + " values and y "
                        + y.length + ", expected the same number");
            }
            if (x.length == 0) {
                throw new IllegalArgumentException("LinePlot.Series '" + name + "': no points, expected at least one");
            }
            x = x.clone();
            y = y.clone();
            for (int i = 0; i < x.length; i++) {
                if (!Double.isFinite(x[i]) || !Double.isFinite(y[i])) {
                    throw new IllegalArgumentException("LinePlot.Series '" + name + "': point " + i + " is (" + x[i]
                            + ", " + y[i] + "), expected finite numbers (drop missing values before plotting)");
                }
            }
        }

        @Override
        public double[] x() {
            return x.clone();
        }

        @Override
        public double[] y() {
            return y.clone();
        }
    }

    private final String title;
    private final String xLabel;
    private final String yLabel;
    private final List<Series> series;
    private final int width;
    private final int height;
    private final Axis xAxis;
    private final Axis yAxis;
    private final Rectangle area;

    /**
     * A plot of 800 x 500 pixels.
     *
     * @param title the title
     * @param xLabel the x axis label
     * @param yLabel the y axis label
     * @param series one to ten series with distinct names
     */
    public LinePlot(String title, String xLabel, String yLabel, List<Series> series) {
        this(title, xLabel, yLabel, series, 800, 500);
    }

    /**
     * @param title the title
     * @param xLabel the x axis label
     * @param yLabel the y axis label
     * @param series one to ten series with distinct names
     * @param width image width in pixels, at least 320
     * @param height image height in pixels, at least 200
     * @throws IllegalArgumentException naming the argument, its value and what is expected
     */
    public LinePlot(String title, String xLabel, String yLabel, List<Series> series, int width, int height) {
        this.title = text("title", title);
        this.xLabel = text("xLabel", xLabel);
        this.yLabel = text("yLabel", yLabel);
        if (series == null || series.isEmpty()) {
            throw new IllegalArgumentException("LinePlot: series is " + (series == null ? "null" : "empty")
                    + ", expected 1 to " + PALETTE.length + " series");
        }
        if (series.size() > PALETTE.length) {
            throw new IllegalArgumentException("LinePlot: got " + series.size() + " series, expected at most "
                    + PALETTE.length);
        }
        Set<String> names = new HashSet<>();
        for (Series s : series) {
            if (s == null) {
                throw new IllegalArgumentException("LinePlot: a series is null, expected LinePlot.Series values");
            }
            if (!names.add(s.name())) {
                throw new IllegalArgumentException("LinePlot: two series are named '" + s.name()
                        + "', expected distinct names");
            }
        }
        if (width < 320 || height < 200) {
            throw new IllegalArgumentException("LinePlot: size is " + width + "x" + height
                    + ", expected at least 320x200 pixels");
        }
        this.series = List.copyOf(series);
        this.width = width;
        this.height = height;
        double xMin = Double.POSITIVE_INFINITY;
        double xMax = Double.NEGATIVE_INFINITY;
        double yMin = Double.POSITIVE_INFINITY;
        double yMax = Double.NEGATIVE_INFINITY;
        for (Series s : this.series) {
            for (int i = 0; i < s.x.length; i++) {
                xMin = Math.min(xMin, s.x[i]);
                xMax = Math.max(xMax, s.x[i]);
                yMin = Math.min(yMin, s.y[i]);
                yMax = Math.max(yMax, s.y[i]);
            }
        }
        xAxis = Axis.covering(xMin, xMax);
        yAxis = Axis.covering(yMin, yMax);
        int legend = Math.min(width / 3, 40 + MARKER + maxNameWidth());
        area = new Rectangle(75, 45, width - 75 - legend - 20, height - 45 - 60);
    }

    private static String text(String what, String value) {
        if (value == null) {
            throw new IllegalArgumentException("LinePlot: " + what + " is null, expected a text");
        }
        return value;
    }

    private int maxNameWidth() {
        FontMetrics fm = metrics(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        return series.stream().mapToInt(s -> fm.stringWidth(s.name())).max().orElse(0);
    }

    private static FontMetrics metrics(Font font) {
        Graphics2D g = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB).createGraphics();
        try {
            return g.getFontMetrics(font);
        } finally {
            g.dispose();
        }
    }

    /**
     * @param index a series index
     * @return the series' colour, 0xRRGGBB
     */
    public static int colour(int index) {
        return PALETTE[Math.floorMod(index, PALETTE.length)];
    }

    /** @return the plotting area in pixels (inside the axes) */
    public Rectangle plotArea() {
        return new Rectangle(area);
    }

    /**
     * @param x a data x
     * @param y a data y
     * @return the pixel where the point is drawn
     */
    public Point pixel(double x, double y) {
        int px = (int) Math.round(xAxis.pixel(x, area.x, area.x + area.width));
        int py = (int) Math.round(yAxis.pixel(y, area.y + area.height, area.y));
        return new Point(px, py);
    }

    /** @return the picture */
    public BufferedImage render() {
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);
            drawAxes(g);
            for (int s = 0; s < series.size(); s++) {
                drawSeries(g, series.get(s), new Color(colour(s)));
            }
            drawLegend(g);
            Font titleFont = new Font(Font.SANS_SERIF, Font.BOLD, 15);
            g.setFont(titleFont);
            g.setColor(Color.BLACK);
            int tw = g.getFontMetrics().stringWidth(title);
            g.drawString(title, Math.max(4, area.x + (area.width - tw) / 2), 25);
        } finally {
            g.dispose();
        }
        return img;
    }

    /**
     * Renders and writes the plot as a PNG, atomically.
     *
     * @param out the file
     * @throws IOException if it cannot be written
     */
    public void write(Path out) throws IOException {
        PngFiles.write(render(), out);
    }

    private void drawAxes(Graphics2D g) {
        Font font = new Font(Font.SANS_SERIF, Font.PLAIN, 12);
        g.setFont(font);
        FontMetrics fm = g.getFontMetrics();
        int bottom = area.y + area.height;
        int right = area.x + area.width;
        for (double t : xAxis.ticks(TICKS)) {
            int px = (int) Math.round(xAxis.pixel(t, area.x, right));
            g.setColor(new Color(0xe6e6e6));
            g.drawLine(px, area.y, px, bottom);
            g.setColor(Color.BLACK);
            g.drawLine(px, bottom, px, bottom + 5);
            String label = xAxis.label(t, TICKS);
            g.drawString(label, px - fm.stringWidth(label) / 2, bottom + 8 + fm.getAscent());
        }
        for (double t : yAxis.ticks(TICKS)) {
            int py = (int) Math.round(yAxis.pixel(t, bottom, area.y));
            g.setColor(new Color(0xe6e6e6));
            g.drawLine(area.x, py, right, py);
            g.setColor(Color.BLACK);
            g.drawLine(area.x - 5, py, area.x, py);
            String label = yAxis.label(t, TICKS);
            g.drawString(label, area.x - 8 - fm.stringWidth(label), py + fm.getAscent() / 2 - 1);
        }
        g.setColor(Color.BLACK);
        g.drawRect(area.x, area.y, area.width, area.height);
        g.drawString(xLabel, area.x + (area.width - fm.stringWidth(xLabel)) / 2, height - 12);
        AffineTransform saved = g.getTransform();
        g.rotate(-Math.PI / 2);
        g.drawString(yLabel, -(area.y + (area.height + fm.stringWidth(yLabel)) / 2), 18);
        g.setTransform(saved);
    }

    private void drawSeries(Graphics2D g, Series s, Color c) {
        g.setColor(c);
        g.setStroke(new BasicStroke(2f));
        List<Point> points = new ArrayList<>();
        for (int i = 0; i < s.x.length; i++) {
            points.add(pixel(s.x[i], s.y[i]));
        }
        // Lines join the points in x order, whatever order they were given in.
        List<Point> sorted = new ArrayList<>(points);
        sorted.sort((a, b) -> Integer.compare(a.x, b.x));
        for (int i = 1; i < sorted.size(); i++) {
            g.drawLine(sorted.get(i - 1).x, sorted.get(i - 1).y, sorted.get(i).x, sorted.get(i).y);
        }
        for (Point p : points) {
            g.fillRect(p.x - MARKER / 2, p.y - MARKER / 2, MARKER + 1, MARKER + 1);
        }
        g.setStroke(new BasicStroke(1f));
    }

    private void drawLegend(Graphics2D g) {
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        FontMetrics fm = g.getFontMetrics();
        int x = area.x + area.width + 15;
        int y = area.y + 5;
        int line = Math.max(fm.getHeight(), MARKER + 6);
        g.setColor(Color.BLACK);
        g.drawRect(x - 5, y - 5, width - x - 5, line * series.size() + 8);
        for (int s = 0; s < series.size(); s++) {
            int cy = y + s * line + line / 2;
            g.setColor(new Color(colour(s)));
            g.fillRect(x, cy - MARKER / 2, MARKER + 1, MARKER + 1);
            g.setColor(Color.BLACK);
            g.drawString(series.get(s).name(), x + MARKER + 6, cy + fm.getAscent() / 2 - 1);
        }
    }
}
