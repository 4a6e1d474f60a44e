package io.sparge4j.kernels;

/** A 3D {@link WorkerGrid}, as TornadoVM's {@code WorkerGrid3D}. */
public final class WorkerGrid3D extends AbstractWorkerGrid {
    /**
     * A grid with the given global work and no local work set.
     *
     * @param x global work in x
     * @param y global work in y
     * @param z global work in z
     */
    public WorkerGrid3D(long x, long y, long z) {
        super(3, x, y, z);
    }
}
