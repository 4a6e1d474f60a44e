package io.sparge4j.engine.tensor;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Bytes in use and their high-water mark, for one kind of memory: {@link #HOST} counts the off-heap storage of every
 * tensor this engine allocates (the JVM heap and borrowed or memory-mapped storage are not counted); device sessions
 * keep one each. Benchmarks read {@link #peakBytes()} after {@link #resetPeak()} to report a run's peak memory.
 */
public final class MemoryStats {
    /** Off-heap tensor storage allocated by {@link Tensor#allocate(DType, int...)} and the ops. */
    public static final MemoryStats HOST = new MemoryStats();

    private final AtomicLong inUse = new AtomicLong();
    private final AtomicLong peak = new AtomicLong();

    /** A fresh counter (device sessions own one each). */
    public MemoryStats() {
    }

    /** @param bytes bytes just allocated */
    public void allocated(long bytes) {
        long now = inUse.addAndGet(bytes);
        peak.accumulateAndGet(now, Math::max);
    }

    /** @param bytes bytes just freed */
    public void freed(long bytes) {
        inUse.addAndGet(-bytes);
    }

    /** @return bytes allocated and not yet freed */
    public long bytesInUse() {
        return inUse.get();
    }

    /** @return the most bytes in use at once since the last {@link #resetPeak()} */
    public long peakBytes() {
        return peak.get();
    }

    /** Restarts the high-water mark from the bytes in use now. */
    public void resetPeak() {
        peak.set(inUse.get());
    }
}
