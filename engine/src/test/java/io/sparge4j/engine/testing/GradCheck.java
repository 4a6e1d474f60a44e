package io.sparge4j.engine.testing;

import java.util.function.ToDoubleFunction;

/**
 * Central finite differences in float64, for checking analytic gradients against an independent
 * float64 reference of the forward pass.
 *
 * <p>Typical use: the reference computes {@code loss(x) = sum(f64forward(x) * dy)} for a random
 * upstream gradient {@code dy}; the op's f32 backward must then match {@link #gradient}.
 */
public final class GradCheck {
    /** Step for central differences in float64: the truncation error is O(h^2) ~ 1e-10. */
    public static final double DEFAULT_STEP = 1e-5;

    private GradCheck() {
    }

    /**
     * @param loss a scalar function of {@code x} computed in float64
     * @param x the point (left unchanged on return)
     * @return d loss / d x by central differences with step {@link #DEFAULT_STEP}
     */
    public static double[] gradient(ToDoubleFunction<double[]> loss, double[] x) {
        return gradient(loss, x, DEFAULT_STEP);
    }

    /**
     * @param loss a scalar function of {@code x} computed in float64
     * @param x the point (left unchanged on return)
     * @param h the step
     * @return d loss / d x by central differences
     */
    public static double[] gradient(ToDoubleFunction<double[]> loss, double[] x, double h) {
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double keep = x[i];
            x[i] = keep + h;
            double up = loss.applyAsDouble(x);
            x[i] = keep - h;
            double down = loss.applyAsDouble(x);
            x[i] = keep;
            g[i] = (up - down) / (2 * h);
        }
        return g;
    }

    /** @return sum_i a[i] * b[i] in float64 */
    public static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }
}
