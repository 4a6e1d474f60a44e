package io.sparge4j.models.eval;

/**
 * Per-frame measurements of the object found by {@link Foreground}: coverage-weighted area and centroid, the fill
 * ratio that tells shapes apart, the blob's bounding box, and the sharpness of its edge.
 *
 * <p>The fill ratio is {@code area / (largest row sum * largest column sum)} of the coverage map: the area over the
 * box spanned by the shape's widest row and tallest column, measured with sub-pixel coverage. It is 1 for a square,
 * pi/4 for a circle and 1/2 for a triangle with its base along one side of the box, but on small objects the
 * pixel rows and columns blur the triangle's apex and corners towards the circle's value. The skewness tells
 * triangles apart at any size: the length of the vector of the coverage's third standardised moments along x and
 * y, 0 for the symmetric circle and square and {@code 2 sqrt(2) / 5 = 0.566} for a triangle with a horizontal or
 * vertical base.
 */
final class ObjectTrack {
    /** The smallest coverage that marks an edge pixel (lower values are more likely noise). */
    static final double EDGE_COVERAGE = 0.15;
    /** Per frame: whether the object was found. */
    final boolean[] present;
    /** Per frame: centroid x and y (pixel x covers [x, x + 1)). */
    final double[] centreX;
    final double[] centreY;
    /** Per frame: coverage-weighted area in pixels. */
    final double[] area;
    /** Per frame: fill ratio (see the class comment). */
    final double[] fill;
    /**
     * Per frame: the object's sub-pixel edges (left, right, top, bottom) in pixel coordinates, from the most
     * covered pixel of the outermost column or row: a column x whose best coverage is m puts the left edge at
     * {@code x + 1 - m}. Columns and rows whose best coverage is below {@link #EDGE_COVERAGE} are skipped.
     */
    final double[] left;
    final double[] right;
    final double[] top;
    final double[] bottom;
    /** Per frame: skewness (see the class comment). */
    final double[] skewness;
    /** Per frame: the blob's bounding box, inclusive pixel indices. */
    final int[] minX;
    final int[] maxX;
    final int[] minY;
    final int[] maxY;
    /** Per frame: mean gradient magnitude on the blob's boundary over the local object-background contrast. */
    final double[] sharpness;

    ObjectTrack(Foreground fg) {
        int frames = fg.frames;
        present = new boolean[frames];
        centreX = new double[frames];
        centreY = new double[frames];
        area = new double[frames];
        fill = new double[frames];
        minX = new int[frames];
        maxX = new int[frames];
        minY = new int[frames];
        maxY = new int[frames];
        sharpness = new double[frames];
        skewness = new double[frames];
        left = new double[frames];
        right = new double[frames];
        top = new double[frames];
        bottom = new double[frames];
        for (int f = 0; f < frames; f++) {
            if (fg.coverage[f] != null) {
                measure(fg, f);
            }
        }
    }

