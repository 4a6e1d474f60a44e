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
import java.util.function.DoubleUnaryOperator;

import static io.sparge4j.engine.testing.Assertions2.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GELU (tanh form) and SiLU against float64 formulas written here. Tolerances: rtol 1e-5 (a few ulp in
 * the f32 tanh/exp, and SVML's vector versions) with atol 1e-6 where {@code 1 + tanh} cancels for
 * negative inputs; gradients against float64 central differences: rtol 1e-5, atol 1e-5.
 */
class ActivationsTest {
    private static final int[][] SHAPES = {{1}, {15}, {16}, {17}, {3, 33}, {2, 5, 100}, {40000}};

    static double gelu(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    static double silu(double x) {
        return x / (1 + Math.exp(-x));
    }

    private static double[] map(double[] x, DoubleUnaryOperator f) {
        return Arrays.stream(x).map(f).toArray();
    }

    /** Normal samples with spread 3, plus a few large magnitudes, so both tails are exercised. */
    private static Tensor inputs(SplittableRandom rng, int... shape) {
        Tensor t = Tensor.randn(rng, DType.F32, shape);
        Elementwise.scaleInPlace(t, 3f);
        float[] extremes = {-60f, 45f, -12f, 9f};
        for (int i = 0; i < Math.min(extremes.length, t.numel() / 5); i++) {
            t.setFloat(i * 5L, extremes[i]);
        }
        return t;
    }

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void valuesMatchFloat64(FloatKernels k) {
        SplittableRandom rng = new SplittableRandom(41);
        for (int[] shape : SHAPES) {
            Tensor x = inputs(rng, shape);
            double[] xd = x.toDoubleArray();
            String what = k.name() + " " + Arrays.toString(shape);
            Tensor g = Activations.forward("gelu", Activations.Kind.GELU, x, k);
            assertArrayEquals(shape, g.shape(), what);
            assertClose(map(xd, ActivationsTest::gelu), g.toFloatArray(), 1e-5, 1e-6, "gelu " + what);
            assertClose(map(xd, ActivationsTest::silu), Activations.forward("silu", Activations.Kind.SILU, x, k).toFloatArray(),
                    1e-5, 1e-6, "silu " + what);
        }
    }

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void backwardMatchesFiniteDifferences(FloatKernels k) {
        SplittableRandom rng = new SplittableRandom(42);
        for (int[] shape : new int[][]{{1}, {17}, {3, 11}}) {
            Tensor x = inputs(rng, shape);
            Tensor dy = Tensor.randn(rng, DType.F32, shape);
            double[] xd = x.toDoubleArray();
            double[] dyd = dy.toDoubleArray();
            String what = k.name() + " " + Arrays.toString(shape);
            assertClose(GradCheck.gradient(v -> GradCheck.dot(map(v, ActivationsTest::gelu), dyd), xd.clone()),
                    Activations.backward("geluBackward", Activations.Kind.GELU, dy, x, k).toFloatArray(), 1e-5, 1e-5,
                    "geluBackward " + what);
            assertClose(GradCheck.gradient(v -> GradCheck.dot(map(v, ActivationsTest::silu), dyd), xd.clone()),
                    Activations.backward("siluBackward", Activations.Kind.SILU, dy, x, k).toFloatArray(), 1e-5, 1e-5,
                    "siluBackward " + what);
        }
    }

    @Test
    void publicEntryPoints() {
        SplittableRandom rng = new SplittableRandom(43);
        Tensor x = inputs(rng, 4, 37);
        Tensor dy = Tensor.randn(rng, DType.F32, 4, 37);
        double[] xd = x.toDoubleArray();
        double[] dyd = dy.toDoubleArray();
        assertClose(map(xd, ActivationsTest::gelu), Activations.gelu(x).toFloatArray(), 1e-5, 1e-6, "gelu");
        assertClose(map(xd, ActivationsTest::silu), Activations.silu(x).toFloatArray(), 1e-5, 1e-6, "silu");
        assertClose(GradCheck.gradient(v -> GradCheck.dot(map(v, ActivationsTest::gelu), dyd), xd.clone()),
                Activations.geluBackward(dy, x).toFloatArray(), 1e-5, 1e-5, "geluBackward");
        assertClose(GradCheck.gradient(v -> GradCheck.dot(map(v, ActivationsTest::silu), dyd), xd.clone()),
                Activations.siluBackward(dy, x).toFloatArray(), 1e-5, 1e-5, "siluBackward");
    }

    private static void assertRejected(Runnable r, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "message '" + e.getMessage() + "' lacks '" + p + "'");
        }
    }

    @Test
    void rejectsBadArguments() {
        Tensor x = Tensor.randn(1, 3, 4);
        assertRejected(() -> Activations.gelu(x.to(DType.BF16)), "gelu: x has dtype");
        assertRejected(() -> Activations.silu(Tensor.ofInts(new int[]{1, 2}, 2)), "silu: x has dtype");
        assertRejected(() -> Activations.geluBackward(Tensor.randn(2, 4, 3), x), "geluBackward: dy has shape [4, 3]",
                "expected [3, 4]");
        assertRejected(() -> Activations.siluBackward(x, x.to(DType.F16)), "siluBackward: x has dtype");
        assertRejected(() -> Activations.silu(null), "silu: x is null");
    }
}
