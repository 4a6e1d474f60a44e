package io.sparge4j.engine.cpu.vec;

import io.sparge4j.engine.cpu.CpuRuntime;

/**
 * Parallel column sums over groups of rows: the shape of every "reduce over tokens" gradient (biases,
 * modulation vectors, gates). Splitting the columns as well as the groups keeps all threads busy when
 * there is only one group (one bias over every row), and each work item owns its output columns, so no
 * partial sums need merging.
 */
public final class ColumnBlocks {
    /** Narrowest block worth a task: four AVX-512 vectors. */
    private static final int MIN_BLOCK = 64;

    private ColumnBlocks() {
    }

    /** The work of one item: columns {@code [colFrom, colFrom + colLen)} of group {@code group}. */
    @FunctionalInterface
    public interface Body {
        /**
         * @param group the group index
         * @param colFrom first column
         * @param colLen number of columns
         */
        void run(int group, int colFrom, int colLen);
    }

    /**
     * Runs {@code body} over every (group, column block) pair in parallel.
     *
     * @param groups number of independent groups (at least 0)
     * @param cols columns per group
     * @param body the work of one item
     */
    public static void forEach(int groups, int cols, Body body) {
        if (groups <= 0 || cols <= 0) {
            return;
        }
        int wanted = Math.max(1, 4 * CpuRuntime.threads() / groups);
        int blocks = Math.max(1, Math.min(wanted, (cols + MIN_BLOCK - 1) / MIN_BLOCK));
        int width = roundUp16((cols + blocks - 1) / blocks);
        int perGroup = (cols + width - 1) / width;
        CpuRuntime.parallelFor(groups * perGroup, item -> {
            int g = item / perGroup;
            int from = (item % perGroup) * width;
            body.run(g, from, Math.min(width, cols - from));
        });
    }

    private static int roundUp16(int n) {
        return (n + 15) & ~15;
    }
}
