package io.sparge4j.engine.execution;

import io.sparge4j.kernels.WorkerGrid;
import io.sparge4j.kernels.types.arrays.NativeArray;

import java.util.Arrays;

/**
 * The global and local sizes of one launch, checked: global sizes are multiples of local sizes and the
 * work-group fits the device.
 *
 * @param global work-items {x, y, z}
 * @param local work-group size {x, y, z}
 */
public record LaunchShape(long[] global, int[] local) {
    /** Local size in x chosen for a grid without local work: the largest divisor of global x up to this. */
    static final int DEFAULT_LOCAL_X = 256;
    /** Work-items of a loop-style kernel's default grid are capped here; the JIT makes its loops grid-stride. */
    static final long LOOP_ITEMS_CAP = 1L << 22;

    /** Copies. */
    public LaunchShape {
        global = global.clone();
        local = local.clone();
    }

    /** @return work-items per work-group */
    public int groupSize() {
        return local[0] * local[1] * local[2];
    }

    /**
     * @param grid the task's grid
     * @param task {@code "graph.task"}, for messages
     * @param maxGroupSize the device's largest work-group
     * @return the checked shape; a grid without local work gets the largest divisor of global x up to
     *     {@value #DEFAULT_LOCAL_X} (and the device's limit) in x, 1 in y and z
     * @throws IllegalArgumentException naming the task, the dimension and the sizes when they do not fit
     */
    static LaunchShape of(WorkerGrid grid, String task, int maxGroupSize) {
        long[] g = grid.getGlobalWork();
        long[] l = grid.getLocalWork();
        long[] offset = grid.getGlobalOffset();
        if (offset[0] != 0 || offset[1] != 0 || offset[2] != 0) {
            throw new IllegalArgumentException("task \"" + task + "\": " + grid + " has global offset "
                    + Arrays.toString(offset) + ", expected none (offsets are not supported on devices)");
        }
        int[] local = new int[3];
        for (int d = 0; d < 3; d++) {
            long ld = l != null ? l[d] : d == 0 ? largestDivisorUpTo(g[0], Math.min(DEFAULT_LOCAL_X, maxGroupSize)) : 1;
            if (g[d] % ld != 0) {
                throw new IllegalArgumentException("task \"" + task + "\": global work " + g[d] + " in " + "xyz".charAt(d)
                        + " is not a multiple of local work " + ld + " (" + grid + "); round the global work up to "
                        + (g[d] + ld - 1) / ld * ld + " and guard the extra work-items in the kernel");
            }
            local[d] = (int) ld;
        }
        long size = (long) local[0] * local[1] * local[2];
        if (size > maxGroupSize) {
            throw new IllegalArgumentException("task \"" + task + "\": work-group of " + size + " work-items ("
                    + grid + "), expected at most " + maxGroupSize + " on this device");
        }
        return new LaunchShape(g, local);
    }

    /**
     * The default grid of a loop-style kernel: about as many work-items as the largest array has elements (at
     * least one group, at most {@value #LOOP_ITEMS_CAP}), spread over the kernel's parallel dimensions.
     *
     * @param dimensions the number of {@code @Parallel} loops, 1 to 3
     * @param args the task's arguments
     * @param maxGroupSize the device's largest work-group
     * @return the shape
     */
    static LaunchShape forLoops(int dimensions, Object[] args, int maxGroupSize) {
        int groupSize = loopGroupSize(maxGroupSize);
        long items = groupSize;
        for (Object a : args) {
            if (a instanceof NativeArray array) {
                items = Math.max(items, array.getSize());
            }
        }
        items = Math.min(items, LOOP_ITEMS_CAP);
        int[] local = {1, 1, 1};
        long[] global = {1, 1, 1};
        int dims = Math.max(1, Math.min(3, dimensions));
        long edge = Math.max(1, (long) Math.ceil(Math.pow(items, 1.0 / dims)));
        int left = groupSize;
        for (int d = 0; d < dims; d++) {
            // split the group size evenly over the dimensions, powers of two
            int share = d == dims - 1 ? left : Integer.highestOneBit((int) Math.max(1, Math.round(
                    Math.pow(left, 1.0 / (dims - d)))));
            local[d] = share;
            left /= share;
            global[d] = (edge + share - 1) / share * share;
        }
        return new LaunchShape(global, local);
    }

    /** @return the work-group size of loop-style kernels: 256, or the largest power of two the device allows */
    static int loopGroupSize(int maxGroupSize) {
        return Integer.highestOneBit(Math.max(1, Math.min(256, maxGroupSize)));
    }

    private static long largestDivisorUpTo(long n, int limit) {
        for (long d = Math.min(n, limit); d > 1; d--) {
            if (n % d == 0) {
                return d;
            }
        }
        return 1;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LaunchShape s && Arrays.equals(s.global, global) && Arrays.equals(s.local, local);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(global) + Arrays.hashCode(local);
    }

    /** @return e.g. {@code global [1024, 1, 1] local [256, 1, 1]} */
    @Override
    public String toString() {
        return "global " + Arrays.toString(global) + " local " + Arrays.toString(local);
    }
}
