package io.sparge4j.models.sampling;

import io.sparge4j.engine.tensor.Tensor;
import java.util.SplittableRandom;

/** Test velocity fields with known answers, evaluated in double and returned as f32 tensors. */
final class Fields {
    private Fields() {
    }

    /** A per-element field of the value and the noise level. */
    @FunctionalInterface
    interface ElementField {
        double velocity(int element, double x, double sigma);
    }

    /** Wraps a field as a model; the sigma of step i comes from the schedule (the timestep is truncated). */
    static VelocityModel model(FlowSchedule schedule, ElementField field) {
        return (x, timestep, step) -> {
            float[] xs = x.toFloatArray();
            float[] v = new float[xs.length];
            double sigma = schedule.sigma(step);
            for (int j = 0; j < xs.length; j++) {
                v[j] = (float) field.velocity(j, xs[j], sigma);
            }
            return Tensor.of(v, x.shape());
        };
    }

    /** Smooth and nonlinear in both x and sigma. */
    static double nonlinear(int element, double x, double s) {
        return Math.sin(x) * (1 + s) - 0.5 * x * s + 0.3 * Math.cos(7 * s);
    }

    /** Seeded uniform doubles in [lo, hi). */
    static double[] uniform(long seed, int n, double lo, double hi) {
        SplittableRandom rng = new SplittableRandom(seed);
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            out[i] = rng.nextDouble(lo, hi);
        }
        return out;
    }

    /** @return the largest absolute difference between a tensor and expected values */
    static double maxAbsDiff(Tensor actual, double[] expected) {
        float[] a = actual.toFloatArray();
        if (a.length != expected.length) {
            throw new AssertionError("length " + a.length + " != " + expected.length);
        }
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - expected[i]));
        }
        return worst;
    }

    /** @return the tensor's values as doubles */
    static double[] values(Tensor t) {
        return t.toDoubleArray();
    }
}
