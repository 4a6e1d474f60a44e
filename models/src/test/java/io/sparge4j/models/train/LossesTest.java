package io.sparge4j.models.train;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.sampling.FlowSchedule;
import io.sparge4j.models.sampling.Noise;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Losses against float64 values computed here, and their gradients against central finite differences of the loss
 * itself (the losses are quadratic, so a central difference is exact up to rounding: tolerance 1e-5 relative to the
 * largest gradient entry). Noising against the rectified-flow formula in double (tolerance: one f32 ulp).
 */
class LossesTest {
    private static final int[] SHAPE = {3, 4, 5};

    @Test
    void meanSquaredErrorValueAndGradient() {
        Tensor p = Noise.gaussian(1, SHAPE);
        Tensor t = Noise.gaussian(2, SHAPE);
        double want = 0;
        double[] pd = p.toDoubleArray();
        double[] td = t.toDoubleArray();
        for (int i = 0; i < pd.length; i++) {
            want += (pd[i] - td[i]) * (pd[i] - td[i]);
        }
        want /= pd.length;
        LossResult r = Losses.meanSquaredError(p, t);
        assertEquals(want, r.loss(), want * 1e-14);
        checkGradient(p, r.gradient(), x -> Losses.meanSquaredError(x, t).loss());
    }

    @Test
    void velocityDistillationGradientIsTheStudents() {
        Tensor student = Noise.gaussian(3, SHAPE);
        Tensor teacher = Noise.gaussian(4, SHAPE);
        LossResult r = Losses.velocityDistillation(student, teacher);
        assertEquals(Losses.meanSquaredError(student, teacher).loss(), r.loss(), 0.0);
        checkGradient(student, r.gradient(), x -> Losses.velocityDistillation(x, teacher).loss());
    }

    @Test
    void flowMatchingTargetsNoiseMinusCleanSample() {
        Tensor v = Noise.gaussian(5, SHAPE);
        Tensor x0 = Noise.gaussian(6, SHAPE);
        Tensor noise = Noise.gaussian(7, SHAPE);
        double[] vd = v.toDoubleArray();
        double[] xd = x0.toDoubleArray();
        double[] nd = noise.toDoubleArray();
        double want = 0;
        for (int i = 0; i < vd.length; i++) {
            double d = vd[i] - (nd[i] - xd[i]);
            want += d * d;
        }
        want /= vd.length;
        LossResult r = Losses.flowMatching(v, x0, noise);
        assertEquals(want, r.loss(), want * 1e-14);
        checkGradient(v, r.gradient(), x -> Losses.flowMatching(x, x0, noise).loss());
        assertTrue(r.loss() > 1, "independent velocities are far from the target: " + r.loss());
    }

    /** Central differences of {@code loss} at every element of {@code at}. */
    private static void checkGradient(Tensor at, Tensor grad, Function<Tensor, Double> loss) {
        float[] base = at.toFloatArray();
        float[] g = grad.toFloatArray();
        double scale = 0;
        for (float x : g) {
            scale = Math.max(scale, Math.abs(x));
        }
        for (int i = 0; i < base.length; i++) {
            float[] plus = base.clone();
            float[] minus = base.clone();
            plus[i] = base[i] + 1e-2f;
            minus[i] = base[i] - 1e-2f;
            double fd = (loss.apply(Tensor.of(plus, SHAPE)) - loss.apply(Tensor.of(minus, SHAPE)))
                    / ((double) plus[i] - minus[i]);
            assertEquals(fd, g[i], scale * 1e-5, "gradient[" + i + "]");
        }
    }

    @Test
    void noisingIsRectifiedFlowWithTheSamplersTimestep() {
        Tensor x0 = Noise.gaussian(8, SHAPE);
        Tensor noise = Noise.gaussian(9, SHAPE);
        double s = 0.123456;
        NoisySample n = Losses.noisy(x0, noise, s);
        double sigma = (float) s;
        assertEquals(sigma, n.sigma(), 0.0);
        assertEquals(123.0, n.timestep(), 0.0);
        double[] xd = x0.toDoubleArray();
        double[] nd = noise.toDoubleArray();
        double[] got = n.xt().toDoubleArray();
        for (int i = 0; i < got.length; i++) {
            double want = (1 - sigma) * xd[i] + sigma * nd[i];
            assertEquals(want, got[i], Math.ulp((float) want), "x_t[" + i + "]");
        }
        FlowSchedule schedule = FlowSchedule.wan(20, 5.0);
        NoisySample atStep = Losses.noisyAtStep(x0, noise, schedule, 3);
        assertEquals(schedule.sigma(3), atStep.sigma(), 0.0);
        assertEquals(schedule.timestep(3), atStep.timestep(), 0.0);
        assertEquals(1 - schedule.sigma(3), (atStep.xt().getFloat(0) - schedule.sigma(3) * nd[0]) / xd[0], 1e-5);
        assertThrows(IllegalArgumentException.class, () -> Losses.noisy(x0, noise, 1.5));
    }

    @Test
    void noiseLevelsAreSeededAndShifted() {
        double mean1 = 0;
        double mean5 = 0;
        SplittableRandom a = new SplittableRandom(42);
        SplittableRandom b = new SplittableRandom(42);
        for (int i = 0; i < 20000; i++) {
            double u = Losses.drawNoiseLevel(a, 1.0);
            assertTrue(u >= 0 && u < 1, "level " + u);
            mean1 += u;
            mean5 += Losses.drawNoiseLevel(b, 5.0);
        }
        mean1 /= 20000;
        mean5 /= 20000;
        assertEquals(0.5, mean1, 0.01, "shift 1 is uniform");
        // E[5u / (1 + 4u)] for uniform u = 5/4 - 5 ln(5) / 16 = 0.7470
        assertEquals(1.25 - 5 * Math.log(5) / 16, mean5, 0.01, "shift 5 favours high noise");
        assertEquals(Losses.drawNoiseLevel(new SplittableRandom(7), 3), Losses.drawNoiseLevel(new SplittableRandom(7), 3),
                0.0);
        assertNotEquals(Losses.drawNoiseLevel(new SplittableRandom(7), 3),
                Losses.drawNoiseLevel(new SplittableRandom(8), 3));
    }

    @Test
    void mismatchedShapesAreNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Losses.velocityDistillation(Tensor.zeros(2, 3), Tensor.zeros(3, 2)));
        assertTrue(e.getMessage().contains("teacher has shape [3, 2], expected [2, 3]"), e.getMessage());
    }
}
