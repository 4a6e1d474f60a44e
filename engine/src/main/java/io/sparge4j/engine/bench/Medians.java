package io.sparge4j.engine.bench;

import java.util.Arrays;

/** Collects repeated timings and reports their median, in milliseconds. */
final class Medians {
    private final long[] nanos;
    private int count;

    Medians(int capacity) {
        nanos = new long[capacity];
    }

    /** Runs {@code body} once and records its wall time. */
    void time(Runnable body) {
        long start = System.nanoTime();
        body.run();
        nanos[count++] = System.nanoTime() - start;
    }

    /** @return the median of the recorded times (the mean of the middle two for an even count), in ms */
    double medianMs() {
        if (count == 0) {
            throw new IllegalStateException("no timings recorded");
        }
        long[] sorted = Arrays.copyOf(nanos, count);
        Arrays.sort(sorted);
        double mid = count % 2 == 1 ? sorted[count / 2] : 0.5 * (sorted[count / 2 - 1] + sorted[count / 2]);
        return mid / 1e6;
    }
}
