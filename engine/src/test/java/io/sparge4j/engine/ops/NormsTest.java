package io.sparge4j.engine.ops;

import io.sparge4j.engine.cpu.vec.FloatKernels;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.SplittableRandom;

import static io.sparge4j.engine.testing.Assertions2.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LayerNorm and RMSNorm against a float64 reference written here. Tolerances: normalised outputs are
 * O(1), so rtol 1e-5 with atol 1e-5 (a few f32 roundings through mean, variance and the scaling);
 * gradients against float64 central differences: rtol 1e-4, atol 2e-5 (the LayerNorm input gradient
 * subtracts two row means from g, which cancels a little).
 */
class NormsTest {
    private static final float EPS = 1e-6f;
    private static final int[][] SHAPES = {{3, 17}, {2, 3, 64}, {5, 1}, {300, 70}, {2, 1000}, {33}};

    /** Float64 reference of both norms over the last dimension; null weight or bias means none. */
    static double[] refNorm(double[] x, int d, double[] w, double[] b, double eps, boolean layer) {
        double[] out = new double[x.length];
        for (int r = 0; r < x.length / d; r++) {
            double mean = 0;
            if (layer) {
                for (int i = 0; i < d; i++) {
                    mean += x[r * d + i];
                }
                mean /= d;
            }
            double sq = 0;
            for (int i = 0; i < d; i++) {
                double c = x[r * d + i] - mean;
                sq += c * c;
            }
            double inv = 1 / Math.sqrt(sq / d + eps);
            for (int i = 0; i < d; i++) {
                out[r * d + i] = (x[r * d + i] - mean) * inv * (w == null ? 1 : w[i]) + (b == null ? 0 : b[i]);
            }
        }
        return out;
    }

