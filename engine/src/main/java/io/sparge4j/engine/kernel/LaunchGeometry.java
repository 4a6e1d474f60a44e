package io.sparge4j.engine.kernel;

import io.sparge4j.kernels.WorkerGrid;

import java.util.Arrays;

/** A {@link WorkerGrid} checked for launch: int sizes, local work dividing global work, bounded groups. */
record LaunchGeometry(int[] global, int[] local, int[] offset, int[] groups) {
    /** Largest work-group the emulator accepts, as on current GPUs. */
    static final int MAX_GROUP_SIZE = 1024;
    /** Local size in x chosen when a grid leaves it unset: the largest divisor of global x up to this. */
    static final int DEFAULT_LOCAL_X = 64;

    static LaunchGeometry of(WorkerGrid grid, String op) {
        if (grid == null) {
            throw new IllegalArgumentException(op + ": grid is null, expected a WorkerGrid");
        }
        long[] g = grid.getGlobalWork();
        long[] l = grid.getLocalWork();
        long[] o = grid.getGlobalOffset();
        int[] global = new int[3];
        int[] local = new int[3];
        int[] offset = new int[3];
        int[] groups = new int[3];
        for (int d = 0; d < 3; d++) {
            char axis = "xyz".charAt(d);
            if (g[d] < 1 || g[d] + o[d] > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(op + ": global work " + g[d] + " (offset " + o[d] + ") in " + axis
                        + ", expected 1.." + Integer.MAX_VALUE + " ids (" + grid + ")");
            }
            global[d] = (int) g[d];
            offset[d] = (int) o[d];
            long ld = l == null ? (d == 0 ? largestDivisorUpTo(global[0], DEFAULT_LOCAL_X) : 1) : l[d];
            if (ld < 1 || ld > MAX_GROUP_SIZE) {
                throw new IllegalArgumentException(op + ": local work " + ld + " in " + axis + ", expected 1.."
                        + MAX_GROUP_SIZE + " (" + grid + ")");
            }
            if (g[d] % ld != 0) {
                throw new IllegalArgumentException(op + ": local work " + ld + " does not divide global work " + g[d]
                        + " in " + axis + " (" + grid + ")");
            }
            local[d] = (int) ld;
            groups[d] = global[d] / local[d];
        }
        long groupSize = (long) local[0] * local[1] * local[2];
        if (groupSize > MAX_GROUP_SIZE) {
            throw new IllegalArgumentException(op + ": work-group of " + groupSize + " work-items (local work "
                    + Arrays.toString(local) + "), expected at most " + MAX_GROUP_SIZE);
        }
        return new LaunchGeometry(global, local, offset, groups);
    }

    private static int largestDivisorUpTo(int n, int limit) {
        for (int d = Math.min(n, limit); d > 1; d--) {
            if (n % d == 0) {
                return d;
            }
        }
        return 1;
    }

    int groupSize() {
        return local[0] * local[1] * local[2];
    }

    long groupCount() {
        return (long) groups[0] * groups[1] * groups[2];
    }

    /** @return the {x, y, z} id of linear group {@code g} (x fastest) */
    int[] groupId(long g) {
        int x = (int) (g % groups[0]);
        long rest = g / groups[0];
        return new int[] {x, (int) (rest % groups[1]), (int) (rest / groups[1])};
    }
}
