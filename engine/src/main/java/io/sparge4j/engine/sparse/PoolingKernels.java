package io.sparge4j.engine.sparse;

import io.sparge4j.engine.cpu.SimdSupport;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The arithmetic of the pooled map: column sums of f32 rows accumulated in float64 (mean pooling), and float64 dot
 * products (pooled scores). Float partial sums over at most {@link #CHUNK} rows are folded into float64, which keeps
 * the mean accurate while the inner loop stays in vector registers.
 */
final class PoolingKernels {
    /** Rows summed in float before folding into float64. */
    static final int CHUNK = 8;

    private PoolingKernels() {
    }

    /**
     * Adds {@code rows} rows of {@code d} floats, the first at element {@code first} and each {@code stride} elements
     * after the previous, into {@code out[outOff .. outOff + d)}.
     */
    static void add(MemorySegment seg, long first, long stride, int rows, int d, double[] out, int outOff) {
        if (SimdSupport.available()) {
            SimdPoolingKernels.add(seg, first, stride, rows, d, out, outOff);
        } else {
            scalar(seg, first, stride, rows, d, out, outOff);
        }
    }

    /** @return sum of a[aOff + i] * b[bOff + i] for i in [0, n), in float64 */
    static double dot(double[] a, int aOff, double[] b, int bOff, int n) {
        return SimdSupport.available() ? SimdPoolingKernels.dot(a, aOff, b, bOff, n) : scalarDot(a, aOff, b, bOff, n);
    }

    /** The dot product with four independent sums, so the adds overlap instead of waiting on each other. */
    static double scalarDot(double[] a, int aOff, double[] b, int bOff, int n) {
        double s0 = 0;
        double s1 = 0;
        double s2 = 0;
        double s3 = 0;
        int c = 0;
        for (; c + 4 <= n; c += 4) {
            s0 += a[aOff + c] * b[bOff + c];
            s1 += a[aOff + c + 1] * b[bOff + c + 1];
            s2 += a[aOff + c + 2] * b[bOff + c + 2];
            s3 += a[aOff + c + 3] * b[bOff + c + 3];
        }
        for (; c < n; c++) {
            s0 += a[aOff + c] * b[bOff + c];
        }
        return (s0 + s1) + (s2 + s3);
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
