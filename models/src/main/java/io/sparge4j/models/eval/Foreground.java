package io.sparge4j.models.eval;

import java.util.ArrayDeque;
import java.util.Arrays;

/**
 * Finds a clip's moving object, frame by frame, on a static background.
 *
 * <ol>
 *   <li>Bright pixels (some channel above {@link #BRIGHT_LEVEL}) mark where the object probably is: the procedural
 *       data draws bright saturated objects on dark backgrounds.</li>
 *   <li>The background of each pixel is its median over the frames in which it is at least {@link #CLEAR_MARGIN}
 *       pixels from any bright pixel, so a slow object that sits on a pixel for most of the clip does not become
 *       background; pixels never clear (under a still object) are filled in from their neighbours.</li>
 *   <li>The foreground is where a pixel's RGB distance to its background exceeds half the clip's contrast (the
 *       median over frames of the largest distance); per frame only the largest 4-connected blob counts.</li>
 *   <li>The object's colour is the per-channel median of the blob's interior; each pixel's coverage is its
 *       projection onto background-to-object colour, in [0, 1], which recovers anti-aliased coverage.</li>
 * </ol>
 */
final class Foreground {
    /** A channel above this (clip units; intensity 0.62) marks a likely object pixel. */
    static final double BRIGHT_LEVEL = 0.25;
    /** Pixels this close (Chebyshev distance) to a bright pixel do not vote for the background. */
    static final int CLEAR_MARGIN = 2;
    /** The smallest threshold on the distance to the background (clip units). */
    static final double MIN_THRESHOLD = 0.2;
    /** The smallest blob taken for the object. */
    static final int MIN_PIXELS = 4;

    final int frames;
    final int height;
    final int width;
    final float[] data;
    /** {@code [3][plane]} background per pixel. */
    final double[][] background;
    /** The median over frames of the largest distance to the background. */
    final double contrast;
    /** {@code [3]} the object's colour, or null when no frame has an object. */
    final double[] objectColour;
    /** Per frame: the object's blob (pixel indices), or null when the frame has none. */
    final int[][] blobs;
    /** Per frame: coverage of each pixel near the blob (0 elsewhere), or null. */
    final float[][] coverage;
    /** {@code [frames][plane]}: pixel is at least CLEAR_MARGIN from the object's blob. */
    final boolean[][] clear;

    private Foreground(float[] data, int frames, int height, int width) {
        this.data = data;
        this.frames = frames;
        this.height = height;
        this.width = width;
        int plane = height * width;
        boolean[][] near = new boolean[frames][];
        for (int f = 0; f < frames; f++) {
            boolean[] bright = new boolean[plane];
            for (int p = 0; p < plane; p++) {
                bright[p] = value(0, f, p) > BRIGHT_LEVEL || value(1, f, p) > BRIGHT_LEVEL
                        || value(2, f, p) > BRIGHT_LEVEL;
            }
            near[f] = dilate(bright, CLEAR_MARGIN);
        }
        background = estimateBackground(near);
        double[] maxDistance = new double[frames];
        float[][] distance = new float[frames][plane];
        for (int f = 0; f < frames; f++) {
            for (int p = 0; p < plane; p++) {
                double d = 0;
                for (int c = 0; c < 3; c++) {
                    double e = value(c, f, p) - background[c][p];
                    d += e * e;
                }
                distance[f][p] = (float) Math.sqrt(d);
                maxDistance[f] = Math.max(maxDistance[f], distance[f][p]);
            }
        }
        contrast = median(maxDistance, frames);
        double threshold = Math.max(MIN_THRESHOLD, 0.5 * contrast);
        blobs = new int[frames][];
        for (int f = 0; f < frames; f++) {
            boolean[] mask = new boolean[plane];
            for (int p = 0; p < plane; p++) {
                mask[p] = distance[f][p] > threshold;
            }
            int[] blob = largestComponent(mask);
            blobs[f] = blob.length >= MIN_PIXELS ? blob : null;
        }
        objectColour = estimateObjectColour();
        coverage = new float[frames][];
        clear = new boolean[frames][];
        for (int f = 0; f < frames; f++) {
            boolean[] region = new boolean[plane];
            if (blobs[f] != null) {
                for (int p : blobs[f]) {
                    region[p] = true;
                }
            }
            boolean[] nearObject = dilate(region, CLEAR_MARGIN);
            clear[f] = new boolean[plane];
            for (int p = 0; p < plane; p++) {
                clear[f][p] = !nearObject[p];
            }
            if (blobs[f] != null && objectColour != null) {
                coverage[f] = coverage(f, dilate(region, CLEAR_MARGIN));
            }
        }
    }

