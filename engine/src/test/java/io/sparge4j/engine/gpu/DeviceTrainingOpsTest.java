package io.sparge4j.engine.gpu;

import io.sparge4j.engine.sparse.BlockGrid;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static io.sparge4j.engine.gpu.DeviceSessions.host;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The training-step ops ({@link DeviceGradients}, {@link DeviceMeanSquaredError}, {@link DeviceAdamWGroup},
 * {@link DeviceMasks}, {@link DeviceCopies}) against float64 references written here, on the emulator, PoCL and
 * CUDA (skipped with the reason where absent), on seeded Gaussian inputs of sizes that are multiples of no group
 * (1, 255, 257, 70 001 elements: fewer elements than work-items, and more than the partial grid holds at once).
 *
 * <p>Tolerances: accumulate is one fma per element, so it equals {@code Math.fma} in float exactly; the sums of
 * squares and the mean squared error are f32 partial sums over at most ~300 terms each, added in a fixed order:
 * 1e-5 relative to float64; the MSE gradient is one product of the f32 difference: 1e-6 relative; clipping 1e-5
 * relative (the coefficient comes from the f32 norm); AdamW against float64 carried over three steps with a
 * changing learning rate: parameters 1e-6 relative + 1e-7 absolute, as {@code AdamWKernelsTest}.
 */
class DeviceTrainingOpsTest {
    static final String[] BACKENDS = DeviceSessions.BACKENDS;
    private static final int[] SIZES = {1, 255, 257, 70_001};

