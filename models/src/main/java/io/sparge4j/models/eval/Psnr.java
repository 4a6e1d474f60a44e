package io.sparge4j.models.eval;

import io.sparge4j.engine.tensor.Tensor;

import java.util.Arrays;

/**
 * Peak signal-to-noise ratio between two clips of values in [-1, 1]: {@code 10 log10(PEAK^2 / MSE)} with the peak
 * the full range, {@value #PEAK} (so it equals the PSNR of the same clips mapped to [0, 1] with peak 1). Computed in
 * double.
 */
public final class Psnr {
    /** The range of clip values, [-1, 1]. */
    public static final double PEAK = 2.0;

    private Psnr() {
    }

    /**
     * @param a a clip (any shape)
     * @param b a clip of the same shape
     * @return the mean squared difference, in double
     * @throws IllegalArgumentException on null, different shapes, no elements or a non-finite value
     */
    public static double meanSquaredError(Tensor a, Tensor b) {
        if (a == null || b == null) {
            throw new IllegalArgumentException("clips must not be null, got a = " + a + ", b = " + b);
        }
        if (!a.sameShape(b)) {
            throw new IllegalArgumentException("clips have shapes " + Arrays.toString(a.shape()) + " and "
                    + Arrays.toString(b.shape()) + ", expected the same shape");
        }
        if (a.numel() == 0) {
            throw new IllegalArgumentException("clips have shape " + Arrays.toString(a.shape())
                    + " with no elements, expected at least one");
        }
        float[] x = a.toFloatArray();
        float[] y = b.toFloatArray();
        double sum = 0;
        for (int i = 0; i < x.length; i++) {
            if (!Float.isFinite(x[i]) || !Float.isFinite(y[i])) {
                throw new IllegalArgumentException("clips have " + x[i] + " and " + y[i] + " at element " + i
                        + ", expected finite values");
            }
            double d = (double) x[i] - y[i];
            sum += d * d;
        }
        return sum / x.length;
    }

    /**
     * @param a a clip in [-1, 1]
     * @param b a clip of the same shape
     * @return the PSNR in decibels; positive infinity for identical clips
     * @throws IllegalArgumentException as {@link #meanSquaredError}
     */
    public static double of(Tensor a, Tensor b) {
        double mse = meanSquaredError(a, b);
        return mse == 0 ? Double.POSITIVE_INFINITY : 10 * Math.log10(PEAK * PEAK / mse);
    }
}
