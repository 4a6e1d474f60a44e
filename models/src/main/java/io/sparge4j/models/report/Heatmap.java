package io.sparge4j.models.report;

import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.Rectangle;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;

/**
 * A heatmap of a matrix: one square cell per entry (row 0 at the top), coloured by {@link ColourMap} over a value
 * range, with a vertical colour bar (the range's top at the top) and its tick labels, row and column indices, axis
 * labels and a title. Drawn headless with {@code java.awt}, without anti-aliasing on the cells.
 *
 * <pre>{@code
 * new Heatmap("sparsity for 60% mass", "head", "layer", values).withRange(0, 1).write(Path.of("layers.png"));
 * }</pre>
 */
public final class Heatmap {
    private static final int BAR_WIDTH = 18;
    private static final int BAR_TICKS = 5;

    private final String title;
    private final String xLabel;
    private final String yLabel;
    private final double[][] values;
    private final int rows;
    private final int cols;
    private final double lo;
    private final double hi;
    private final int cell;
    private final Rectangle grid;
    private final Rectangle bar;
    private final int width;
    private final int height;

    /**
     * A heatmap over the values' own range.
     *
     * @param title the title
     * @param xLabel the label of the columns' axis
     * @param yLabel the label of the rows' axis
     * @param values a non-empty rectangular matrix of finite numbers, [row][column]; copied
     * @throws IllegalArgumentException naming the argument, its value and what is expected
     */
    public Heatmap(String title, String xLabel, String yLabel, double[][] values) {
        this(title, xLabel, yLabel, copy(values), Double.NaN, Double.NaN);
    }

    private Heatmap(String title, String xLabel, String yLabel, double[][] values, double lo, double hi) {
        this.title = text("title", title);
        this.xLabel = text("xLabel", xLabel);
        this.yLabel = text("yLabel", yLabel);
        this.values = values;
        this.rows = values.length;
        this.cols = values[0].length;
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        for (double[] row : values) {
            for (double v : row) {
                min = Math.min(min, v);
                max = Math.max(max, v);
            }
        }
        if (Double.isNaN(lo)) {
            lo = min;
            hi = max > min ? max : min + (min == 0 ? 1 : Math.abs(min) * 0.1);
        }
        this.lo = lo;
        this.hi = hi;
        this.cell = Math.max(4, Math.min(48, 512 / Math.max(rows, cols)));
        int left = 70;
        int top = 45;
        this.grid = new Rectangle(left, top, cols * cell, rows * cell);
        int barHeight = Math.max(grid.height, 150);
        this.bar = new Rectangle(grid.x + grid.width + 25, top, BAR_WIDTH, barHeight);
        this.width = Math.max(bar.x + BAR_WIDTH + 75, titleWidth() + 20);
        this.height = top + Math.max(grid.height, barHeight) + 60;
    }

    private static String text(String what, String value) {
        if (value == null) {
            throw new IllegalArgumentException("Heatmap: " + what + " is null, expected a text");
        }
        return value;
    }

    private static double[][] copy(double[][] values) {
        if (values == null || values.length == 0) {
            throw new IllegalArgumentException("Heatmap: values is " + (values == null ? "null" : "empty")
                    + ", expected a matrix with at least one row");
        }
        if (values[0] == null || values[0].length == 0) {
            throw new IllegalArgumentException("Heatmap: row 0 is " + (values[0] == null ? "null" : "empty")
                    + ", expected at least one column");
        }
        double[][] out = new double[values.length][];
        for (int r = 0; r < values.length; r++) {
            if (values[r] == null || values[r].length != values[0].length) {
                throw new IllegalArgumentException("Heatmap: row " + r + " has "
                        + (values[r] == null ? "no array" : values[r].length + " columns") + ", expected "
                        + values[0].length + " like row 0 (a rectangular matrix)");
            }
            for (int c = 0; c < values[r].length; c++) {
                if (!Double.isFinite(values[r][c])) {
                    throw new IllegalArgumentException("Heatmap: value [" + r + "][" + c + "] is " + values[r][c]
                            + ", expected a finite number");
                }
            }
            out[r] = values[r].clone();
        }
        return out;
    }

