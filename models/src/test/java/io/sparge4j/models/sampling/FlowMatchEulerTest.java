package io.sparge4j.models.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparge4j.engine.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class FlowMatchEulerTest {
    private static final int[] SHAPE = {2, 3, 4, 5};
    private static final int N = 120;

    @Test
    void linearOdeFollowsTheAnalyticEulerRecursion() {
        // v = k_j * x + c_j: Euler gives x <- x + dt * (k x + c) exactly; the recursion is evaluated in double.
        double[] k = Fields.uniform(11, N, -2, 2);
        double[] c = Fields.uniform(12, N, -1, 1);
        for (int steps : new int[] {1, 3, 10, 50}) {
            FlowSchedule schedule = FlowSchedule.wan(steps, 5.0);
            try (Tensor noise = Noise.gaussian(7, SHAPE);
                 Tensor out = new FlowMatchEuler().sample(
                         Fields.model(schedule, (j, x, s) -> k[j] * x + c[j]), noise, schedule, StepListener.NONE)) {
                double[] expected = Fields.values(noise);
                for (int i = 0; i < steps; i++) {
                    double dt = schedule.sigma(i + 1) - schedule.sigma(i);
                    for (int j = 0; j < N; j++) {
                        expected[j] = expected[j] + dt * (k[j] * expected[j] + c[j]);
                    }
                }
                // f32 state rounded once per step: a few ulps of O(1) values per step.
                assertEquals(0, Fields.maxAbsDiff(out, expected), 2e-6 * steps, "steps=" + steps);
            }
        }
    }

    @Test
    void exactVelocityOfOneDataPointLandsOnIt() {
        // x_s = (1 - s) x0 + s n has velocity n - x0 = (x - x0) / s; every step keeps the trajectory exact.
        double[] x0 = Fields.uniform(21, N, -2, 2);
        for (int steps : new int[] {1, 2, 7, 50}) {
            for (double shift : new double[] {1, 5}) {
                FlowSchedule schedule = FlowSchedule.wan(steps, shift);
                try (Tensor noise = Noise.gaussian(steps, SHAPE);
                     Tensor out = new FlowMatchEuler().sample(
                             Fields.model(schedule, (j, x, s) -> (x - x0[j]) / s), noise, schedule,
                             StepListener.NONE)) {
                    assertEquals(0, Fields.maxAbsDiff(out, x0), 1e-6, "steps=" + steps + " shift=" + shift);
                }
            }
        }
    }

    @Test
    void listenerHearsEveryStepInOrderAndNoiseIsUntouched() {
        FlowSchedule schedule = FlowSchedule.wan(7, 3.0);
        List<String> heard = new ArrayList<>();
        List<Integer> modelSteps = new ArrayList<>();
        List<Double> modelTimesteps = new ArrayList<>();
        VelocityModel field = Fields.model(schedule, Fields::nonlinear);
        VelocityModel recording = (x, t, step) -> {
            modelSteps.add(step);
            modelTimesteps.add(t);
            return field.velocity(x, t, step);
        };
        try (Tensor noise = Noise.gaussian(3, SHAPE)) {
            float[] before = noise.toFloatArray();
            new FlowMatchEuler().sample(recording, noise, schedule, (step, steps, t, nanos) -> {
                assertTrue(nanos >= 0, "nanos " + nanos);
                heard.add(step + "/" + steps + "@" + (int) t);
            }).close();
            assertArrayEquals(before, noise.toFloatArray(), 0f);
        }
        assertEquals(List.of("0/7@999", "1/7@947", "2/7@881", "3/7@799", "4/7@691", "5/7@545", "6/7@333"), heard);
        assertEquals(List.of(0, 1, 2, 3, 4, 5, 6), modelSteps);
        assertEquals(List.of(999.0, 947.0, 881.0, 799.0, 691.0, 545.0, 333.0), modelTimesteps);
    }

    @Test
    void velocityOfAnotherShapeIsAnErrorNamingBothShapes() {
        FlowSchedule schedule = FlowSchedule.wan(4, 5.0);
        VelocityModel wrong = (x, t, step) -> Tensor.zeros(2, 3, 4, 6);
        try (Tensor noise = Noise.gaussian(1, SHAPE)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new FlowMatchEuler().sample(wrong, noise, schedule, StepListener.NONE));
            assertTrue(e.getMessage().contains("[2, 3, 4, 6]") && e.getMessage().contains("[2, 3, 4, 5]")
                    && e.getMessage().contains("step 0"), e.getMessage());
            assertThrows(NullPointerException.class,
                    () -> new FlowMatchEuler().sample(wrong, noise, schedule, null));
        }
    }
}
