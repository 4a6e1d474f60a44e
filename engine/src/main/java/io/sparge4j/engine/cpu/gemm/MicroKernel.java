package io.sparge4j.engine.cpu.gemm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The innermost GEMM step: one {@code mr() x nr()} tile of C from a packed A micro-panel and a packed
 * B micro-panel. Packed A holds {@code mr()} values per k step (the column of the tile's rows); packed B
 * holds {@code nr()} values per k step (the row of the tile's columns).
 */
interface MicroKernel {
    /** @return rows of the register tile */
    int mr();

    /** @return columns of the register tile */
    int nr();

    /**
     * acc = sum over p &lt; kc of A[:, p] * B[p, :], written row-major ({@code mr() x nr()}) to {@code acc}.
     *
     * @param kc depth of the packed panels
     * @param a packed A
     * @param aOff start of the A micro-panel in {@code a}
     * @param b packed B
     * @param bOff start of the B micro-panel in {@code b}
     * @param acc the tile's result (overwritten)
     */
    void tile(int kc, float[] a, int aOff, float[] b, int bOff, float[] acc);

    /**
     * C[tile] = cScale * C[tile] + acc for the {@code rows x cols} corner of the tile that lies inside C.
     * With {@code cScale == 0} C is only written, never read (so garbage there, even NaN, is overwritten).
     *
     * @param acc a result of {@link #tile}
     * @param rows rows inside C (at most {@code mr()})
     * @param cols columns inside C (at most {@code nr()})
     * @param c C's memory (f32)
     * @param cIndex element index of the tile's top-left corner in {@code c}
     * @param ldc row stride of C in elements
     * @param cScale factor applied to the old C
     */
    void store(float[] acc, int rows, int cols, MemorySegment c, long cIndex, long ldc, float cScale);

    /** Scalar {@link #store} for any tile, used for edge tiles and by the scalar kernel. */
    static void storeEdge(float[] acc, int nr, int rows, int cols, MemorySegment c, long cIndex, long ldc,
            float cScale) {
        for (int i = 0; i < rows; i++) {
            long row = cIndex + i * ldc;
            for (int j = 0; j < cols; j++) {
                float old = cScale == 0 ? 0f : cScale * c.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, row + j);
                c.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, row + j, old + acc[i * nr + j]);
            }
        }
    }
}
