package io.sparge4j.kernels.nn;

import io.sparge4j.kernels.types.arrays.FloatArray;

/**
 * Host-side angle tables of {@link RopeKernels}, computed exactly as {@code io.sparge4j.engine.ops.Rope} computes
 * its angles (in float64) and rounded to float once. Plain Java, not a kernel.
 */
public final class RopeTables {
    /** Angle base of the rotary frequencies, as in Wan2.1. */
    public static final double THETA = 10000.0;

    private RopeTables() {
    }

    /**
     * How many of a head's pairs each axis rotates, as {@code Rope.axisPairs}: d_h = d_w = 2 * (d / 6) rotary
     * dims for rows and columns, the rest for frames.
     *
     * @param headDim the head dimension d, even
     * @return the pairs that follow the frame, the row and the column position
     */
    public static int[] axisPairs(int headDim) {
        int hw = 2 * (headDim / 6);
        return new int[] {(headDim - 2 * hw) / 2, hw / 2, hw / 2};
    }

    /**
     * The (cos, sin) of every pair of every grid token: token {@code l} (frame {@code l / (rows * cols)}, row
     * {@code l / cols % rows}, column {@code l % cols}) has pairs {@code [0, pf)} at the frame position,
     * {@code [pf, pf + ph)} at the row and the rest at the column; pair {@code i} of an axis with {@code n} pairs at
     * position {@code pos} has angle {@code pos / THETA^(2i / (2n))}.
     *
     * @param frames tokens along time, at least 1
     * @param rows tokens along height, at least 1
     * @param cols tokens along width, at least 1
     * @param headDim d, even, at least 2
     * @return (frames * rows * cols, d / 2, 2) floats: {@code [cos, sin]} per token and pair
     */
    public static FloatArray cosSin(int frames, int rows, int cols, int headDim) {
        if (frames < 1 || rows < 1 || cols < 1) {
            throw new IllegalArgumentException("RopeTables.cosSin: grid is " + frames + "x" + rows + "x" + cols
                    + ", expected every size >= 1");
        }
        if (headDim < 2 || headDim % 2 != 0) {
            throw new IllegalArgumentException("RopeTables.cosSin: headDim is " + headDim
                    + ", expected an even number >= 2");
        }
        int half = headDim / 2;
        int[] pairs = axisPairs(headDim);
        long tokens = (long) frames * rows * cols;
        if (tokens * headDim > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("RopeTables.cosSin: " + tokens + " tokens x headDim " + headDim
                    + " floats, expected at most " + Integer.MAX_VALUE);
        }
        FloatArray table = new FloatArray((int) tokens * headDim);
        int[] pos = new int[3];
        for (int l = 0; l < tokens; l++) {
            pos[0] = l / (rows * cols);
            pos[1] = l / cols % rows;
            pos[2] = l % cols;
            int i = 0;
            for (int axis = 0; axis < 3; axis++) {
                double dims = 2.0 * pairs[axis];
                for (int j = 0; j < pairs[axis]; j++, i++) {
                    double angle = pos[axis] * (1.0 / Math.pow(THETA, (2 * j) / dims));
                    table.set(2 * (l * half + i), (float) Math.cos(angle));
                    table.set(2 * (l * half + i) + 1, (float) Math.sin(angle));
                }
            }
        }
        return table;
    }
}
