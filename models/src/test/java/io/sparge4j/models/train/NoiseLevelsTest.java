package io.sparge4j.models.train;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The training noise-level draws: the shifted uniform unchanged, and a band's share where it was asked for. */
class NoiseLevelsTest {
    @Test
    void withoutABandTheDrawsAreTheShiftedUniformsBitForBit() {
        for (double shift : new double[] {1, 3, 0.5}) {
            SplittableRandom a = new SplittableRandom(11);
            SplittableRandom b = new SplittableRandom(11);
            NoiseLevels levels = NoiseLevels.shifted(shift);
            for (int i = 0; i < 1000; i++) {
                assertEquals(Losses.drawNoiseLevel(b, shift), levels.draw(a), "draw " + i + " at shift " + shift);
            }
        }
    }

    /**
     * Share 0.5 of [0.4, 0.8) over a uniform rest: P(s in band) = 0.5 + 0.5 * 0.4 = 0.7; 40,000 fresh draws put the
     * fraction within 0.01 of it (the binomial's standard deviation is 0.0023), and the band's draws are uniform
     * within it (its lower and upper halves each hold 0.35 +- 0.01).
     */
    @Test
    void aBandTakesItsShareOfTheDraws() {
        NoiseLevels levels = new NoiseLevels(1.0, 0.4, 0.8, 0.5);
        SplittableRandom random = new SplittableRandom(System.nanoTime());
        int n = 40_000;
        int inBand = 0;
        int lowerHalf = 0;
        for (int i = 0; i < n; i++) {
            double s = levels.draw(random);
            assertTrue(s >= 0 && s < 1, "level " + s);
            if (s >= 0.4 && s < 0.8) {
                inBand++;
                lowerHalf += s < 0.6 ? 1 : 0;
            }
        }
        assertEquals(0.7, inBand / (double) n, 0.01);
        assertEquals(0.35, lowerHalf / (double) n, 0.01);
    }

    @Test
    void badSettingsAreRefusedByName() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> NoiseLevels.shifted(0)).getMessage()
                .contains("shift is 0.0"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new NoiseLevels(1, 0.8, 0.4, 0.5))
                .getMessage().contains("band is [0.8, 0.4)"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new NoiseLevels(1, 0.4, 0.8, 1.5))
                .getMessage().contains("bandShare is 1.5"));
    }
}
