package io.sparge4j.engine.kernel;

import io.sparge4j.kernels.KernelContext;

/** The reference semantics of {@link KernelContext#mmaLoadMatrixX4} (PTX {@code ldmatrix .x4}) for one lane. */
final class MatrixLoads {
    static final int MATRICES = 4;

    private MatrixLoads() {
    }

    /** Fills {@code dst[dstOffset .. + 3]} with lane {@code lane}'s registers, after the device's alignment checks. */
    static void loadX4(int lane, int[] tile, int offset, int ld, int step1, int step2, int[] dst, int dstOffset) {
        check("mmaLoadMatrixX4", offset, ld, step1, step2, dst, dstOffset);
        for (int j = 0; j < MATRICES; j++) {
            int base = offset + (j & 1) * step1 + (j >> 1) * step2;
            dst[dstOffset + j] = tile[base + (lane >> 2) * ld + (lane & 3)];
        }
    }

    /**
     * {@link KernelContext#mmaLoadMatrixX4Trans} ({@code ldmatrix .x4 .trans}): lane l gets column l / 4 of rows
     * 2 (l % 4) and 2 (l % 4) + 1 of each matrix, after the same checks.
     */
    static void loadX4Trans(int lane, int[] tile, int offset, int ld, int step1, int step2, int[] dst,
            int dstOffset) {
        check("mmaLoadMatrixX4Trans", offset, ld, step1, step2, dst, dstOffset);
        int column = lane >> 2;
        int shift = 16 * (column & 1);
        int row = 2 * (lane & 3);
        for (int j = 0; j < MATRICES; j++) {
            int at = offset + (j & 1) * step1 + (j >> 1) * step2 + row * ld + (column >> 1);
            int lo = (tile[at] >>> shift) & 0xffff;
            int hi = (tile[at + ld] >>> shift) & 0xffff;
            dst[dstOffset + j] = lo | (hi << 16);
        }
    }

    private static void check(String op, int offset, int ld, int step1, int step2, int[] dst, int dstOffset) {
        int row = KernelContext.MMA_MATRIX_ROW_INTS;
        if (offset % row != 0 || ld % row != 0 || step1 % row != 0 || step2 % row != 0) {
            throw new IllegalArgumentException(op + ": offset " + offset + ", ld " + ld + ", step1 "
                    + step1 + ", step2 " + step2 + ": expected multiples of " + row + " (ldmatrix reads 16-byte rows)");
        }
        if (dstOffset < 0 || dstOffset + MATRICES > dst.length) {
            throw new IllegalArgumentException(op + ": dstOffset " + dstOffset + " in an array of "
                    + dst.length + ", expected room for " + MATRICES + " ints");
        }
    }
}
