package io.sparge4j.models.sampling;

import io.sparge4j.engine.tensor.Tensor;
import java.util.Arrays;

/**
 * Seeded Gaussian noise that is the same on every run, JDK and platform.
 *
 * <p>The engine's {@code Tensor.randn(seed, shape)} is seeded too, but it draws through
 * {@code RandomGenerator.nextGaussian()}, whose algorithm the JDK does not specify (it changed in JDK 17). Here the
 * whole recipe is fixed: SplitMix64 (Steele, Lea and Flood 2014; the generator behind {@code SplittableRandom},
 * golden gamma {@code 0x9e3779b97f4a7c15}, Stafford's mix 13), two 53-bit uniforms per pair, and the Box-Muller
 * transform with {@link StrictMath}, rounded to f32. Values fill the tensor in row-major order.
 */
public final class Noise {
    private static final long GOLDEN_GAMMA = 0x9e3779b97f4a7c15L;
    private static final double TWO_POW_MINUS_53 = 0x1.0p-53;

    private Noise() {
    }

    /**
     * Standard normal noise.
     *
     * @param seed any long; the same seed gives the same tensor
     * @param shape dimensions, each at least 0
     * @return a new f32 tensor
     * @throws IllegalArgumentException if a dimension is negative or the tensor is too large for one array
     */
    public static Tensor gaussian(long seed, int... shape) {
        if (shape == null) {
            throw new IllegalArgumentException("Noise.gaussian: shape must not be null");
        }
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("Noise.gaussian: shape " + Arrays.toString(shape)
                        + " has a negative dimension, expected each dimension >= 0");
            }
        }
        long count = Tensor.numelOf(shape);
        if (count > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("Noise.gaussian: shape " + Arrays.toString(shape) + " has " + count
                    + " elements, at most " + (Integer.MAX_VALUE - 8) + " are supported");
        }
        float[] values = new float[(int) count];
        long state = seed;
        for (int i = 0; i < values.length; i += 2) {
            state += GOLDEN_GAMMA;
            double u1 = uniformOpenAtZero(mix64(state));
            state += GOLDEN_GAMMA;
            double u2 = (mix64(state) >>> 11) * TWO_POW_MINUS_53;
            double radius = StrictMath.sqrt(-2 * StrictMath.log(u1));
            double angle = 2 * Math.PI * u2;
            values[i] = (float) (radius * StrictMath.cos(angle));
            if (i + 1 < values.length) {
                values[i + 1] = (float) (radius * StrictMath.sin(angle));
            }
        }
        return Tensor.of(values, shape);
    }

    /** A uniform in (0, 1], so that its logarithm is finite. */
    private static double uniformOpenAtZero(long bits) {
        return ((bits >>> 11) + 1) * TWO_POW_MINUS_53;
    }

    /** SplitMix64's output function (Stafford's variant 13). */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
