package io.sparge4j.engine.ops;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.engine.testing.Assertions2;
import io.sparge4j.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * RoPE against a float64 reference that follows Wan2.1's {@code rope_params}/{@code rope_apply} literally:
 * the head's d/2 complex pairs are split as [c - 2*(c/3), c/3, c/3] with c = d/2, axis tables hold
 * {@code 1/10000^(k/dim_a)} for even k &lt; dim_a, positions come from nested (frame, row, col) loops, and
 * each pair is multiplied as a complex number. The op rounds a float64 result once to f32, so values
 * match to 1e-6 (atol and rtol; components cross zero).
 */
class RopeTest {
    private static final double TOL = 1e-6;

    /** Wan's rotation of x (B, L, H, d) for grid (nf, nh, nw), computed in float64; sign -1 rotates back. */
    private static double[] reference(double[] x, int batch, int len, int heads, int d, int nf, int nh, int nw,
                                      double sign) {
        int c = d / 2;
        int[] split = {c - 2 * (c / 3), c / 3, c / 3};
        double[][] inv = new double[3][];
        for (int a = 0; a < 3; a++) {
            int dimA = 2 * split[a];
            inv[a] = new double[split[a]];
            for (int k = 0, j = 0; k < dimA; k += 2, j++) {
                inv[a][j] = 1.0 / Math.pow(10000.0, (double) k / dimA);
            }
        }
        double[] out = x.clone(); // tokens past the grid pass through
        for (int b = 0; b < batch; b++) {
            int token = 0;
            for (int f = 0; f < nf; f++) {
                for (int h = 0; h < nh; h++) {
                    for (int w = 0; w < nw; w++, token++) {
                        int[] pos = {f, h, w};
                        for (int head = 0; head < heads; head++) {
                            int base = ((b * len + token) * heads + head) * d;
                            int pair = 0;
                            for (int a = 0; a < 3; a++) {
                                for (int j = 0; j < split[a]; j++, pair++) {
                                    double angle = sign * pos[a] * inv[a][j];
                                    double cr = Math.cos(angle);
                                    double ci = Math.sin(angle);
                                    double xr = x[base + 2 * pair];
                                    double xi = x[base + 2 * pair + 1];
                                    out[base + 2 * pair] = xr * cr - xi * ci;
                                    out[base + 2 * pair + 1] = xr * ci + xi * cr;
                                }
                            }
                        }
                    }
                }
            }
        }
        return out;
    }

    @Test
    void axisPairsFollowWansSplit() {
        for (int d = 2; d <= 256; d += 2) {
            int c = d / 2;
            assertArrayEquals(new int[]{c - 2 * (c / 3), c / 3, c / 3}, Rope.axisPairs(d), "d = " + d);
        }
        assertArrayEquals(new int[]{22, 21, 21}, Rope.axisPairs(128), "Wan2.1's head dim 128");
    }

    @Test
    void applyMatchesWanReferenceForOddSizesAndPadding() {
        SplittableRandom rng = new SplittableRandom(41);
        // {B, L, H, d, F, Hh, Ww}: padding tokens, d with d/6 = 0, odd grids, Wan's d = 128
        int[][] cases = {{2, 33, 3, 12, 3, 2, 5}, {1, 7, 2, 2, 7, 1, 1}, {2, 24, 1, 10, 2, 3, 4}, {1, 30, 2, 14, 5, 3, 2},
                {1, 12, 2, 128, 2, 2, 3}};
        for (int[] k : cases) {
            Tensor x = Tensor.randn(rng, DType.F32, k[0], k[1], k[2], k[3]);
            Rope.Grid grid = new Rope.Grid(k[4], k[5], k[6]);
            Tensor y = Rope.apply(x, grid);
            assertArrayEquals(x.shape(), y.shape());
            double[] expected = reference(x.toDoubleArray(), k[0], k[1], k[2], k[3], k[4], k[5], k[6], 1);
            Assertions2.assertClose(expected, y.toFloatArray(), TOL, TOL, "rope " + java.util.Arrays.toString(k));
        }
    }

    @Test
    void bhldLayoutMatchesReference() {
        SplittableRandom rng = new SplittableRandom(42);
        int batch = 2, len = 26, heads = 3, d = 18;
        Rope.Grid grid = new Rope.Grid(2, 3, 4); // 24 tokens + 2 padding
        Tensor xBlhd = Tensor.randn(rng, DType.F32, batch, len, heads, d);
        Tensor xBhld = Shapes.permute(xBlhd, 0, 2, 1, 3);
        Tensor y = Rope.apply(xBhld, grid, Rope.Layout.BHLD);
        double[] expectedBlhd = reference(xBlhd.toDoubleArray(), batch, len, heads, d, 2, 3, 4, 1);
        double[] expected = new double[expectedBlhd.length];
        for (int b = 0; b < batch; b++) {
            for (int l = 0; l < len; l++) {
                for (int h = 0; h < heads; h++) {
                    for (int e = 0; e < d; e++) {
                        expected[((b * heads + h) * len + l) * d + e] = expectedBlhd[((b * len + l) * heads + h) * d + e];
                    }
                }
            }
        }
        Assertions2.assertClose(expected, y.toFloatArray(), TOL, TOL, "rope BHLD");
        Tensor back = Rope.backward(y, grid, Rope.Layout.BHLD);
        Assertions2.assertClose(xBhld.toDoubleArray(), back.toFloatArray(), TOL, TOL, "BHLD backward(apply(x))");
    }

