package io.sparge4j.engine.gpu;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.nn.ColumnSumKernels;
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

    /** Adds the task summing {@code partial}'s chunks into {@code out} (groups, cols). */
    static void sum(Op op, String id, DeviceTensor partial, DeviceTensor out, int cols, int groups, int groupRows) {
        op.graph.task(id, ColumnSumKernels::sumChunks, new KernelContext(), (FloatArray) partial.array(),
                (FloatArray) out.array(), cols, groups, chunks(groupRows));
        op.grid(id, ColumnSumKernels.sumGrid(cols, groups));
    }
}
