package io.sparge4j.engine.bench;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MediansTest {
    private static void sleepMs(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void medianIgnoresOneSlowOutlier() {
        Medians m = new Medians(3);
        m.time(() -> sleepMs(5));
        m.time(() -> sleepMs(300));
        m.time(() -> sleepMs(5));
        // Sleeps last at least as asked; the median is one of the short ones, far below the outlier.
        double median = m.medianMs();
        assertTrue(median >= 5 && median < 250, "median " + median);
    }

    @Test
    void noTimingsIsAnError() {
        assertThrows(IllegalStateException.class, () -> new Medians(1).medianMs());
    }

    @Test
    void evenCountAveragesTheMiddleTwo() {
        Medians m = new Medians(2);
        m.time(() -> sleepMs(20));
        m.time(() -> sleepMs(60));
        double median = m.medianMs();
        // The mean of about 20 and 60 ms: above the shorter, below the longer.
        assertTrue(median >= 40 && median < 60 + 200, "median " + median);
    }
}
