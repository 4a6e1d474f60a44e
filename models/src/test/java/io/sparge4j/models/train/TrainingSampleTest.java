package io.sparge4j.models.train;

import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.data.ClipSpec;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Caption dropout, which classifier-free guidance relies on: the rate, its bounds, and what it leaves alone. */
class TrainingSampleTest {
    private static final ClipGenerator DATA = new ClipGenerator(4_711, ClipSpec.of(8, 24, 24));

    /**
     * 2,000 draws at p = 0.1 and 0.3 (fresh seeds each run): the empty-caption share is binomial, standard deviation
     * sqrt(p (1 - p) / 2000) <= 0.0103, so 5 of them (0.051) is a bound a correct draw misses about once in 10^6.
     */
    @Test
    void emptyCaptionShareIsTheDropoutRate() {
        long base = new SplittableRandom().nextLong();
        for (double p : new double[] {0.1, 0.3}) {
            int n = 2_000;
            int empty = 0;
            for (int i = 0; i < n; i++) {
                try (TrainingSample s = TrainingSample.draw(DATA, base + i, p, 1.0)) {
                    if (s.prompt().isEmpty()) {
                        empty++;
                    } else {
                        assertEquals(s.clip().caption(), s.prompt(), "a kept caption is the clip's own");
                    }
                }
            }
            double bound = 5 * Math.sqrt(p * (1 - p) / n);
            assertEquals(p, (double) empty / n, bound, "empty-caption share at p = " + p + " (seed base " + base + ")");
        }
    }

    @Test
    void zeroNeverDropsAndOneAlwaysDrops() {
        long base = new SplittableRandom().nextLong();
        for (int i = 0; i < 200; i++) {
            try (TrainingSample keep = TrainingSample.draw(DATA, base + i, 0.0, 1.0);
                 TrainingSample drop = TrainingSample.draw(DATA, base + i, 1.0, 1.0)) {
                assertFalse(keep.prompt().isEmpty(), "p = 0 dropped a caption (seed " + (base + i) + ")");
                assertTrue(drop.prompt().isEmpty(), "p = 1 kept a caption (seed " + (base + i) + ")");
            }
        }
    }

    /** Dropping the caption must not shift the other draws, or the same seed would train on other clips and noise. */
    @Test
    void droppingTheCaptionLeavesClipNoiseAndLevelAlone() {
        long seed = new SplittableRandom().nextLong();
        try (TrainingSample keep = TrainingSample.draw(DATA, seed, 0.0, 3.0);
             TrainingSample drop = TrainingSample.draw(DATA, seed, 1.0, 3.0)) {
            assertEquals(keep.clip().caption(), drop.clip().caption());
            assertEquals(keep.level(), drop.level());
            assertArrayEquals(keep.noise().toFloatArray(), drop.noise().toFloatArray());
            assertArrayEquals(keep.clip().video().toFloatArray(), drop.clip().video().toFloatArray());
        }
    }

    @Test
    void aRateOutsideZeroToOneIsRefusedNamingIt() {
        for (double bad : new double[] {-0.1, 1.5, Double.NaN}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> TrainingSample.draw(DATA, 1, bad, 1.0));
            assertTrue(e.getMessage().contains("captionDropout is " + bad), e.getMessage());
            assertTrue(e.getMessage().contains("[0, 1]"), e.getMessage());
        }
    }
}
