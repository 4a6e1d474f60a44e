package io.sparge4j.kernels;

/** A 2D {@link WorkerGrid}, as TornadoVM's {@code WorkerGrid2D}. */
public final class WorkerGrid2D extends AbstractWorkerGrid {
    /**
     * A grid with the given global work and no local work set.
     *
     * @param x global work in x
     * @param y global work in y
     */
    public WorkerGrid2D(long x, long y) {
        super(2, x, y, 1);
    }
}