    private void measure(Foreground fg, int f) {
        int w = fg.width;
        int h = fg.height;
        float[] cov = fg.coverage[f];
        double[] rowSums = new double[h];
        double[] colSums = new double[w];
        double sum = 0;
        double sx = 0;
        double sy = 0;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                double c = cov[y * w + x];
                sum += c;
                sx += c * (x + 0.5);
                sy += c * (y + 0.5);
                rowSums[y] += c;
                colSums[x] += c;
            }
        }
        if (sum <= 0) {
            return;
        }
        double maxRow = 0;
        double maxCol = 0;
        for (double r : rowSums) {
            maxRow = Math.max(maxRow, r);
        }
        for (double c : colSums) {
            maxCol = Math.max(maxCol, c);
        }
        present[f] = true;
        area[f] = sum;
        centreX[f] = sx / sum;
        centreY[f] = sy / sum;
        fill[f] = sum / (maxRow * maxCol);
        skewness[f] = skewness(cov, w, h, centreX[f], centreY[f]);
        double[] colBest = new double[w];
        double[] rowBest = new double[h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                colBest[x] = Math.max(colBest[x], cov[y * w + x]);
                rowBest[y] = Math.max(rowBest[y], cov[y * w + x]);
            }
        }
        left[f] = lowEdge(colBest);
        right[f] = w - lowEdge(reversed(colBest));
        top[f] = lowEdge(rowBest);
        bottom[f] = h - lowEdge(reversed(rowBest));
        int[] blob = fg.blobs[f];
        minX[f] = Integer.MAX_VALUE;
        minY[f] = Integer.MAX_VALUE;
        maxX[f] = -1;
        maxY[f] = -1;
        boolean[] in = new boolean[h * w];
        for (int p : blob) {
            in[p] = true;
            minX[f] = Math.min(minX[f], p % w);
            maxX[f] = Math.max(maxX[f], p % w);
            minY[f] = Math.min(minY[f], p / w);
            maxY[f] = Math.max(maxY[f], p / w);
        }
        sharpness[f] = edgeSharpness(fg, f, blob, in);
    }

    /** @return {@code i + 1 - best[i]} for the first i with best[i] >= EDGE_COVERAGE (noise stays below) */
    private static double lowEdge(double[] best) {
        for (int i = 0; i < best.length; i++) {
            if (best[i] >= EDGE_COVERAGE) {
                return i + 1 - best[i];
            }
        }
        return 0;
    }

    private static double[] reversed(double[] a) {
        double[] r = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = a[a.length - 1 - i];
        }
        return r;
    }

    /** The length of (skewness along x, skewness along y) of the coverage, each {@code mu3 / mu2^1.5}. */
    private static double skewness(float[] cov, int w, int h, double cx, double cy) {
        double area = 0;
        double m2x = 0;
        double m2y = 0;
        double m3x = 0;
        double m3y = 0;
        for (int y = 0; y < h; y++) {
            double dy = y + 0.5 - cy;
            for (int x = 0; x < w; x++) {
                double c = cov[y * w + x];
                if (c == 0) {
                    continue;
                }
                double dx = x + 0.5 - cx;
                area += c;
                m2x += c * dx * dx;
                m2y += c * dy * dy;
                m3x += c * dx * dx * dx;
                m3y += c * dy * dy * dy;
            }
        }
        // Sums, not means: (m3 / A) / (m2 / A)^1.5 = m3 sqrt(A) / m2^1.5.
        double sx = m2x > 0 ? m3x * Math.sqrt(area) / Math.pow(m2x, 1.5) : 0;
        double sy = m2y > 0 ? m3y * Math.sqrt(area) / Math.pow(m2y, 1.5) : 0;
        return Math.hypot(sx, sy);
    }

    /** Mean over boundary pixels (in the blob, a 4-neighbour outside) of |gradient| / |object - background|. */
    private static double edgeSharpness(Foreground fg, int f, int[] blob, boolean[] in) {
        int w = fg.width;
        int h = fg.height;
        double total = 0;
        int count = 0;
        for (int p : blob) {
            int x = p % w;
            int y = p / w;
            boolean boundary = x == 0 || x == w - 1 || y == 0 || y == h - 1 || !in[p - 1] || !in[p + 1]
                    || !in[p - w] || !in[p + w];
            if (!boundary) {
                continue;
            }
            double g2 = 0;
            double contrast2 = 0;
            for (int c = 0; c < 3; c++) {
                // Central differences, one-sided at the frame's border.
                double gx = (fg.value(c, f, y * w + Math.min(w - 1, x + 1)) - fg.value(c, f, y * w + Math.max(0, x - 1)))
                        / (Math.min(w - 1, x + 1) - Math.max(0, x - 1));
                double gy = (fg.value(c, f, Math.min(h - 1, y + 1) * w + x) - fg.value(c, f, Math.max(0, y - 1) * w + x))
                        / (Math.min(h - 1, y + 1) - Math.max(0, y - 1));
                g2 += gx * gx + gy * gy;
                double span = fg.objectColour[c] - fg.background[c][p];
                contrast2 += span * span;
            }
            if (contrast2 > 1e-9) {
                total += Math.sqrt(g2 / contrast2);
                count++;
            }
        }
        return count == 0 ? 0 : total / count;
    }

    int frames() {
        return present.length;
    }

    int presentCount() {
        int n = 0;
        for (boolean p : present) {
            n += p ? 1 : 0;
        }
        return n;
    }
}