    /**
     * The same heatmap over a fixed value range (so that two heatmaps compare by colour); values outside it take
     * the end colours.
     *
     * @param low the value at the colour bar's bottom
     * @param high the value at its top, above low
     * @return the new heatmap
     */
    public Heatmap withRange(double low, double high) {
        if (!Double.isFinite(low) || !Double.isFinite(high) || !(high > low)) {
            throw new IllegalArgumentException("Heatmap.withRange: got [" + low + ", " + high
                    + "], expected finite low < high");
        }
        return new Heatmap(title, xLabel, yLabel, values, low, high);
    }

    private int titleWidth() {
        Graphics2D g = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB).createGraphics();
        try {
            return g.getFontMetrics(new Font(Font.SANS_SERIF, Font.BOLD, 15)).stringWidth(title);
        } finally {
            g.dispose();
        }
    }

    /** @return the lower end of the colour range */
    public double low() {
        return lo;
    }

    /** @return the upper end of the colour range */
    public double high() {
        return hi;
    }

    /** @return the picture's width in pixels */
    public int width() {
        return width;
    }

    /** @return the picture's height in pixels */
    public int height() {
        return height;
    }

    /**
     * @param row a row index
     * @param col a column index
     * @return the pixels of that cell
     */
    public Rectangle cell(int row, int col) {
        if (row < 0 || row >= rows || col < 0 || col >= cols) {
            throw new IndexOutOfBoundsException("Heatmap.cell: (" + row + ", " + col + ") outside " + rows + "x" + cols);
        }
        return new Rectangle(grid.x + col * cell, grid.y + row * cell, cell, cell);
    }

    /** @return the pixels of the colour bar (its top row has the high colour, its bottom row the low one) */
    public Rectangle colourBar() {
        return new Rectangle(bar);
    }

    /** @return the colour of a value, 0xRRGGBB */
    public int colourOf(double value) {
        return ColourMap.rgb((value - lo) / (hi - lo));
    }

    /** @return the picture */
    public BufferedImage render() {
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    g.setColor(new Color(colourOf(values[r][c])));
                    g.fillRect(grid.x + c * cell, grid.y + r * cell, cell, cell);
                }
            }
            for (int y = 0; y < bar.height; y++) {
                double t = bar.height == 1 ? 1 : 1 - (double) y / (bar.height - 1);
                g.setColor(new Color(ColourMap.rgb(t)));
                g.fillRect(bar.x, bar.y + y, bar.width, 1);
            }
            drawLabels(g);
        } finally {
            g.dispose();
        }
        return img;
    }

    /**
     * Renders and writes the heatmap as a PNG, atomically.
     *
     * @param out the file
     * @throws IOException if it cannot be written
     */
    public void write(Path out) throws IOException {
        PngFiles.write(render(), out);
    }

    private void drawLabels(Graphics2D g) {
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        FontMetrics fm = g.getFontMetrics();
        // Index labels, thinned so that they never overlap.
        int colEvery = Math.max(1, (int) Math.ceil((fm.stringWidth(String.valueOf(cols)) + 6.0) / cell));
        for (int c = 0; c < cols; c += colEvery) {
            String s = String.valueOf(c);
            g.drawString(s, grid.x + c * cell + (cell - fm.stringWidth(s)) / 2, grid.y + grid.height + 4 + fm.getAscent());
        }
        int rowEvery = Math.max(1, (int) Math.ceil((fm.getAscent() + 4.0) / cell));
        for (int r = 0; r < rows; r += rowEvery) {
            String s = String.valueOf(r);
            g.drawString(s, grid.x - 6 - fm.stringWidth(s), grid.y + r * cell + (cell + fm.getAscent()) / 2 - 1);
        }
        g.drawRect(bar.x - 1, bar.y - 1, bar.width + 1, bar.height + 1);
        Axis axis = new Axis(lo, hi);
        for (double v : axis.ticks(BAR_TICKS)) {
            int y = (int) Math.round(axis.pixel(v, bar.y + bar.height - 1, bar.y));
            g.drawLine(bar.x + bar.width + 1, y, bar.x + bar.width + 4, y);
            g.drawString(axis.label(v, BAR_TICKS), bar.x + bar.width + 7, y + fm.getAscent() / 2 - 1);
        }
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        fm = g.getFontMetrics();
        g.drawString(xLabel, grid.x + (grid.width - fm.stringWidth(xLabel)) / 2, grid.y + grid.height + 38);
        AffineTransform saved = g.getTransform();
        g.rotate(-Math.PI / 2);
        g.drawString(yLabel, -(grid.y + (grid.height + fm.stringWidth(yLabel)) / 2), 22);
        g.setTransform(saved);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
        g.drawString(title, 10, 25);
    }
}