    private static Tensor randn(SplittableRandom rng, int... shape) {
        return Tensor.randn(rng, DType.F32, shape);
    }

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void layerNormAndRmsNormMatchFloat64(FloatKernels k) {
        SplittableRandom rng = new SplittableRandom(31);
        for (int[] shape : SHAPES) {
            int d = shape[shape.length - 1];
            Tensor x = randn(rng, shape);
            Tensor w = randn(rng, d);
            Tensor b = randn(rng, d);
            double[] xd = x.toDoubleArray();
            double[] wd = w.toDoubleArray();
            double[] bd = b.toDoubleArray();
            for (int variant = 0; variant < 4; variant++) {
                Tensor wt = (variant & 1) != 0 ? w : null;
                Tensor bt = (variant & 2) != 0 ? b : null;
                String what = k.name() + " " + Arrays.toString(shape) + " weight=" + (wt != null) + " bias=" + (bt != null);
                Tensor out = Norms.forward("layerNorm", true, x, wt, bt, EPS, k);
                assertArrayEquals(shape, out.shape(), what);
                assertClose(refNorm(xd, d, wt == null ? null : wd, bt == null ? null : bd, EPS, true), out.toFloatArray(),
                        1e-5, 1e-5, "layerNorm " + what);
                if (bt == null) {
                    assertClose(refNorm(xd, d, wt == null ? null : wd, null, EPS, false),
                            Norms.forward("rmsNorm", false, x, wt, null, EPS, k).toFloatArray(), 1e-5, 1e-5, "rmsNorm " + what);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void layerNormIsAccurateWhenTheMeanDwarfsTheSpread(FloatKernels k) {
        // x = 1000 + N(0, 1): E[x^2] - mean^2 would lose about 0.06 of the variance to f32 cancellation
        // (errors of a few percent); the two-pass variance is limited by the rounding of x - mean,
        // ~ulp(1000) = 6e-5, hence atol 2e-4.
        SplittableRandom rng = new SplittableRandom(32);
        int d = 100;
        Tensor x = Tensor.allocate(DType.F32, 4, d);
        for (int i = 0; i < 4 * d; i++) {
            x.setFloat(i, (float) (1000 + rng.nextGaussian()));
        }
        assertClose(refNorm(x.toDoubleArray(), d, null, null, EPS, true),
                Norms.forward("layerNorm", true, x, null, null, EPS, k).toFloatArray(), 1e-5, 2e-4, k.name() + " offset layerNorm");
    }

    private static final int[][] GRAD_SHAPES = {{3, 7}, {2, 2, 5}, {4, 1}, {2, 19}};

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void backwardMatchesFiniteDifferences(FloatKernels k) {
        SplittableRandom rng = new SplittableRandom(33);
        double eps = 1e-5;
        for (int[] shape : GRAD_SHAPES) {
            int d = shape[shape.length - 1];
            Tensor x = randn(rng, shape);
            Tensor w = randn(rng, d);
            Tensor b = randn(rng, d);
            Tensor dy = randn(rng, shape);
            double[] xd = x.toDoubleArray();
            double[] wd = w.toDoubleArray();
            double[] bd = b.toDoubleArray();
            double[] dyd = dy.toDoubleArray();
            for (int variant = 0; variant < 6; variant++) {
                boolean layer = variant < 4;
                boolean hasW = (variant & 1) != 0;
                boolean hasB = layer && (variant & 2) != 0;
                Tensor wt = hasW ? w : null;
                Tensor bt = hasB ? b : null;
                double[] wr = hasW ? wd : null;
                double[] br = hasB ? bd : null;
                String what = k.name() + (layer ? " layerNorm" : " rmsNorm") + Arrays.toString(shape) + " weight=" + hasW
                        + " bias=" + hasB;
                Norms.NormGrads g = Norms.backward(layer ? "layerNormBackward" : "rmsNormBackward", layer, dy, x, wt, bt,
                        (float) eps, k);
                assertClose(GradCheck.gradient(v -> GradCheck.dot(refNorm(v, d, wr, br, eps, layer), dyd), xd.clone()),
                        g.dx().toFloatArray(), 1e-4, 2e-5, what + " dx");
                if (hasW) {
                    assertClose(GradCheck.gradient(v -> GradCheck.dot(refNorm(xd, d, v, br, eps, layer), dyd), wd.clone()),
                            g.dWeight().toFloatArray(), 1e-4, 2e-5, what + " dWeight");
                } else {
                    assertNull(g.dWeight(), what);
                }
                if (hasB) {
                    assertClose(GradCheck.gradient(v -> GradCheck.dot(refNorm(xd, d, wr, v, eps, layer), dyd), bd.clone()),
                            g.dBias().toFloatArray(), 1e-4, 2e-5, what + " dBias");
                } else {
                    assertNull(g.dBias(), what);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void weightGradientsSumOverManyRowsAndThreads(FloatKernels k) {
        // 96 rows: every worker accumulates its own partial dWeight; only (weight, bias) are checked here,
        // as finite differences over all of x would be slow
        SplittableRandom rng = new SplittableRandom(34);
        int d = 37;
        Tensor x = randn(rng, 96, d);
        Tensor w = randn(rng, d);
        Tensor b = randn(rng, d);
        Tensor dy = randn(rng, 96, d);
        double[] xd = x.toDoubleArray();
        double[] wd = w.toDoubleArray();
        double[] bd = b.toDoubleArray();
        double[] dyd = dy.toDoubleArray();
        Norms.NormGrads g = Norms.backward("layerNormBackward", true, dy, x, w, b, EPS, k);
        // sums of 96 O(1) terms: atol 1e-4
        assertClose(GradCheck.gradient(v -> GradCheck.dot(refNorm(xd, d, v, bd, EPS, true), dyd), wd.clone()),
                g.dWeight().toFloatArray(), 1e-4, 1e-4, k.name() + " layerNorm dWeight");
        assertClose(GradCheck.gradient(v -> GradCheck.dot(refNorm(xd, d, wd, v, EPS, true), dyd), bd.clone()),
                g.dBias().toFloatArray(), 1e-4, 1e-4, k.name() + " layerNorm dBias");
        Norms.NormGrads r = Norms.backward("rmsNormBackward", false, dy, x, w, null, EPS, k);
        assertClose(GradCheck.gradient(v -> GradCheck.dot(refNorm(xd, d, v, null, EPS, false), dyd), wd.clone()),
                r.dWeight().toFloatArray(), 1e-4, 1e-4, k.name() + " rmsNorm dWeight");
    }

    @Test
    void publicEntryPoints() {
        SplittableRandom rng = new SplittableRandom(35);
        int d = 24;
        Tensor x = randn(rng, 2, 3, d);
        Tensor w = randn(rng, d);
        Tensor b = randn(rng, d);
        Tensor dy = randn(rng, 2, 3, d);
        double[] xd = x.toDoubleArray();
        double[] wd = w.toDoubleArray();
        double[] bd = b.toDoubleArray();
        double[] dyd = dy.toDoubleArray();
        assertClose(refNorm(xd, d, wd, bd, 1e-6, true), Norms.layerNorm(x, w, b, 1e-6f).toFloatArray(), 1e-5, 1e-5, "layerNorm");
        assertClose(refNorm(xd, d, null, null, 1e-6, true), Norms.layerNorm(x, null, null, 1e-6f).toFloatArray(), 1e-5, 1e-5,
                "layerNorm non-affine");
        assertClose(refNorm(xd, d, wd, null, 1e-6, false), Norms.rmsNorm(x, w, 1e-6f).toFloatArray(), 1e-5, 1e-5, "rmsNorm");
        Norms.NormGrads g = Norms.layerNormBackward(dy, x, w, b, 1e-6f);
        assertClose(GradCheck.gradient(v -> GradCheck.dot(refNorm(v, d, wd, bd, 1e-6, true), dyd), xd.clone()),
                g.dx().toFloatArray(), 1e-4, 2e-5, "layerNormBackward dx");
        assertNotNull(g.dWeight());
        assertNotNull(g.dBias());
        Norms.NormGrads r = Norms.rmsNormBackward(dy, x, w, 1e-6f);
        assertClose(GradCheck.gradient(v -> GradCheck.dot(refNorm(v, d, wd, null, 1e-6, false), dyd), xd.clone()),
                r.dx().toFloatArray(), 1e-4, 2e-5, "rmsNormBackward dx");
        assertNull(r.dBias());
    }

    private static void assertRejected(Runnable r, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "message '" + e.getMessage() + "' lacks '" + p + "'");
        }
    }

    @Test
    void rejectsBadArguments() {
        Tensor x = Tensor.randn(1, 4, 8);
        Tensor w = Tensor.randn(2, 8);
        assertRejected(() -> Norms.layerNorm(x, Tensor.randn(3, 7), null, 1e-6f), "layerNorm: weight has shape [7]", "expected [8]");
        assertRejected(() -> Norms.layerNorm(x, w, Tensor.randn(3, 4, 8), 1e-6f), "layerNorm: bias has shape [4, 8]");
        assertRejected(() -> Norms.layerNorm(x.to(DType.BF16), w, null, 1e-6f), "layerNorm: x has dtype");
        assertRejected(() -> Norms.rmsNorm(x, w.to(DType.F16), 1e-6f), "rmsNorm: weight has dtype");
        assertRejected(() -> Norms.rmsNorm(x, w, -1f), "rmsNorm: eps is -1.0", "expected a finite number >= 0");
        assertRejected(() -> Norms.rmsNorm(x, w, Float.NaN), "rmsNorm: eps is NaN");
        assertRejected(() -> Norms.layerNorm(Tensor.allocate(DType.F32), null, null, 1e-6f), "layerNorm: x has shape []",
                "expected rank >= 1");
        assertRejected(() -> Norms.layerNormBackward(Tensor.randn(4, 8, 4), x, w, null, 1e-6f),
                "layerNormBackward: dy has shape [8, 4]", "expected [4, 8]");
        assertRejected(() -> Norms.rmsNormBackward(x, x, Tensor.randn(5, 9), 1e-6f), "rmsNormBackward: weight has shape [9]");
        assertRejected(() -> Norms.rmsNorm(null, w, 1e-6f), "rmsNorm: x is null");
    }
}
