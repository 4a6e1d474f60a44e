package io.sparge4j.engine.sparse;

import io.sparge4j.engine.cpu.SimdSupport;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Column sums of a run of f32 rows in memory, accumulated in float64: the work of mean pooling. Float partial
 * sums over at most {@link #CHUNK} rows are folded into float64, which keeps the mean accurate while the inner loop
 * stays in vector registers.
 */
final class RowSums {
    /** Rows summed in float before folding into float64. */
    static final int CHUNK = 8;

    private RowSums() {
    }

    /**
     * Adds {@code rows} rows of {@code d} floats, the first at element {@code first} and each {@code stride} elements
     * after the previous, into {@code out[outOff .. outOff + d)}.
     */
    static void add(MemorySegment seg, long first, long stride, int rows, int d, double[] out, int outOff) {
        if (SimdSupport.available()) {
            SimdRowSums.add(seg, first, stride, rows, d, out, outOff);
        } else {
            scalar(seg, first, stride, rows, d, out, outOff);
        }
    }

    static void scalar(MemorySegment seg, long first, long stride, int rows, int d, double[] out, int outOff) {
        float[] partial = new float[d];
        for (int r = 0; r < rows; r++) {
            long base = first + r * stride;
            for (int c = 0; c < d; c++) {
                partial[c] += seg.getAtIndex(ValueLayout.JAVA_FLOAT, base + c);
            }
            if (r % CHUNK == CHUNK - 1 || r == rows - 1) {
                for (int c = 0; c < d; c++) {
                    out[outOff + c] += partial[c];
                    partial[c] = 0;
                }
            }
        }
    }
}
