package io.sparge4j.kernels;

/** A 1D {@link WorkerGrid}, as TornadoVM's {@code WorkerGrid1D}. */
public final class WorkerGrid1D extends AbstractWorkerGrid {
    /**
     * A grid with the given global work and no local work set.
     *
     * @param x global work in x
     */
    public WorkerGrid1D(long x) {
        super(1, x, 1, 1);
    }
}