    /**
     * @param data {@code (3, frames, height, width)} values, row-major
     * @return the clip's foreground
     */
    static Foreground of(float[] data, int frames, int height, int width) {
        return new Foreground(data, frames, height, width);
    }

    double value(int channel, int frame, int pixel) {
        return data[(channel * frames + frame) * height * width + pixel];
    }

    private double[][] estimateBackground(boolean[][] near) {
        int plane = height * width;
        double[][] out = new double[3][plane];
        boolean[] known = new boolean[plane];
        int knownCount = 0;
        double[] clearValues = new double[frames];
        for (int p = 0; p < plane; p++) {
            for (int c = 0; c < 3; c++) {
                int n = 0;
                for (int f = 0; f < frames; f++) {
                    if (!near[f][p]) {
                        clearValues[n++] = value(c, f, p);
                    }
                }
                if (n > 0) {
                    out[c][p] = median(clearValues, n);
                    known[p] = true;
                }
            }
            knownCount += known[p] ? 1 : 0;
        }
        if (knownCount == 0) {
            // Bright everywhere at some time: nothing is known to be background, use the plain temporal median.
            double[] all = new double[frames];
            for (int c = 0; c < 3; c++) {
                for (int p = 0; p < plane; p++) {
                    for (int f = 0; f < frames; f++) {
                        all[f] = value(c, f, p);
                    }
                    out[c][p] = median(all, frames);
                }
            }
            return out;
        }
        inpaint(out, known);
        return out;
    }

    /**
     * Fills pixels never seen clear (under a still object) from their neighbours, ring by ring: each takes the mean
     * of its known 8-neighbours, so a static object still stands out from the background around it.
     */
    private void inpaint(double[][] bg, boolean[] known) {
        int plane = height * width;
        boolean progress = true;
        while (progress) {
            progress = false;
            boolean[] next = known.clone();
            for (int p = 0; p < plane; p++) {
                if (known[p]) {
                    continue;
                }
                int x = p % width;
                int y = p / width;
                double[] sum = new double[3];
                int n = 0;
                for (int yy = Math.max(0, y - 1); yy <= Math.min(height - 1, y + 1); yy++) {
                    for (int xx = Math.max(0, x - 1); xx <= Math.min(width - 1, x + 1); xx++) {
                        int q = yy * width + xx;
                        if (known[q]) {
                            for (int c = 0; c < 3; c++) {
                                sum[c] += bg[c][q];
                            }
                            n++;
                        }
                    }
                }
                if (n > 0) {
                    for (int c = 0; c < 3; c++) {
                        bg[c][p] = sum[c] / n;
                    }
                    next[p] = true;
                    progress = true;
                }
            }
            System.arraycopy(next, 0, known, 0, plane);
        }
    }

