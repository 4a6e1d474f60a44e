package io.sparge4j.engine.gpu;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.nn.ColumnSumKernels;
import io.sparge4j.kernels.nn.TensorKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;

/**
 * The second step of the deterministic parameter-gradient sums ({@link ColumnSumKernels}): partial sums per chunk
 * of {@link #CHUNK_ROWS} rows, written by an op's partial kernel into a temporary, added chunk by chunk.
 */
final class ColumnSums {
    /** Rows per chunk of the partial sums. */
    static final int CHUNK_ROWS = 64;

    private ColumnSums() {
    }

    /** @return the chunks of one group of {@code groupRows} rows */
    static int chunks(int groupRows) {
        return ColumnSumKernels.chunksPerGroup(groupRows, CHUNK_ROWS);
    }

    /** A temporary for the partial sums of {@code groups} groups of {@code groupRows} rows. */
    static DeviceTensor partials(Op op, int groups, int groupRows, int cols) {
        return op.session.allocate(DType.F32, groups * chunks(groupRows), cols);
    }

    /**
     * Adds the two tasks of {@code out = x.sum(0)} for a row-major (rows, cols) {@code x}: partial sums per chunk of
     * rows ({@code <id>Partials}), then the chunks in order ({@code id}), so the sum is the same on every run.
     *
     * @return the partial sums' temporary, for the caller to close after the op runs
     */
    static DeviceTensor addRowSum(Op op, String id, FloatArray x, DeviceTensor out, int cols, int rows) {
        DeviceTensor partial = partials(op, 1, rows, cols);
        op.graph.task(id + "Partials", TensorKernels::columnPartials, new KernelContext(), x,
                (FloatArray) partial.array(), cols, 1, rows, CHUNK_ROWS);
        op.grid(id + "Partials", ColumnSumKernels.partialsGrid(cols, chunks(rows)));
        sum(op, id, partial, out, cols, 1, rows);
        return partial;
    }

    /** Adds the task summing {@code partial}'s chunks into {@code out} (groups, cols). */
    static void sum(Op op, String id, DeviceTensor partial, DeviceTensor out, int cols, int groups, int groupRows) {
        op.graph.task(id, ColumnSumKernels::sumChunks, new KernelContext(), (FloatArray) partial.array(),
                (FloatArray) out.array(), cols, groups, chunks(groupRows));
        op.grid(id, ColumnSumKernels.sumGrid(cols, groups));
    }
}
