package io.sparge4j.models.wan;

import io.sparge4j.engine.ops.Elementwise;
import io.sparge4j.engine.ops.Rope;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * An absolute position signal added to the tokens right after the patch embedding: an experiment of this project,
 * not part of Wan2.1, whose only position signal is RoPE (relative offsets inside attention). {@link #NONE} is Wan's
 * own architecture and the default; a {@code config.json} without {@code absolute_position} reads as it.
 *
 * <p>{@link #SINCOS} is the fixed sine-cosine embedding of the original DiT (Peebles and Xie, 2023) extended to
 * three axes: the width is split into frame, row and column groups the way Wan splits a head for RoPE (rows and
 * columns 2 * (dim / 6) channels each, frames the rest); in a group of n channels, channel i &lt; n / 2 is
 * sin(p * w_i) and channel n / 2 + i is cos(p * w_i), with p the token's index along that axis and
 * w_i = 10000^(-i / (n / 2)). It has no parameters, so checkpoints keep their tensors.
 */
public enum AbsolutePosition {
    /** Wan2.1's architecture: no absolute position. */
    NONE("none"),
    /** DiT's fixed sine-cosine embedding, over frames, rows and columns. */
    SINCOS("sincos");

    private final String word;

    AbsolutePosition(String word) {
        this.word = word;
    }

    /** @return the {@code config.json} and command-line spelling */
    public String word() {
        return word;
    }

    /**
     * @param word a spelling of {@link #word()}
     * @return the signal
     * @throws IllegalArgumentException naming the value and the accepted ones
     */
    public static AbsolutePosition parse(String word) {
        return find(word).orElseThrow(() -> new IllegalArgumentException("absolute_position is '" + word
                + "', expected one of " + words()));
    }

    /**
     * @param word a spelling, possibly null
     * @return the signal it names, or empty
     */
    public static Optional<AbsolutePosition> find(String word) {
        return Arrays.stream(values()).filter(p -> p.word.equals(word)).findFirst();
    }

    /** @return every spelling, in declaration order */
    public static List<String> words() {
        return Arrays.stream(values()).map(AbsolutePosition::word).toList();
    }

    /**
     * @param dim the model width
     * @return null if this signal can be built at that width, else why not
     */
    public String unsupportedWidth(int dim) {
        if (this == SINCOS && (dim < 6 || dim % 2 != 0)) {
            return "dim " + dim + " with absolute_position sincos: expected an even dim of at least 6 (three axes of"
                    + " sine-cosine pairs)";
        }
        return null;
    }

    /**
     * The values added to the tokens, computed in float64.
     *
     * @param grid the token grid (frames, rows, columns)
     * @param dim the model width
     * @return (grid tokens, dim) f32 in token order (frames, then rows, then columns), a new tensor the caller
     *     closes; null for {@link #NONE}
     */
    public Tensor table(Rope.Grid grid, int dim) {
        if (this == NONE) {
            return null;
        }
        String bad = unsupportedWidth(dim);
        if (bad != null) {
            throw new IllegalArgumentException("AbsolutePosition.table: " + bad);
        }
        int spatial = 2 * (dim / 6);
        int frameWidth = dim - 2 * spatial;
        int len = Math.toIntExact(grid.tokens());
        float[] out = new float[Math.multiplyExact(len, dim)];
        // each axis's groups once per position, then copied into the token rows: the trigonometry is
        // (frames + rows + cols) groups, not tokens x 3 (a 16 x 32 x 32 grid at dim 128: ~1 ms instead of ~18)
        float[] frameGroups = groups(grid.frames(), frameWidth);
        // rows and columns share the width and so the groups: one table serves both
        float[] spatialGroups = groups(Math.max(grid.rows(), grid.cols()), spatial);
        int token = 0;
        for (int f = 0; f < grid.frames(); f++) {
            for (int r = 0; r < grid.rows(); r++) {
                for (int c = 0; c < grid.cols(); c++) {
                    int row = token * dim;
                    System.arraycopy(frameGroups, f * frameWidth, out, row, frameWidth);
                    System.arraycopy(spatialGroups, r * spatial, out, row + frameWidth, spatial);
                    System.arraycopy(spatialGroups, c * spatial, out, row + frameWidth + spatial, spatial);
                    token++;
                }
            }
        }
        return Tensor.of(out, len, dim);
    }

    /**
     * Adds the signal to the tokens in place (nothing for {@link #NONE}); its gradient is the identity, and it has no
     * parameters.
     *
     * @param tokens f32 (grid tokens, dim), the patch embedding's output
     * @param grid the token grid
     */
    public void addTo(Tensor tokens, Rope.Grid grid) {
        if (this == NONE) {
            return;
        }
        try (Tensor t = table(grid, tokens.dim(-1))) {
            Elementwise.axpy(1f, t, tokens);
        }
    }

    /**
     * The table laid out for a run of token rows: a slice of one clip's tokens from {@code first}, or a batch of
     * whole clips one after another (first 0).
     *
     * @param grid the token grid
     * @param dim the model width
     * @param rows how many rows
     * @param first the grid token of row 0; row r takes the signal of token (first + r) mod the grid's tokens
     * @return (rows, dim) f32, a new tensor the caller closes; null for {@link #NONE}
     */
    public Tensor rows(Rope.Grid grid, int dim, int rows, int first) {
        if (this == NONE) {
            return null;
        }
        int len = Math.toIntExact(grid.tokens());
        try (Tensor one = table(grid, dim)) {
            Tensor out = Tensor.allocate(DType.F32, rows, dim);
            for (int r = 0; r < rows; ) {
                int at = (first + r) % len;
                int run = Math.min(rows - r, len - at);
                out.narrow(r, run).copyFrom(one.narrow(at, run));
                r += run;
            }
            return out;
        }
    }

    /** @return w_i = 10000^(-i / (width / 2)) for the width / 2 sine-cosine pairs of a group */
    private static double[] frequencies(int width) {
        int half = width / 2;
        double[] w = new double[half];
        for (int i = 0; i < half; i++) {
            w[i] = Math.pow(10000.0, -(double) i / half);
        }
        return w;
    }

    /** @return one axis's group for each position 0 .. positions - 1, {@code width} values each, one after another */
    private static float[] groups(int positions, int width) {
        double[] frequencies = frequencies(width);
        float[] out = new float[positions * width];
        for (int p = 0; p < positions; p++) {
            fill(out, p * width, frequencies, p);
        }
        return out;
    }

    /** One axis: sines in the first half of the group, cosines in the second. */
    private static void fill(float[] out, int start, double[] frequencies, int position) {
        int half = frequencies.length;
        for (int i = 0; i < half; i++) {
            double angle = position * frequencies[i];
            out[start + i] = (float) Math.sin(angle);
            out[start + half + i] = (float) Math.cos(angle);
        }
    }
}
