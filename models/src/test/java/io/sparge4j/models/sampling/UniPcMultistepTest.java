package io.sparge4j.models.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;

class UniPcMultistepTest {
    private static final int[] SHAPE = {3, 2, 4, 5};
    private static final int N = 120;

    /** Per-element parameters make the field differ between elements. */
    private static final double[] A = Fields.uniform(31, N, 0.5, 1.5);
    private static final double[] B = Fields.uniform(32, N, -1, 1);

    private static double field(int j, double x, double s) {
        return A[j] * Math.sin(x) * (1 + s) - 0.5 * x * s + B[j] * Math.cos(7 * s);
    }

    @Test
    void matchesTheFloat64ReDerivationOfTheReferenceScheduler() {
        for (int steps : new int[] {1, 2, 3, 4, 5, 10, 25, 50}) {
            for (double shift : new double[] {1, 3, 5}) {
                FlowSchedule schedule = FlowSchedule.wan(steps, shift);
                double[] sigmas = schedule.sigmas();
                try (Tensor noise = Noise.gaussian(100 + steps, SHAPE);
                     Tensor out = new UniPcMultistep().sample(
                             Fields.model(schedule, UniPcMultistepTest::field), noise, schedule,
                             StepListener.NONE)) {
                    double[] expected = ReferenceUniPc.sample(Fields.values(noise), sigmas, (x, step) -> {
                        double[] v = new double[x.length];
                        for (int j = 0; j < x.length; j++) {
                            v[j] = field(j, x[j], sigmas[step]);
                        }
                        return v;
                    }, 2);
                    // The sampler keeps latents and data predictions in f32 (as the reference does); the
                    // re-derivation keeps double. Values are O(1).
                    assertEquals(0, Fields.maxAbsDiff(out, expected), 5e-6,
                            "steps=" + steps + " shift=" + shift);
                }
            }
        }
    }

    @Test
    void matchesValuesFromTheReferenceCodeRunInNumpy() {
        // Produced by a literal numpy (float32) transcription of FlowUniPCMultistepScheduler.step with the grid of
        // set_timesteps, for x_j = 1.5 sin(1.3 j + 0.2) and v = sin(x)(1 + s) - 0.5 x s + 0.3 cos(7 s).
        float[] x = new float[6];
        for (int j = 0; j < 6; j++) {
            x[j] = (float) (Math.sin(1.3 * j + 0.2) * 1.5);
        }
        Object[][] cases = {
            {6, 5.0, new double[] {0.18719922006130219, 0.5394765138626099, 0.22804895043373108,
                -0.18639886379241943, -0.15830755233764648, 0.250252902507782}},
            {4, 1.0, new double[] {0.17094320058822632, 0.6042072772979736, 0.22939547896385193,
                -0.3061380386352539, -0.2769145369529724, 0.26050078868865967}},
            {20, 5.0, new double[] {0.11195750534534454, 0.5638033747673035, 0.17180316150188446,
                -0.3789011538028717, -0.3487147092819214, 0.20375901460647583}},
            {2, 3.0, new double[] {-0.11818554997444153, 0.14518141746520996, -0.11866334080696106,
                -0.27351558208465576, -0.24128872156143188, -0.11646035313606262}},
            {1, 5.0, new double[] {-0.36650416254997253, 0.02381753921508789, -0.43569415807724,
                -0.18460071086883545, -0.13251566886901855, -0.456531286239624}},
        };
        for (Object[] c : cases) {
            int steps = (Integer) c[0];
            double shift = (Double) c[1];
            FlowSchedule schedule = FlowSchedule.wan(steps, shift);
            try (Tensor noise = Tensor.of(x, 6);
                 Tensor out = new UniPcMultistep().sample(
                         Fields.model(schedule, Fields::nonlinear), noise, schedule, StepListener.NONE)) {
                // The reference computes lambda, h and the coefficients in float32; we use double.
                assertEquals(0, Fields.maxAbsDiff(out, (double[]) c[2]), 1e-5, "steps=" + steps + " shift=" + shift);
            }
        }
    }

    @Test
    void exactVelocityOfOneDataPointLandsOnIt() {
        double[] x0 = Fields.uniform(41, N, -2, 2);
        for (int steps : new int[] {1, 2, 3, 7, 50}) {
            for (double shift : new double[] {1, 5}) {
                FlowSchedule schedule = FlowSchedule.wan(steps, shift);
                try (Tensor noise = Noise.gaussian(steps * 31L, SHAPE);
                     Tensor out = new UniPcMultistep().sample(
                             Fields.model(schedule, (j, x, s) -> (x - x0[j]) / s), noise, schedule,
                             StepListener.NONE)) {
                    assertEquals(0, Fields.maxAbsDiff(out, x0), 1e-6, "steps=" + steps + " shift=" + shift);
                }
            }
        }
    }

    @Test
    void oneStepIsTheEulerStep() {
        FlowSchedule schedule = FlowSchedule.wan(1, 5.0);
        VelocityModel model = Fields.model(schedule, UniPcMultistepTest::field);
        try (Tensor noise = Noise.gaussian(5, SHAPE);
             Tensor uni = new UniPcMultistep().sample(model, noise, schedule, StepListener.NONE);
             Tensor euler = new FlowMatchEuler().sample(model, noise, schedule, StepListener.NONE)) {
            assertEquals(0, Fields.maxAbsDiff(uni, Fields.values(euler)), 1e-6);
        }
    }

