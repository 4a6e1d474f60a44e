package io.sparge4j.kernels.nn;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.WorkerGrid2D;
import io.sparge4j.kernels.types.arrays.FloatArray;

/**
 * Column sums over groups of rows of a row-major {@code (rows, cols)} matrix, in two deterministic steps, for the
 * gradients of per-channel parameters (norm weights and biases, modulation shift and scale, gates).
 *
 * <p>The rows form {@code groups} consecutive groups of {@code groupRows} rows (one group: a parameter shared by
 * all tokens; B groups: a per-batch parameter, as Wan's (B, 1, C) modulation). Each group is cut into
 * {@code chunksPerGroup = ceil(groupRows / chunkRows)} chunks; a partial kernel writes one row of sums per chunk,
 * {@code partial[(g * chunksPerGroup + k) * cols + c]}, and {@link #sumChunks} adds a group's chunks in order. One
 * work-item per column reads consecutive columns, so every row read is coalesced.
 */
public final class ColumnSumKernels {
    /** Work-items per group along the columns. */
    public static final int COLUMN_GROUP = 128;

    private ColumnSumKernels() {
    }

    /**
     * {@code out[g, c] = sum over k < chunksPerGroup of partial[g * chunksPerGroup + k, c]}, the chunks added in
     * order. Grid: {@link #sumGrid}.
     *
     * @param ctx the work-item
     * @param partial (groups * chunksPerGroup, cols)
     * @param out (groups, cols), written
     * @param cols column count
     * @param groups group count
     * @param chunksPerGroup chunks per group
     */
    public static void sumChunks(KernelContext ctx, FloatArray partial, FloatArray out, int cols, int groups,
            int chunksPerGroup) {
        for (int g = ctx.globalIdy; g < groups; g += ctx.globalGroupSizeY) {
            for (int c = ctx.globalIdx; c < cols; c += ctx.globalGroupSizeX) {
                float acc = 0f;
                for (int k = 0; k < chunksPerGroup; k++) {
                    acc += partial.get((g * chunksPerGroup + k) * cols + c);
                }
                out.set(g * cols + c, acc);
            }
        }
    }

    /**
     * Partial column sums of {@code a * b} per chunk of rows (the gated residual's gate gradient,
     * {@code dGate = sum dOut * y}): {@code partial[chunk, c] = sum a[r, c] * b[r, c]} over the chunk's rows,
     * accumulated with fused multiply-adds in row order. Grid: {@link #partialsGrid}.
     *
     * @param ctx the work-item
     * @param a (groups * groupRows, cols)
     * @param b (groups * groupRows, cols)
     * @param partial (groups * chunksPerGroup, cols), written
     * @param cols column count
     * @param groups group count
     * @param groupRows rows per group
     * @param chunkRows rows per chunk, at least 1
     */
    public static void productPartials(KernelContext ctx, FloatArray a, FloatArray b, FloatArray partial, int cols,
            int groups, int groupRows, int chunkRows) {
        int perGroup = chunksPerGroup(groupRows, chunkRows);
        for (int chunk = ctx.globalIdy; chunk < groups * perGroup; chunk += ctx.globalGroupSizeY) {
            int g = chunk / perGroup;
            int first = g * groupRows + (chunk - g * perGroup) * chunkRows;
            int end = KernelMath.min(first + chunkRows, (g + 1) * groupRows);
            for (int c = ctx.globalIdx; c < cols; c += ctx.globalGroupSizeX) {
                float acc = 0f;
                for (int r = first; r < end; r++) {
                    acc = KernelMath.fma(a.get(r * cols + c), b.get(r * cols + c), acc);
                }
                partial.set(chunk * cols + c, acc);
            }
        }
    }

    /**
     * @param groupRows rows per group
     * @param chunkRows rows per chunk, at least 1
     * @return chunks per group, {@code ceil(groupRows / chunkRows)}, at least 1
     */
    public static int chunksPerGroup(int groupRows, int chunkRows) {
        return KernelMath.max(1, (groupRows + chunkRows - 1) / chunkRows);
    }

    /**
     * @param cols column count
     * @param chunks all chunks, {@code groups * chunksPerGroup}
     * @return the partial kernels' grid: x over the columns in groups of {@link #COLUMN_GROUP}, y over the chunks
     */
    public static WorkerGrid2D partialsGrid(int cols, int chunks) {
        WorkerGrid2D g = new WorkerGrid2D(NormKernels.roundUp(Math.max(1, cols), COLUMN_GROUP), Math.max(1, chunks));
        g.setLocalWork(COLUMN_GROUP, 1, 1);
        return g;
    }

    /**
     * @param cols column count
     * @param groups group count
     * @return {@link #sumChunks}' grid: x over the columns, y over the groups
     */
    public static WorkerGrid2D sumGrid(int cols, int groups) {
        return partialsGrid(cols, groups);
    }
}
