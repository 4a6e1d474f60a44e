package io.sparge4j.kernels;

import java.util.Arrays;

/** Shared state and argument checks of {@link WorkerGrid1D}, {@link WorkerGrid2D} and {@link WorkerGrid3D}. */
public abstract sealed class AbstractWorkerGrid implements WorkerGrid permits WorkerGrid1D, WorkerGrid2D, WorkerGrid3D {
    private final int dimension;
    private final long[] global = {1, 1, 1};
    private long[] local;
    private final long[] offset = {0, 0, 0};

    AbstractWorkerGrid(int dimension, long x, long y, long z) {
        this.dimension = dimension;
        setGlobalWork(x, y, z);
    }

    @Override
    public final int dimension() {
        return dimension;
    }

    @Override
    public final long[] getGlobalWork() {
        return global.clone();
    }

    @Override
    public final long[] getLocalWork() {
        return local == null ? null : local.clone();
    }

    @Override
    public final long[] getNumberOfWorkgroups() {
        if (local == null) {
            return null;
        }
        return new long[] {global[0] / local[0], global[1] / local[1], global[2] / local[2]};
    }

    @Override
    public final long[] getGlobalOffset() {
        return offset.clone();
    }

    @Override
    public final void setGlobalWork(long x, long y, long z) {
        long[] v = checked("setGlobalWork", x, y, z, 1);
        System.arraycopy(v, 0, global, 0, 3);
    }

    @Override
    public final void setLocalWork(long x, long y, long z) {
        local = checked("setLocalWork", x, y, z, 1);
    }

    @Override
    public final void setLocalWorkToNull() {
        local = null;
    }

    @Override
    public final void setGlobalOffset(long x, long y, long z) {
        long[] v = checked("setGlobalOffset", x, y, z, 0);
        System.arraycopy(v, 0, offset, 0, 3);
    }

    /** Sizes must be at least {@code min}, and dimensions beyond this grid's must be 1 (0 for offsets). */
    private long[] checked(String op, long x, long y, long z, long min) {
        long[] v = {x, y, z};
        String name = getClass().getSimpleName();
        for (int d = 0; d < 3; d++) {
            if (d >= dimension && v[d] != min) {
                throw new IllegalArgumentException(name + "." + op + ": " + "xyz".charAt(d) + " is " + v[d]
                        + ", expected " + min + " for a " + dimension + "D grid");
            }
            if (v[d] < min) {
                throw new IllegalArgumentException(name + "." + op + ": " + "xyz".charAt(d) + " is " + v[d]
                        + ", expected >= " + min);
            }
        }
        return v;
    }

    /** @return e.g. {@code WorkerGrid2D[global=[64, 32, 1], local=[16, 16, 1]]} */
    @Override
    public String toString() {
        return getClass().getSimpleName() + "[global=" + Arrays.toString(global) + ", local="
                + (local == null ? "auto" : Arrays.toString(local)) + "]";
    }
}