    private double[] estimateObjectColour() {
        int total = 0;
        for (int[] blob : blobs) {
            total += blob == null ? 0 : blob.length;
        }
        if (total == 0) {
            return null;
        }
        // Prefer the interior (all four neighbours in the blob): its pixels are not blended with the background.
        double[][] interior = new double[3][total];
        double[][] all = new double[3][total];
        int ni = 0;
        int na = 0;
        for (int f = 0; f < frames; f++) {
            if (blobs[f] == null) {
                continue;
            }
            boolean[] in = new boolean[height * width];
            for (int p : blobs[f]) {
                in[p] = true;
            }
            for (int p : blobs[f]) {
                boolean inner = isInterior(in, p);
                for (int c = 0; c < 3; c++) {
                    all[c][na] = value(c, f, p);
                    if (inner) {
                        interior[c][ni] = value(c, f, p);
                    }
                }
                na++;
                if (inner) {
                    ni++;
                }
            }
        }
        double[] colour = new double[3];
        for (int c = 0; c < 3; c++) {
            colour[c] = ni > 0 ? median(interior[c], ni) : median(all[c], na);
        }
        return colour;
    }

    boolean isInterior(boolean[] in, int p) {
        int x = p % width;
        int y = p / width;
        return x > 0 && x < width - 1 && y > 0 && y < height - 1 && in[p - 1] && in[p + 1] && in[p - width]
                && in[p + width];
    }

    private float[] coverage(int f, boolean[] region) {
        int plane = height * width;
        float[] out = new float[plane];
        for (int p = 0; p < plane; p++) {
            if (!region[p]) {
                continue;
            }
            double dot = 0;
            double norm = 0;
            for (int c = 0; c < 3; c++) {
                double span = objectColour[c] - background[c][p];
                dot += (value(c, f, p) - background[c][p]) * span;
                norm += span * span;
            }
            out[p] = norm < 1e-9 ? 0f : (float) Math.max(0, Math.min(1, dot / norm));
        }
        return out;
    }

    /** @return the pixels of the largest 4-connected component of the mask (first found wins ties) */
    int[] largestComponent(boolean[] mask) {
        int plane = height * width;
        int[] label = new int[plane];
        int[] best = new int[0];
        int next = 0;
        ArrayDeque<Integer> queue = new ArrayDeque<>();
        int[] members = new int[plane];
        for (int start = 0; start < plane; start++) {
            if (!mask[start] || label[start] != 0) {
                continue;
            }
            next++;
            int count = 0;
            label[start] = next;
            queue.add(start);
            while (!queue.isEmpty()) {
                int p = queue.poll();
                members[count++] = p;
                int x = p % width;
                int y = p / width;
                if (x > 0) {
                    visit(mask, label, queue, p - 1, next);
                }
                if (x < width - 1) {
                    visit(mask, label, queue, p + 1, next);
                }
                if (y > 0) {
                    visit(mask, label, queue, p - width, next);
                }
                if (y < height - 1) {
                    visit(mask, label, queue, p + width, next);
                }
            }
            if (count > best.length) {
                best = Arrays.copyOf(members, count);
            }
        }
        Arrays.sort(best);
        return best;
    }

    private static void visit(boolean[] mask, int[] label, ArrayDeque<Integer> queue, int q, int id) {
        if (mask[q] && label[q] == 0) {
            label[q] = id;
            queue.add(q);
        }
    }

    /** @return the mask grown by {@code radius} pixels in Chebyshev distance */
    boolean[] dilate(boolean[] mask, int radius) {
        boolean[] rows = new boolean[mask.length];
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                if (mask[y * width + x]) {
                    for (int xx = Math.max(0, x - radius); xx <= Math.min(width - 1, x + radius); xx++) {
                        rows[y * width + xx] = true;
                    }
                }
            }
        }
        boolean[] out = new boolean[mask.length];
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                if (rows[y * width + x]) {
                    for (int yy = Math.max(0, y - radius); yy <= Math.min(height - 1, y + radius); yy++) {
                        out[yy * width + x] = true;
                    }
                }
            }
        }
        return out;
    }

    /** @return the median of the first n values (the mean of the middle two for even n); sorts them */
    static double median(double[] values, int n) {
        Arrays.sort(values, 0, n);
        return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
    }
}
