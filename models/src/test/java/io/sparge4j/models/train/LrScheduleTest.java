package io.sparge4j.models.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Schedule values computed by hand from the documented formulas (tolerance 1e-15 relative). */
class LrScheduleTest {

    @Test
    void warmupThenCosineToTheFloor() {
        // base 1e-3, 4 warm-up steps, 14 steps in all, floor 1e-5: the cosine spans steps 4..13 (9 intervals)
        LrSchedule s = LrSchedule.warmupCosine(1e-3, 4, 14, 1e-5);
        assertEquals(0.25e-3, s.lr(0), 1e-18);
        assertEquals(0.5e-3, s.lr(1), 1e-18);
        assertEquals(1e-3, s.lr(3), 1e-18);
        assertEquals(1e-3, s.lr(4), 1e-18);
        assertEquals(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + Math.cos(Math.PI * 4 / 9.0)), s.lr(8), 1e-18);
        assertEquals(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + Math.cos(Math.PI * 5 / 9.0)), s.lr(9), 1e-18);
        assertEquals(1e-5, s.lr(13), 1e-18);
        assertEquals(1e-5, s.lr(100), 1e-18);
        for (long step = 1; step < 14; step++) {
            if (step > 4) {
                assertTrue(s.lr(step) < s.lr(step - 1), "decreasing after warm-up at step " + step);
            }
        }
        assertEquals(s.lr(7), LrSchedule.warmupCosine(1e-3, 4, 14, 1e-5).lr(7), 0.0, "a pure function of the step");
    }

    @Test
    void constantWithAndWithoutWarmup() {
        assertEquals(2e-4, LrSchedule.constant(2e-4).lr(0), 0.0);
        assertEquals(2e-4, LrSchedule.constant(2e-4).lr(1_000_000), 0.0);
        LrSchedule w = LrSchedule.constant(2e-4, 10);
        assertEquals(2e-5, w.lr(0), 1e-20);
        assertEquals(2e-4, w.lr(9), 1e-20);
        assertEquals(2e-4, w.lr(500), 0.0);
    }

    @Test
    void badValuesAreNamed() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LrSchedule.warmupCosine(1e-3, 0, 10, 2e-3))
                .getMessage().contains("minLr is 0.002"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LrSchedule.constant(1e-3).lr(-1))
                .getMessage().contains("step is -1"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LrSchedule.constant(Double.NaN))
                .getMessage().contains("baseLr is NaN"));
    }
}