    @Test
    void rotationPreservesPairNormsAndBackwardUndoesIt() {
        SplittableRandom rng = new SplittableRandom(43);
        int batch = 1, len = 168, heads = 4, d = 64; // 168 rows of 256: enough for several parallel chunks
        Rope.Grid grid = new Rope.Grid(4, 6, 7);
        Tensor x = Tensor.randn(rng, DType.F32, batch, len, heads, d);
        Tensor y = Rope.apply(x, grid);
        float[] xs = x.toFloatArray();
        float[] ys = y.toFloatArray();
        for (int i = 0; i < xs.length; i += 2) {
            double before = Math.hypot(xs[i], xs[i + 1]);
            double after = Math.hypot(ys[i], ys[i + 1]);
            assertEquals(before, after, TOL * (1 + before), "norm of pair " + i / 2);
        }
        Assertions2.assertClose(x.toDoubleArray(), Rope.backward(y, grid).toFloatArray(), TOL, TOL,
                "backward(apply(x)) == x");
        Assertions2.assertClose(reference(x.toDoubleArray(), batch, len, heads, d, 4, 6, 7, 1), ys, TOL, TOL,
                "rope, parallel sizes");
    }

    @Test
    void backwardMatchesFiniteDifferencesAndAdjointness() {
        SplittableRandom rng = new SplittableRandom(44);
        int batch = 2, len = 7, heads = 2, d = 12;
        Rope.Grid grid = new Rope.Grid(1, 2, 3); // 6 tokens + 1 padding
        Tensor x = Tensor.randn(rng, DType.F32, batch, len, heads, d);
        Tensor dy = Tensor.randn(rng, DType.F32, batch, len, heads, d);
        double[] dyd = dy.toDoubleArray();
        Tensor dx = Rope.backward(dy, grid);
        double[] fd = GradCheck.gradient(v -> GradCheck.dot(dyd, reference(v, batch, len, heads, d, 1, 2, 3, 1)),
                x.toDoubleArray());
        // f32 dy rotated in float64 and rounded once; FD of a linear map is exact to ~1e-10
        Assertions2.assertClose(fd, dx.toFloatArray(), TOL, TOL, "d rope / d x");
        double left = GradCheck.dot(dyd, Rope.apply(x, grid).toDoubleArray());
        double right = GradCheck.dot(dx.toDoubleArray(), x.toDoubleArray());
        assertEquals(left, right, 1e-5 * (1 + Math.abs(left)), "<dy, rope(x)> = <rope^T(dy), x>");
    }

    @Test
    void halfPrecisionInputsKeepTheirDtype() {
        SplittableRandom rng = new SplittableRandom(45);
        for (DType dt : new DType[]{DType.BF16, DType.F16}) {
            Tensor x = Tensor.randn(rng, dt, 1, 6, 2, 12);
            Tensor y = Rope.apply(x, new Rope.Grid(1, 2, 3));
            assertEquals(dt, y.dtype());
            // the inputs are exact in float64; only the output is rounded (bf16 has 8 bits: 2^-8 relative)
            double tol = dt == DType.BF16 ? 8e-3 : 1e-3;
            Assertions2.assertClose(reference(x.toDoubleArray(), 1, 6, 2, 12, 1, 2, 3, 1), y.toFloatArray(), tol, tol,
                    "rope " + dt);
        }
    }

    @Test
    void badArgumentsGiveClearErrors() {
        Rope.Grid grid = new Rope.Grid(1, 2, 2);
        ShapesTest.assertMessage(() -> Rope.apply(Tensor.randn(1, 1, 4, 2, 7), grid), "Rope.apply", "head dim", "7",
                "even");
        ShapesTest.assertMessage(() -> Rope.apply(Tensor.randn(1, 1, 3, 2, 8), grid), "Rope.apply", "tokens", "3",
                "at least frames*rows*cols = 4");
        ShapesTest.assertMessage(() -> Rope.apply(Tensor.randn(1, 1, 2, 3, 8), grid, Rope.Layout.BHLD), "Rope.apply",
                "tokens (axis 2)", "3", "at least");
        ShapesTest.assertMessage(() -> Rope.apply(Tensor.randn(1, 1, 4, 8), grid), "Rope.apply", "x", "rank 3",
                "rank 4");
        ShapesTest.assertMessage(() -> Rope.backward(Tensor.allocate(DType.I32, 1, 4, 1, 8), grid), "Rope.backward",
                "dy", "i32", "f32, bf16 or f16");
        ShapesTest.assertMessage(() -> new Rope.Grid(0, 2, 2), "Rope.Grid", "frames", "0", "positive");
        assertThrows(IllegalArgumentException.class, () -> Rope.apply(Tensor.randn(1, 1, 4, 1, 8), null));
    }
}
