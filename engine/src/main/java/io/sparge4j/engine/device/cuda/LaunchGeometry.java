package io.sparge4j.engine.device.cuda;

import java.util.Arrays;

/**
 * A launch's grid and block, checked against the device's limits before the driver sees them, so that a bad size
 * is reported with the argument's name, value and what was expected rather than as {@code CUDA_ERROR_INVALID_VALUE}.
 *
 * @param grid blocks in x, y, z
 * @param block threads per block in x, y, z
 */
record LaunchGeometry(int[] grid, int[] block) {
    /**
     * The device's launch limits.
     *
     * @param maxThreadsPerBlock {@code CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK}
     * @param maxBlock {@code MAX_BLOCK_DIM_X/Y/Z}
     * @param maxGrid {@code MAX_GRID_DIM_X/Y/Z}
     */
    record Limits(int maxThreadsPerBlock, int[] maxBlock, int[] maxGrid) {
    }

    private static final String[] AXES = {"x", "y", "z"};

    /**
     * @param globalSize work-items in x[, y[, z]]: 1 to 3 entries, each a multiple of the local size; missing
     *     dimensions are 1
     * @param localSize work-group size in x[, y[, z]], missing dimensions 1
     * @param limits the device's limits
     * @return grid = global / local, and block = local, both in three dimensions
     * @throws IllegalArgumentException naming the argument, its value and what was expected
     */
    static LaunchGeometry of(long[] globalSize, int[] localSize, Limits limits) {
        if (globalSize == null || localSize == null || globalSize.length < 1 || globalSize.length > 3
                || localSize.length < 1 || localSize.length > 3) {
            throw new IllegalArgumentException("launch: globalSize " + Arrays.toString(globalSize) + " and localSize "
                    + Arrays.toString(localSize) + ": expected 1 to 3 dimensions each");
        }
        int[] grid = {1, 1, 1};
        int[] block = {1, 1, 1};
        long threads = 1;
        for (int d = 0; d < 3; d++) {
            long global = d < globalSize.length ? globalSize[d] : 1;
            int local = d < localSize.length ? localSize[d] : 1;
            if (local < 1 || local > limits.maxBlock()[d]) {
                throw new IllegalArgumentException("launch: localSize[" + d + "] (" + AXES[d] + ") is " + local
                        + ", expected 1 to " + limits.maxBlock()[d] + " on this device");
            }
            if (global < 1 || global % local != 0) {
                throw new IllegalArgumentException("launch: globalSize[" + d + "] (" + AXES[d] + ") is " + global
                        + ", expected a positive multiple of localSize[" + d + "] = " + local);
            }
            long blocks = global / local;
            if (blocks > limits.maxGrid()[d]) {
                throw new IllegalArgumentException("launch: globalSize[" + d + "] (" + AXES[d] + ") is " + global
                        + ", which needs " + blocks + " work-groups of " + local + "; expected at most "
                        + limits.maxGrid()[d] + " work-groups in " + AXES[d] + " on this device");
            }
            grid[d] = (int) blocks;
            block[d] = local;
            threads *= local;
        }
        if (threads > limits.maxThreadsPerBlock()) {
            throw new IllegalArgumentException("launch: localSize " + Arrays.toString(localSize) + " has " + threads
                    + " work-items per work-group, expected at most " + limits.maxThreadsPerBlock() + " on this device");
        }
        return new LaunchGeometry(grid, block);
    }
}