    private static Tensor randn(SplittableRandom rnd, double std, int... shape) {
        Tensor t = Tensor.allocate(DType.F32, shape);
        for (long i = 0; i < t.numel(); i++) {
            t.setFloat(i, (float) (std * rnd.nextGaussian()));
        }
        return t;
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void accumulateIsOneFmaPerElement(String backend) {
        SplittableRandom rnd = new SplittableRandom(1);
        try (DeviceSession s = DeviceSessions.open(backend); Tensor x = randn(rnd, 1, 3, 1001);
             Tensor y = randn(rnd, 1, 3, 1001); DeviceTensor dx = s.upload(x); DeviceTensor dy = s.upload(y)) {
            DeviceGradients.accumulate(-0.37f, dx, dy);
            DeviceGradients.accumulate(1f, dx, dy);
            float[] got = host(dy);
            float[] xs = x.toFloatArray();
            float[] ys = y.toFloatArray();
            for (int i = 0; i < got.length; i++) {
                float expected = Math.fma(1f, xs[i], Math.fma(-0.37f, xs[i], ys[i]));
                assertEquals(expected, got[i], 0f, "element " + i);
            }
            try (DeviceTensor wrong = s.zeros(7)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> DeviceGradients.accumulate(1f, wrong, dy));
                assertTrue(e.getMessage().contains("x's shape"), e.getMessage());
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void sumRowsMatchesFloat64OverTheFirstAxis(String backend) {
        SplittableRandom rnd = new SplittableRandom(5);
        // 1 row (a copy), 3 rows (a batch), 130 rows (three chunks of 64) of 257 columns, and a rank-3 input
        int[][] shapes = {{1, 257}, {3, 6, 40}, {130, 257}};
        try (DeviceSession s = DeviceSessions.open(backend)) {
            for (int[] shape : shapes) {
                try (Tensor x = randn(rnd, 1, shape); DeviceTensor dx = s.upload(x);
                     DeviceTensor sum = DeviceGradients.sumRows(dx)) {
                    int rows = shape[0];
                    int cols = (int) (x.numel() / rows);
                    assertArrayEquals(Arrays.copyOfRange(shape, 1, shape.length), sum.shape());
                    float[] xs = x.toFloatArray();
                    float[] got = host(sum);
                    for (int c = 0; c < cols; c++) {
                        double want = 0;
                        double scale = 0;
                        for (int r = 0; r < rows; r++) {
                            want += xs[r * cols + c];
                            scale += Math.abs(xs[r * cols + c]);
                        }
                        // f32 sums of at most 64 terms, then of 3 chunk sums: 1e-6 of the absolute sum
                        assertEquals(want, got[c], 1e-6 * scale + 1e-30, Arrays.toString(shape) + " column "
                                + c);
                    }
                }
            }
            try (DeviceTensor flat = s.zeros(7)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> DeviceGradients.sumRows(flat));
                assertTrue(e.getMessage().contains("x's shape") && e.getMessage().contains("[7]"), e.getMessage());
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void sumRowGroupsMatchesFloat64GroupByGroup(String backend) {
        SplittableRandom rnd = new SplittableRandom(6);
        // (groups, rows per group, columns): one group, a batch of text rows, groups of three chunks of 64
        int[][] cases = {{1, 16, 40}, {3, 16, 129}, {2, 130, 33}};
        try (DeviceSession s = DeviceSessions.open(backend)) {
            for (int[] c : cases) {
                int groups = c[0];
                int rows = c[1];
                int cols = c[2];
                try (Tensor x = randn(rnd, 1, groups * rows, cols); DeviceTensor dx = s.upload(x);
                     DeviceTensor sums = DeviceGradients.sumRowGroups(dx, groups)) {
                    assertArrayEquals(new int[] {groups, cols}, sums.shape());
                    float[] xs = x.toFloatArray();
                    float[] got = host(sums);
                    for (int g = 0; g < groups; g++) {
                        for (int j = 0; j < cols; j++) {
                            double want = 0;
                            double scale = 0;
                            for (int r = g * rows; r < (g + 1) * rows; r++) {
                                want += xs[r * cols + j];
                                scale += Math.abs(xs[r * cols + j]);
                            }
                            // f32 sums of at most 64 terms, then of the chunk sums: 1e-6 of the absolute sum
                            assertEquals(want, got[g * cols + j], 1e-6 * scale + 1e-30, Arrays.toString(c)
                                    + " group " + g + " column " + j);
                        }
                    }
                }
            }
            try (DeviceTensor x = s.zeros(6, 4)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> DeviceGradients.sumRowGroups(x, 4));
                assertTrue(e.getMessage().contains("groups") && e.getMessage().contains("4")
                        && e.getMessage().contains("divisor"), e.getMessage());
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void sumOfSquaresAndClippingMatchFloat64(String backend) {
        SplittableRandom rnd = new SplittableRandom(2);
        List<Tensor> hosts = new ArrayList<>();
        List<DeviceTensor> devs = new ArrayList<>();
        try (DeviceSession s = DeviceSessions.open(backend)) {
            double sum = 0;
            for (int n : SIZES) {
                Tensor t = randn(rnd, 0.5, n);
                hosts.add(t);
                devs.add(s.upload(t));
                for (float f : t.toFloatArray()) {
                    sum += (double) f * f;
                }
            }
            double norm = Math.sqrt(sum);
            try (DeviceTensor sq = DeviceGradients.sumOfSquares(devs)) {
                float got = host(sq)[0];
                assertEquals(sum, got, 1e-5 * sum, "sum of squares");
                // a bound above the norm leaves every gradient as it is, bit for bit
                DeviceGradients.clipByNorm(devs, sq, norm * 1.5);
                for (int i = 0; i < devs.size(); i++) {
                    assertArrayEquals(hosts.get(i).toFloatArray(), host(devs.get(i)), "unclipped " + i);
                }
                double max = norm / 4;
                DeviceGradients.clipByNorm(devs, sq, max);
                double coef = max / (norm + 1e-6);
                double after = 0;
                for (int i = 0; i < devs.size(); i++) {
                    float[] want = hosts.get(i).toFloatArray();
                    float[] got2 = host(devs.get(i));
                    for (int j = 0; j < want.length; j++) {
                        assertEquals(want[j] * coef, got2[j], 1e-5 * Math.abs(want[j] * coef) + 1e-12,
                                "clipped " + i + "[" + j + "]");
                        after += (double) got2[j] * got2[j];
                    }
                }
                assertEquals(max, Math.sqrt(after), 1e-5 * max, "norm after clipping");
            }
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> DeviceGradients.sumOfSquares(List.of()));
            assertTrue(e.getMessage().contains("tensors"), e.getMessage());
        } finally {
            hosts.forEach(Tensor::close);
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void meanSquaredErrorAndGradientMatchFloat64(String backend) {
        for (int n : SIZES) {
            SplittableRandom rnd = new SplittableRandom(3 + n);
            try (DeviceSession s = DeviceSessions.open(backend); Tensor p = randn(rnd, 1, n);
                 Tensor t = randn(rnd, 2, n);
                 DeviceTensor dp = s.upload(p); DeviceTensor dt = s.upload(t);
                 DeviceMeanSquaredError.Result r = DeviceMeanSquaredError.of(dp, dt)) {
                float[] ps = p.toFloatArray();
                float[] ts = t.toFloatArray();
                double sum = 0;
                float[] grad = host(r.grad());
                for (int i = 0; i < n; i++) {
                    float diff = ps[i] - ts[i];
                    sum += (double) diff * diff;
                    double want = 2.0 / n * diff;
                    assertEquals(want, grad[i], 1e-6 * Math.abs(want), "n " + n + " grad[" + i + "]");
                }
                assertEquals(sum / n, r.lossValue(), 1e-5 * sum / n, "n " + n + " loss");
                try (DeviceMeanSquaredError.Result w = DeviceMeanSquaredError.of(dp, dt, 0.25)) {
                    float[] wg = host(w.grad());
                    for (int i = 0; i < n; i++) {
                        double want = 0.25 * 2.0 / n * (ps[i] - ts[i]);
                        assertEquals(want, wg[i], 1e-6 * Math.abs(want), "n " + n + " weighted grad[" + i + "]");
                    }
                    assertEquals(r.lossValue(), w.lossValue(), 0.0, "the loss is not weighted");
                }
            }
        }
    }

    /** torch.optim.AdamW's step (foreach=False), in float64. */
    private static void torchAdamW(double[] p, double[] g, double[] m, double[] v, double lr, double b1, double b2,
            double eps, double wd, int step) {
        double bc1 = 1 - Math.pow(b1, step);
        double bc2 = 1 - Math.pow(b2, step);
        for (int i = 0; i < p.length; i++) {
            p[i] *= 1 - lr * wd;
            m[i] = m[i] + (g[i] - m[i]) * (1 - b1);   // exp_avg.lerp_(grad, 1 - beta1)
            v[i] = v[i] * b2 + (1 - b2) * g[i] * g[i];
            double denom = Math.sqrt(v[i]) / Math.sqrt(bc2) + eps;
            p[i] -= lr / bc1 * m[i] / denom;
        }
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void adamWGroupMatchesTorchFormulaWithAScheduledLr(String backend) {
        SplittableRandom rnd = new SplittableRandom(4);
        double b1 = 0.9;
        double b2 = 0.95;
        double eps = 1e-8;
        double wd = 0.1;
        double[] lrs = {1e-3, 3e-3, 2e-3};
        int[][] shapes = {{37, 11}, {300}};
        try (DeviceSession s = DeviceSessions.open(backend)) {
            List<DeviceTensor> params = new ArrayList<>();
            List<double[]> p64 = new ArrayList<>();
            for (int[] shape : shapes) {
                try (Tensor t = randn(rnd, 1, shape)) {
                    params.add(s.upload(t));
                    p64.add(toDouble(t.toFloatArray()));
                }
            }
            List<double[]> m64 = new ArrayList<>();
            List<double[]> v64 = new ArrayList<>();
            p64.forEach(a -> {
                m64.add(new double[a.length]);
                v64.add(new double[a.length]);
            });
            try (DeviceAdamWGroup adam = new DeviceAdamWGroup(params, b1, b2, eps, wd)) {
                for (int step = 1; step <= lrs.length; step++) {
                    List<DeviceTensor> grads = new ArrayList<>();
                    for (int i = 0; i < shapes.length; i++) {
                        try (Tensor g = randn(rnd, 0.1, shapes[i])) {
                            grads.add(s.upload(g));
                            torchAdamW(p64.get(i), toDouble(g.toFloatArray()), m64.get(i), v64.get(i), lrs[step - 1],
                                    b1, b2, eps, wd, step);
                        }
                    }
                    adam.step(grads, lrs[step - 1]);
                    grads.forEach(DeviceTensor::close);
                }
                assertEquals(3, adam.steps());
                for (int i = 0; i < shapes.length; i++) {
                    float[] got = host(params.get(i));
                    double[] want = p64.get(i);
                    for (int j = 0; j < want.length; j++) {
                        assertEquals(want[j], got[j], 1e-6 * Math.abs(want[j]) + 1e-7, "param " + i + "[" + j + "]");
                    }
                    float[] m = host(adam.firstMoments().get(i));
                    for (int j = 0; j < m.length; j++) {
                        assertEquals(m64.get(i)[j], m[j], 1e-5 * Math.abs(m64.get(i)[j]) + 1e-8, "m " + i);
                    }
                }
            } finally {
                params.forEach(DeviceTensor::close);
            }
        }
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("BACKENDS")
    void uploadedMaskReadsBackAndCopiesOverwriteInPlace(String backend) {
        SplittableRandom rnd = new SplittableRandom(5);
        int tokens = 300;
        BlockGrid qg = new BlockGrid(tokens, DeviceAttention.QUERY_BLOCK);
        BlockGrid kg = new BlockGrid(tokens, DeviceAttention.KEY_BLOCK);
        boolean[] kept = new boolean[2 * qg.blocks() * kg.blocks()];
        for (int i = 0; i < kept.length; i++) {
            kept[i] = rnd.nextDouble() < 0.5;
        }
        BlockMask mask = BlockMask.of(1, 2, qg, kg, kept);
        try (DeviceSession s = DeviceSessions.open(backend);
             DeviceBlockMask d = DeviceMasks.upload(s, mask, 64)) {
            BlockMask back = d.toHost();
            assertArrayEquals(mask.rowStart(), back.rowStart());
            assertArrayEquals(mask.rowBlocks(), back.rowBlocks());
            try (Tensor a = randn(rnd, 1, 5, 7); DeviceTensor dst = s.zeros(35)) {
                DeviceCopies.uploadInto(a, dst);
                assertArrayEquals(a.toFloatArray(), host(dst));
            }
        }
    }

    @Test
    void maskUploadRefusesOtherBlockSizes() {
        try (DeviceSession s = DeviceSession.open("emulator")) {
            BlockMask m = BlockMask.dense(1, 1, new BlockGrid(256, 64), new BlockGrid(256, 64));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> DeviceMasks.upload(s, m, 64));
            assertTrue(e.getMessage().contains("128 x 64"), e.getMessage());
        }
    }
}