    /**
     * Gaussian data x0 ~ N(mu, c^2) per element, noise N(0, 1): the ideal velocity E[n - x0 | x_s] is
     * -mu + (s - (1 - s) c^2) / var(s) * (x - (1 - s) mu), var(s) = (1 - s)^2 c^2 + s^2, nonlinear in s; the ODE keeps
     * z = (x - (1 - s) mu) / sqrt(var(s)) constant, so the exact end point is x(0) = mu + c z.
     */
    @Test
    void moreAccurateThanEulerAndSecondOrderForGaussianDataWithAnalyticSolution() {
        double[] mu = Fields.uniform(51, N, -1, 1);
        double[] c = Fields.uniform(52, N, 0.3, 1.5);
        Fields.ElementField field = (j, x, s) -> {
            double var = (1 - s) * (1 - s) * c[j] * c[j] + s * s;
            return -mu[j] + (s - (1 - s) * c[j] * c[j]) / var * (x - (1 - s) * mu[j]);
        };
        compareWithEuler("gaussian", field, (noise, s0) -> {
            double[] exact = new double[N];
            for (int j = 0; j < N; j++) {
                double var0 = (1 - s0) * (1 - s0) * c[j] * c[j] + s0 * s0;
                exact[j] = mu[j] + c[j] * (noise[j] - (1 - s0) * mu[j]) / Math.sqrt(var0);
            }
            return exact;
        });
    }

    @Test
    void moreAccurateThanEulerAndSecondOrderOnANonlinearFieldAgainstRk4() {
        compareWithEuler("nonlinear", UniPcMultistepTest::field,
                (noise, s0) -> rk4(noise, s0, 20_000));
    }

    /** The true end point for a noise and starting sigma. */
    private interface Exact {
        double[] solve(double[] noise, double sigma0);
    }

    /**
     * At 50 (Wan's default), 100 and 200 steps, shift 1 and 5, UniPC's error is at most half of Euler's; at shift 1,
     * going from 100 to 200 steps cuts UniPC's error by more than 3.5x (second order) and Euler's by about 2x.
     * (At 30 steps or fewer with shift 5 the last, first-order step from a large sigma to 0 dominates, as
     * lower_order_final makes it in the reference too, and UniPC is not reliably better there.)
     */
    private static void compareWithEuler(String name, Fields.ElementField field, Exact exact) {
        for (double shift : new double[] {1, 5}) {
            double[] uniErrors = new double[3];
            double[] eulerErrors = new double[3];
            int[] stepCounts = {50, 100, 200};
            for (int k = 0; k < stepCounts.length; k++) {
                int steps = stepCounts[k];
                FlowSchedule schedule = FlowSchedule.wan(steps, shift);
                VelocityModel model = Fields.model(schedule, field);
                try (Tensor noise = Noise.gaussian(61, SHAPE);
                     Tensor euler = new FlowMatchEuler().sample(model, noise, schedule, StepListener.NONE);
                     Tensor uni = new UniPcMultistep().sample(model, noise, schedule, StepListener.NONE)) {
                    double[] truth = exact.solve(Fields.values(noise), schedule.sigma(0));
                    eulerErrors[k] = Fields.maxAbsDiff(euler, truth);
                    uniErrors[k] = Fields.maxAbsDiff(uni, truth);
                }
                assertTrue(uniErrors[k] < eulerErrors[k] / 2, name + " shift=" + shift + " steps=" + steps
                        + ": UniPC error " + uniErrors[k] + " should be at most half of Euler's " + eulerErrors[k]);
            }
            if (shift == 1) {
                double uniRatio = uniErrors[1] / uniErrors[2];
                double eulerRatio = eulerErrors[1] / eulerErrors[2];
                assertTrue(uniRatio > 3.5, name + ": UniPC error 100 -> 200 steps fell only " + uniRatio + "x");
                assertEquals(2.0, eulerRatio, 0.2, name + ": Euler error 100 -> 200 steps ratio");
            }
        }
    }

    /** Classical RK4 in double from sigma s0 down to 0 (error ~1e-15 at this step count). */
    private static double[] rk4(double[] x, double s0, int substeps) {
        double[] y = x.clone();
        double h = -s0 / substeps;
        for (int k = 0; k < substeps; k++) {
            double s = s0 + k * h;
            for (int j = 0; j < y.length; j++) {
                double k1 = field(j, y[j], s);
                double k2 = field(j, y[j] + h / 2 * k1, s + h / 2);
                double k3 = field(j, y[j] + h / 2 * k2, s + h / 2);
                double k4 = field(j, y[j] + h * k3, s + h);
                y[j] += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4);
            }
        }
        return y;
    }

    @Test
    void velocityOfAnotherShapeIsAnErrorAtTheStepItHappens() {
        FlowSchedule schedule = FlowSchedule.wan(5, 5.0);
        VelocityModel good = Fields.model(schedule, Fields::nonlinear);
        VelocityModel breaksAtTwo = (x, t, step) -> step == 2 ? Tensor.zeros(3, 2, 20) : good.velocity(x, t, step);
        try (Tensor noise = Noise.gaussian(1, SHAPE)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new UniPcMultistep().sample(breaksAtTwo, noise, schedule, StepListener.NONE));
            assertTrue(e.getMessage().contains("[3, 2, 20]") && e.getMessage().contains("[3, 2, 4, 5]")
                    && e.getMessage().contains("step 2") && e.getMessage().contains("UniPcMultistep"),
                    e.getMessage());
        }
    }
}
