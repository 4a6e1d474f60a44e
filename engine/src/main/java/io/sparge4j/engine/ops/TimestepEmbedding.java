package io.sparge4j.engine.ops;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

/**
 * Wan2.1's sinusoidal timestep embedding: for {@code half = dim/2} and frequencies
 * {@code w_i = 10000^(-i/half)}, row {@code b} is {@code [cos(t_b w_0) .. cos(t_b w_{half-1}),
 * sin(t_b w_0) .. sin(t_b w_{half-1})]}, cos half first. As in the reference, the products and the
 * trigonometry are computed in float64 and the result is rounded to f32 once.
 *
 * <p>The embedding has no trainable inputs and timesteps are data, so training never needs a
 * gradient with respect to {@code t}; {@link #sinusoidalBackward} is provided anyway, since it is exact
 * and cheap, for sensitivity analysis and tests.
 */
public final class TimestepEmbedding {
    /** Base of the frequency ladder, as in Wan2.1. */
    public static final double MAX_PERIOD = 10000.0;

    private TimestepEmbedding() {
    }

    /**
     * Embeds timesteps.
     *
     * @param t timesteps (B), on Wan's 0..1000 scale; any floating-point or integer dtype
     * @param dim embedding width, even and positive (Wan2.1 uses 256)
     * @return the embedding (B, dim), f32
     */
    public static Tensor sinusoidal(Tensor t, int dim) {
        String op = "sinusoidal";
        checkArgs(op, t, dim);
        int batch = t.dim(0);
        int half = dim / 2;
        double[] freq = frequencies(half);
        Tensor out = Tensor.allocate(DType.F32, batch, dim);
        float[] row = new float[dim];
        for (int b = 0; b < batch; b++) {
            double tb = timestep(t, b);
            for (int i = 0; i < half; i++) {
                double angle = tb * freq[i];
                row[i] = (float) Math.cos(angle);
                row[half + i] = (float) Math.sin(angle);
            }
            out.select(b).copyFrom(row);
        }
        return out;
    }

    /**
     * Gradient with respect to the timesteps:
     * {@code dt_b = sum_i w_i (cos(t_b w_i) dEmb[b, half+i] - sin(t_b w_i) dEmb[b, i])}.
     *
     * @param t the timesteps given to {@link #sinusoidal}
     * @param dim the width given to {@link #sinusoidal}
     * @param dEmb gradient with respect to the embedding (B, dim), f32
     * @return the gradient with respect to {@code t}, (B), f32
     */
    public static Tensor sinusoidalBackward(Tensor t, int dim, Tensor dEmb) {
        String op = "sinusoidalBackward";
        checkArgs(op, t, dim);
        Check.f32(op, "dEmb", dEmb);
        Check.shape(op, "dEmb", dEmb, t.dim(0), dim);
        int batch = t.dim(0);
        int half = dim / 2;
        double[] freq = frequencies(half);
        Tensor dt = Tensor.allocate(DType.F32, batch);
        for (int b = 0; b < batch; b++) {
            double tb = timestep(t, b);
            long row = (long) b * dim;
            double sum = 0;
            for (int i = 0; i < half; i++) {
                double angle = tb * freq[i];
                sum += freq[i] * (Math.cos(angle) * dEmb.getFloat(row + half + i)
                        - Math.sin(angle) * dEmb.getFloat(row + i));
            }
            dt.setFloat(b, (float) sum);
        }
        return dt;
    }

    /** @return w_i = 10000^(-i/half) for i in [0, half), in float64 */
    private static double[] frequencies(int half) {
        double[] freq = new double[half];
        for (int i = 0; i < half; i++) {
            freq[i] = Math.pow(MAX_PERIOD, -(double) i / half);
        }
        return freq;
    }

    private static double timestep(Tensor t, int b) {
        return t.dtype().isFloatingPoint() ? t.getFloat(b) : (double) t.getLong(b);
    }

    private static void checkArgs(String op, Tensor t, int dim) {
        Check.rank(op, "t", t, 1);
        DType dt = t.dtype();
        Check.that(dt.isFloatingPoint() || dt == DType.I32 || dt == DType.I64, op, "t dtype", dt,
                "f32, bf16, f16, i32 or i64");
        Check.that(dim > 0 && dim % 2 == 0, op, "dim", dim, "an even positive number");
    }
}
