package io.sparge4j.kernels;

/**
 * The ND-range of a {@link KernelContext} task: global work (total work-items per dimension) and optional
 * local work (work-group size), as TornadoVM's {@code WorkerGrid}. Unused dimensions are 1.
 *
 * <p>Sizes are checked when the grid is launched (the local size must divide the global size), because
 * TornadoVM lets them be set in any order.
 */
public interface WorkerGrid {
    /** @return 1, 2 or 3 */
    int dimension();

    /** @return the global work sizes {x, y, z} (a copy) */
    long[] getGlobalWork();

    /** @return the local work sizes {x, y, z} (a copy), or {@code null} when left to the runtime */
    long[] getLocalWork();

    /** @return global / local per dimension, or {@code null} when no local work is set */
    long[] getNumberOfWorkgroups();

    /** @return the offset added to every global id {x, y, z} (a copy) */
    long[] getGlobalOffset();

    /**
     * @param x global work in x
     * @param y global work in y (1 for a 1D grid)
     * @param z global work in z (1 for 1D and 2D grids)
     */
    void setGlobalWork(long x, long y, long z);

    /**
     * @param x work-group size in x
     * @param y work-group size in y (1 for a 1D grid)
     * @param z work-group size in z (1 for 1D and 2D grids)
     */
    void setLocalWork(long x, long y, long z);

    /** Lets the runtime choose the work-group size. */
    void setLocalWorkToNull();

    /**
     * @param x offset in x
     * @param y offset in y
     * @param z offset in z
     */
    void setGlobalOffset(long x, long y, long z);
}
