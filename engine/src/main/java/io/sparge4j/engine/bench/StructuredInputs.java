package io.sparge4j.engine.bench;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.util.SplittableRandom;

/**
 * Random attention inputs with structure, so that the pooled attention map is far from flat, as in video tokens.
 *
 * <p>Per (batch, head), a smooth latent path {@code z_t} (t = 0..N-1) of rank {@value #RANK}: coordinate c is
 * {@code sin(2 pi f_c t / N + phi_c)} with f_c uniform in [0.5, 6] cycles per sequence and a random phase, and each
 * z_t is scaled to unit length. A random Gaussian d x {@value #RANK} matrix U lifts it into the head:
 * <pre>
 *   q_t = sqrt(g) d^(-1/4) U z_t + e_q,   k_t = sqrt(g) d^(-1/4) U z_t + e_k,   e ~ N(0, 1) per coordinate,
 * </pre>
 * so that the scaled score {@code q_t . k_u / sqrt(d)} is about {@code g (z_t . z_u)} plus unit noise: tokens close
 * in t (and tokens where the slow waves realign) attend to each other, nearby blocks correlate, and mean-pooling a
 * block keeps the signal while averaging the noise away. The sharpness g is drawn per head, uniform in [3, 6], so
 * heads differ. Values v and the output gradient dOut are independent N(0, 1). Everything is seeded.
 */
public final class StructuredInputs {
    /** Rank of the shared smooth component of q and k. */
    static final int RANK = 8;

    private StructuredInputs() {
    }

    /**
     * The benchmark's tensors, (B,H,N,d) in the requested dtype.
     *
     * @param q queries
     * @param k keys
     * @param v values
     * @param dOut gradient of a loss with respect to the output, for the backward
     */
    public record Inputs(Tensor q, Tensor k, Tensor v, Tensor dOut) implements AutoCloseable {
        @Override
        public void close() {
            q.close();
            k.close();
            v.close();
            dOut.close();
        }
    }

    /**
     * @param shape B, H, N, d
     * @param dtype f32, bf16 or f16 (values are rounded to it)
     * @param seed generator seed
     * @return q, k, v and dOut
     */
    public static Inputs generate(BenchShape shape, DType dtype, long seed) {
        if (dtype == null || !dtype.isFloatingPoint()) {
            throw new IllegalArgumentException("dtype: got " + dtype + ", expected f32, bf16 or f16");
        }
        int n = shape.tokens();
        int d = shape.headDim();
        long size = (long) shape.batch() * shape.heads() * n * d;
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("shape: " + shape + " has " + size + " elements per tensor, expected at most "
                    + (Integer.MAX_VALUE - 8) + " for the benchmark's generator");
        }
        float[] q = new float[(int) size];
        float[] k = new float[(int) size];
        SplittableRandom rng = new SplittableRandom(seed);
        for (int bh = 0; bh < shape.batch() * shape.heads(); bh++) {
            fillHead(rng.split(), n, d, q, k, (long) bh * n * d);
        }
        int[] dims = {shape.batch(), shape.heads(), n, d};
        float[] v = gaussian(rng.split(), (int) size);
        float[] dOut = gaussian(rng.split(), (int) size);
        return new Inputs(Tensor.of(dtype, q, dims), Tensor.of(dtype, k, dims), Tensor.of(dtype, v, dims),
                Tensor.of(dtype, dOut, dims));
    }

    private static void fillHead(SplittableRandom rng, int n, int d, float[] q, float[] k, long base) {
        double[] freq = new double[RANK];
        double[] phase = new double[RANK];
        for (int c = 0; c < RANK; c++) {
            freq[c] = 0.5 + 5.5 * rng.nextDouble();
            phase[c] = 2 * Math.PI * rng.nextDouble();
        }
        double[][] lift = new double[d][RANK];
        for (double[] row : lift) {
            for (int c = 0; c < RANK; c++) {
                row[c] = rng.nextGaussian();
            }
        }
        double sharpness = 3 + 3 * rng.nextDouble();
        double amp = Math.sqrt(sharpness) / Math.pow(d, 0.25);
        double[] z = new double[RANK];
        for (int t = 0; t < n; t++) {
            double norm = 0;
            for (int c = 0; c < RANK; c++) {
                z[c] = Math.sin(2 * Math.PI * freq[c] * t / n + phase[c]);
                norm += z[c] * z[c];
            }
            double inv = norm > 0 ? amp / Math.sqrt(norm) : 0;
            int row = (int) (base + (long) t * d);
            for (int e = 0; e < d; e++) {
                double s = 0;
                for (int c = 0; c < RANK; c++) {
                    s += lift[e][c] * z[c];
                }
                s *= inv;
                q[row + e] = (float) (s + rng.nextGaussian());
                k[row + e] = (float) (s + rng.nextGaussian());
            }
        }
    }

    private static float[] gaussian(SplittableRandom rng, int size) {
        float[] out = new float[size];
        for (int i = 0; i < size; i++) {
            out[i] = (float) rng.nextGaussian();
        }
        return out;
    }
}
