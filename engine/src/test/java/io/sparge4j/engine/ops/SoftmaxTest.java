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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Softmax against a float64 reference written here. Tolerances: probabilities are in [0, 1]; rtol 1e-5
 * (exp and the row sum in f32) with atol 1e-7 for the tiny ones; gradients against float64 central
 * differences: rtol 1e-5, atol 1e-6.
 */
class SoftmaxTest {
    private static final int[][] SHAPES = {{3, 17}, {2, 5, 16}, {4, 1}, {2, 1000}, {1}, {200, 100}};

    /** Float64 softmax over rows of length n, max-subtracted so that it is exact for any magnitude. */
    static double[] refSoftmax(double[] x, int n) {
        double[] y = new double[x.length];
        for (int r = 0; r < x.length / n; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < n; i++) {
                max = Math.max(max, x[r * n + i]);
            }
            double sum = 0;
            for (int i = 0; i < n; i++) {
                y[r * n + i] = Math.exp(x[r * n + i] - max);
                sum += y[r * n + i];
            }
            for (int i = 0; i < n; i++) {
                y[r * n + i] /= sum;
            }
        }
        return y;
    }

    private static Tensor scaled(SplittableRandom rng, float scale, float offset, int... shape) {
        Tensor t = Tensor.randn(rng, DType.F32, shape);
        for (long i = 0; i < t.numel(); i++) {
            t.setFloat(i, t.getFloat(i) * scale + offset);
        }
        return t;
    }

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void valuesMatchFloat64(FloatKernels k) {
        SplittableRandom rng = new SplittableRandom(51);
        for (int[] shape : SHAPES) {
            int n = shape[shape.length - 1];
            Tensor x = scaled(rng, 2f, 0f, shape);
            Tensor y = Softmax.softmax(x, k);
            String what = k.name() + " " + Arrays.toString(shape);
            assertArrayEquals(shape, y.shape(), what);
            assertClose(refSoftmax(x.toDoubleArray(), n), y.toFloatArray(), 1e-5, 1e-7, what);
        }
    }

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void largeMagnitudesStayFinite(FloatKernels k) {
        // logits of +-1e4 and offsets of 5e4 overflow exp() without the max subtraction
        SplittableRandom rng = new SplittableRandom(52);
        for (float offset : new float[]{5e4f, -5e4f, 0f}) {
            Tensor x = scaled(rng, 1e4f, offset, 3, 37);
            // rounding x to f32 costs ~ulp(6e4) = 0.004 in the logit, which the reference shares; what is left
            // is exp's few ulp: rtol 1e-5
            assertClose(refSoftmax(x.toDoubleArray(), 37), Softmax.softmax(x, k).toFloatArray(), 1e-5, 1e-7,
                    k.name() + " offset " + offset);
        }
        Tensor mild = scaled(rng, 30f, 0f, 2, 20);
        assertClose(refSoftmax(mild.toDoubleArray(), 20), Softmax.softmax(mild, k).toFloatArray(), 1e-5, 1e-7, k.name() + " spread 30");
    }

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void backwardMatchesFiniteDifferences(FloatKernels k) {
        SplittableRandom rng = new SplittableRandom(53);
        for (int[] shape : new int[][]{{3, 7}, {2, 2, 17}, {4, 1}}) {
            int n = shape[shape.length - 1];
            Tensor x = scaled(rng, 1.5f, 0f, shape);
            Tensor dy = Tensor.randn(rng, DType.F32, shape);
            double[] xd = x.toDoubleArray();
            double[] dyd = dy.toDoubleArray();
            double[] yd = refSoftmax(xd, n);
            Tensor y = Tensor.allocate(DType.F32, shape);
            for (int i = 0; i < yd.length; i++) {
                y.setFloat(i, (float) yd[i]);
            }
            assertClose(GradCheck.gradient(v -> GradCheck.dot(refSoftmax(v, n), dyd), xd.clone()),
                    Softmax.softmaxBackward(dy, y, k).toFloatArray(), 1e-5, 1e-6, k.name() + " " + Arrays.toString(shape));
        }
    }

    @Test
    void publicEntryPoints() {
        SplittableRandom rng = new SplittableRandom(54);
        Tensor x = scaled(rng, 2f, 1f, 5, 23);
        Tensor dy = Tensor.randn(rng, DType.F32, 5, 23);
        double[] xd = x.toDoubleArray();
        double[] dyd = dy.toDoubleArray();
        Tensor y = Softmax.softmax(x);
        assertClose(refSoftmax(xd, 23), y.toFloatArray(), 1e-5, 1e-7, "softmax");
        assertClose(GradCheck.gradient(v -> GradCheck.dot(refSoftmax(v, 23), dyd), xd.clone()),
                Softmax.softmaxBackward(dy, y).toFloatArray(), 1e-5, 1e-6, "softmaxBackward");
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
        assertRejected(() -> Softmax.softmax(x.to(DType.BF16)), "softmax: x has dtype");
        assertRejected(() -> Softmax.softmax(Tensor.allocate(DType.F32)), "softmax: x has shape []", "expected rank >= 1");
        assertRejected(() -> Softmax.softmaxBackward(Tensor.randn(2, 3, 5), x), "softmaxBackward: dy has shape [3, 5]",
                "expected [3, 4]");
        assertRejected(() -> Softmax.softmaxBackward(x, x.to(DType.F16)), "softmaxBackward: y has dtype");
        assertRejected(() -> Softmax.softmax(null), "softmax: x is null");
    }
}
