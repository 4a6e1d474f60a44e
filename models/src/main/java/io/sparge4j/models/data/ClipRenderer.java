package io.sparge4j.models.data;

import io.sparge4j.engine.tensor.Tensor;

/**
 * Draws a clip from its attributes: the background, then the object blended over it by its coverage of each pixel
 * (a {@value #SUBSAMPLES}x{@value #SUBSAMPLES} grid of samples per pixel), so edges are anti-aliased and even small
 * frames show the shape.
 */
public final class ClipRenderer {
    /** Samples per pixel along each axis. */
    static final int SUBSAMPLES = 8;

    private ClipRenderer() {
    }

    /**
     * @param attributes what to draw
     * @param frames frame count
     * @param height rows
     * @param width columns
     * @return a new {@code (3, frames, height, width)} f32 tensor in [-1, 1]
     * @throws IllegalArgumentException if the object does not fit the frame
     */
    public static Tensor render(ClipAttributes attributes, int frames, int height, int width) {
        double[][] centres = attributes.centres(frames, height, width);
        double[][] background = attributes.background().render(height, width);
        int plane = height * width;
        float[] out = new float[3 * frames * plane];
        double[] object = new double[3];
        for (int c = 0; c < 3; c++) {
            object[c] = attributes.colour().channel(c);
        }
        float[] coverage = new float[plane];
        for (int f = 0; f < frames; f++) {
            coverage(attributes.shape(), attributes.size(), centres[f][0], centres[f][1], height, width, coverage);
            for (int c = 0; c < 3; c++) {
                int base = (c * frames + f) * plane;
                for (int i = 0; i < plane; i++) {
                    double a = coverage[i];
                    double v = background[c][i] * (1 - a) + object[c] * a;
                    out[base + i] = (float) (2 * v - 1);
                }
            }
        }
        return Tensor.of(out, 3, frames, height, width);
    }

    /** Fills {@code out} (row-major, height x width) with the shape's coverage of each pixel, in [0, 1]. */
    static void coverage(ShapeKind shape, double size, double cx, double cy, int height, int width, float[] out) {
        java.util.Arrays.fill(out, 0f);
        int x0 = Math.max(0, (int) Math.floor(cx - size));
        int x1 = Math.min(width - 1, (int) Math.floor(cx + size));
        int y0 = Math.max(0, (int) Math.floor(cy - size));
        int y1 = Math.min(height - 1, (int) Math.floor(cy + size));
        double step = 1.0 / SUBSAMPLES;
        for (int y = y0; y <= y1; y++) {
            for (int x = x0; x <= x1; x++) {
                int inside = 0;
                for (int sy = 0; sy < SUBSAMPLES; sy++) {
                    double dy = y + (sy + 0.5) * step - cy;
                    for (int sx = 0; sx < SUBSAMPLES; sx++) {
                        if (shape.contains(x + (sx + 0.5) * step - cx, dy, size)) {
                            inside++;
                        }
                    }
                }
                out[y * width + x] = inside / (float) (SUBSAMPLES * SUBSAMPLES);
            }
        }
    }
}
