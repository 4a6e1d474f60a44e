package io.sparge4j.engine.ops;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static io.sparge4j.engine.testing.Assertions2.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * matmul and linear against float64 references written here, and their backward passes against float64
 * central differences of those references.
 *
 * <p>Tolerances: forward values rtol 1e-5 with atol 1e-5 (f32 sums of up to ~70 products of values in
 * [-1, 1], where entries near zero need the absolute term); gradients rtol 1e-4, atol 1e-4 (f32 results
 * against finite differences whose own error is ~1e-9).
 */
class LinearTest {
    private static final double RTOL = 1e-5;
    private static final double ATOL = 1e-5;
    private static final double GRAD_TOL = 1e-4;

    // ------------------------------------------------------------------ float64 references

    /** C[b] = A[b] B[b] (or B shared), row-major: a is batch x m x k, b is (batch or 1) x k x n. */
    private static double[] refMatmul(double[] a, double[] b, int batch, int m, int k, int n, boolean shared) {
        double[] c = new double[batch * m * n];
        for (int t = 0; t < batch; t++) {
            int bBase = shared ? 0 : t * k * n;
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++) {
                        s += a[t * m * k + i * k + p] * b[bBase + p * n + j];
                    }
                    c[t * m * n + i * n + j] = s;
                }
            }
        }
        return c;
    }

    /** y = x W^T + bias, x is rows x in, W is out x in. */
    private static double[] refLinear(double[] x, double[] w, double[] bias, int rows, int in, int out) {
        double[] y = new double[rows * out];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                double s = bias == null ? 0 : bias[o];
                for (int i = 0; i < in; i++) {
                    s += x[r * in + i] * w[o * in + i];
                }
                y[r * out + o] = s;
            }
        }
        return y;
    }

    private static Tensor random(SplittableRandom rng, DType dtype, int... shape) {
        float[] v = new float[Math.toIntExact(Tensor.numelOf(shape))];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rng.nextDouble(-1, 1);
        }
        return Tensor.of(dtype, v, shape);
    }

    // ------------------------------------------------------------------ forward values

    @Test
    void matmulTwoDimensional() {
        SplittableRandom rng = new SplittableRandom(1);
        Tensor a = random(rng, DType.F32, 37, 70);
        Tensor b = random(rng, DType.F32, 70, 45);
        Tensor c = Linear.matmul(a, b);
        assertArrayEquals(new int[] {37, 45}, c.shape());
        assertClose(refMatmul(a.toDoubleArray(), b.toDoubleArray(), 1, 37, 70, 45, true), c.toFloatArray(), RTOL, ATOL,
                "matmul 2d");
    }

    @Test
    void matmulBatchedAndShared() {
        SplittableRandom rng = new SplittableRandom(2);
        Tensor a = random(rng, DType.F32, 2, 3, 9, 20);
        Tensor b = random(rng, DType.F32, 2, 3, 20, 17);
        Tensor c = Linear.matmul(a, b);
        assertArrayEquals(new int[] {2, 3, 9, 17}, c.shape());
        assertClose(refMatmul(a.toDoubleArray(), b.toDoubleArray(), 6, 9, 20, 17, false), c.toFloatArray(), RTOL, ATOL,
                "batched matmul");

        Tensor shared = random(rng, DType.F32, 20, 17);
        Tensor cs = Linear.matmul(a, shared);
        assertArrayEquals(new int[] {2, 3, 9, 17}, cs.shape());
        assertClose(refMatmul(a.toDoubleArray(), shared.toDoubleArray(), 6, 9, 20, 17, true), cs.toFloatArray(), RTOL,
                ATOL, "matmul with shared b");
    }

    @Test
    void linearWithAndWithoutBiasAndHalfWeights() {
        SplittableRandom rng = new SplittableRandom(3);
        Tensor x = random(rng, DType.F32, 2, 5, 33);
        Tensor bias = random(rng, DType.F32, 19);
        for (DType wt : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            Tensor w = random(rng, wt, 19, 33);
            // the reference uses the weight values as stored (already rounded to bf16/f16)
            double[] wv = w.toDoubleArray();
            Tensor y = Linear.linear(x, w, bias);
            assertArrayEquals(new int[] {2, 5, 19}, y.shape());
            assertClose(refLinear(x.toDoubleArray(), wv, bias.toDoubleArray(), 10, 33, 19), y.toFloatArray(), RTOL, ATOL,
                    "linear " + wt);
            Tensor y0 = Linear.linear(x, w, null);
            assertClose(refLinear(x.toDoubleArray(), wv, null, 10, 33, 19), y0.toFloatArray(), RTOL, ATOL,
                    "linear without bias " + wt);
        }
    }

    // ------------------------------------------------------------------ gradients

    @Test
    void matmulBackwardMatchesFiniteDifferences() {
        SplittableRandom rng = new SplittableRandom(4);
        for (boolean shared : new boolean[] {false, true}) {
            int batch = 2;
            int m = 3;
            int k = 5;
            int n = 4;
            Tensor a = random(rng, DType.F32, batch, m, k);
            Tensor b = shared ? random(rng, DType.F32, k, n) : random(rng, DType.F32, batch, k, n);
            Tensor dC = random(rng, DType.F32, batch, m, n);
            double[] av = a.toDoubleArray();
            double[] bv = b.toDoubleArray();
            double[] dc = dC.toDoubleArray();
            Linear.MatmulGrads g = Linear.matmulBackward(dC, a, b);
            double[] dA = GradCheck.gradient(x -> GradCheck.dot(refMatmul(x, bv, batch, m, k, n, shared), dc), av);
            double[] dB = GradCheck.gradient(x -> GradCheck.dot(refMatmul(av, x, batch, m, k, n, shared), dc), bv);
            assertArrayEquals(a.shape(), g.dA().shape());
            assertArrayEquals(b.shape(), g.dB().shape());
            assertClose(dA, g.dA().toFloatArray(), GRAD_TOL, GRAD_TOL, "dA shared=" + shared);
            assertClose(dB, g.dB().toFloatArray(), GRAD_TOL, GRAD_TOL, "dB shared=" + shared);
        }
    }

    @Test
    void linearBackwardMatchesFiniteDifferences() {
        SplittableRandom rng = new SplittableRandom(5);
        int rows = 6;
        int in = 7;
        int out = 5;
        for (DType wt : new DType[] {DType.F32, DType.BF16}) {
            Tensor x = random(rng, DType.F32, 2, 3, in);
            Tensor w = random(rng, wt, out, in);
            Tensor bias = random(rng, DType.F32, out);
            Tensor dy = random(rng, DType.F32, 2, 3, out);
            double[] xv = x.toDoubleArray();
            double[] wv = w.toDoubleArray();
            double[] bv = bias.toDoubleArray();
            double[] dyv = dy.toDoubleArray();
            Linear.LinearGrads g = Linear.linearBackward(dy, x, w, true);
            double[] dx = GradCheck.gradient(v -> GradCheck.dot(refLinear(v, wv, bv, rows, in, out), dyv), xv);
            double[] dw = GradCheck.gradient(v -> GradCheck.dot(refLinear(xv, v, bv, rows, in, out), dyv), wv);
            double[] db = GradCheck.gradient(v -> GradCheck.dot(refLinear(xv, wv, v, rows, in, out), dyv), bv);
            assertArrayEquals(x.shape(), g.dx().shape());
            assertArrayEquals(new int[] {out, in}, g.dWeight().shape());
            assertEquals(DType.F32, g.dWeight().dtype());
            assertClose(dx, g.dx().toFloatArray(), GRAD_TOL, GRAD_TOL, "dx " + wt);
            assertClose(dw, g.dWeight().toFloatArray(), GRAD_TOL, GRAD_TOL, "dWeight " + wt);
            assertClose(db, g.dBias().toFloatArray(), GRAD_TOL, GRAD_TOL, "dBias " + wt);
            assertNull(Linear.linearBackward(dy, x, w, false).dBias());
        }
    }

    // ------------------------------------------------------------------ argument errors

    @Test
    void badShapesAndDtypesGiveClearErrors() {
        Tensor a = Tensor.zeros(2, 3, 4);
        assertMessage("matmul: b has shape [5, 6], expected [4, *]", () -> Linear.matmul(a, Tensor.zeros(5, 6)));
        assertMessage("matmul: b has shape [3, 3, 4, 6], expected [2, 3, 4, *]",
                () -> Linear.matmul(Tensor.zeros(2, 3, 3, 4), Tensor.zeros(3, 3, 4, 6)));
        assertMessage("matmul: b has shape [1, 2, 4, 6] (rank 4), expected rank 2 or 3 (the rank of a)",
                () -> Linear.matmul(a, Tensor.zeros(1, 2, 4, 6)));
        assertMessage("matmul: a has shape [4] (rank 1), expected rank >= 2",
                () -> Linear.matmul(Tensor.zeros(4), Tensor.zeros(4, 2)));
        assertMessage("matmul: a has dtype bf16, expected f32",
                () -> Linear.matmul(Tensor.allocate(DType.BF16, 3, 4), Tensor.zeros(4, 2)));
        assertMessage("matmul: b has dtype i32, expected f32, bf16 or f16",
                () -> Linear.matmul(Tensor.zeros(3, 4), Tensor.allocate(DType.I32, 4, 2)));
        assertMessage("matmulBackward: dC has shape [2, 3, 5], expected [2, 3, 6]",
                () -> Linear.matmulBackward(Tensor.zeros(2, 3, 5), a, Tensor.zeros(4, 6)));
        assertMessage("linear: weight has shape [5, 3], expected [*, 4]",
                () -> Linear.linear(a, Tensor.zeros(5, 3), null));
        assertMessage("linear: bias has shape [6], expected [5]",
                () -> Linear.linear(a, Tensor.zeros(5, 4), Tensor.zeros(6)));
        assertMessage("linear: weight has dtype u8, expected f32, bf16 or f16",
                () -> Linear.linear(a, Tensor.allocate(DType.U8, 5, 4), null));
        assertMessage("linearBackward: dy has shape [2, 3, 4], expected [2, 3, 5]",
                () -> Linear.linearBackward(Tensor.zeros(2, 3, 4), a, Tensor.zeros(5, 4), true));
    }

    private static void assertMessage(String expected, org.junit.jupiter.api.function.Executable call) {
        assertEquals(expected, assertThrows(IllegalArgumentException.class, call).getMessage());
    }
}
