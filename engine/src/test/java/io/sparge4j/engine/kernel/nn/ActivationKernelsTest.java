package io.sparge4j.engine.kernel.nn;

import io.sparge4j.engine.ops.Activations;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.nn.ActivationKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.util.Random;

import static io.sparge4j.engine.kernel.nn.NnRunner.assertClose;
import static io.sparge4j.engine.kernel.nn.NnRunner.gaussian;
import static io.sparge4j.engine.kernel.nn.NnRunner.poisoned;

/**
 * GELU (tanh form) and SiLU kernels, forward and backward, against the engine's CPU ops on the same inputs:
 * Gaussian values of spread 3 plus the extremes -100, -88.5, 0 and 100 (exp overflow, saturated tanh). The
 * element count is not a multiple of the group, and one case runs on a grid smaller than the array (the
 * grid-stride loop).
 *
 * <p>Tolerances. Against float64 of the same formulas (written here): the kernels avoid cancellation (see
 * {@link ActivationKernels}), so rtol 1e-5 (a few ulps of float exp), atol 1e-7 (for results near 0). Against the
 * CPU op, which rounds tanh(u) to float and then forms {@code 1 + t} and {@code 1 - t^2}: its own error is up to an
 * ulp of 1 times |x| (times |x| u' for the derivative), so atol 1e-7 + 2e-7 |x| for the forward passes and
 * 1e-7 + 2e-7 |x| (1 + x^2) |dy| for the backward ones, rtol 1e-5.
 */
class ActivationKernelsTest {
    /** backend, element count, work-groups (0: {@link ActivationKernels#grid}). */
    static final Object[][] CASES = {
        {"emulator", 1001, 0},
        {"emulator", 1301, 2},
        {"opencl", 100_003, 0},
        {"opencl", 5_003, 3},
    };

    @ParameterizedTest(name = "{0} n={1} groups={2}")
    @FieldSource("CASES")
    void geluAndSiluMatchTheCpuOps(String backend, int n, int groups) {
        Random rnd = new Random(n + groups);
        float[] xs = gaussian(rnd, n, 0, 3);
        xs[0] = -100f;
        xs[1] = -88.5f;
        xs[2] = 0f;
        xs[3] = 100f;
        float[] dys = gaussian(rnd, n, 0, 1);
        FloatArray x = FloatArray.fromArray(xs);
        FloatArray dy = FloatArray.fromArray(dys);
        FloatArray gelu = poisoned(n);
        FloatArray dGelu = poisoned(n);
        FloatArray silu = poisoned(n);
        FloatArray dSilu = poisoned(n);
        WorkerGrid1D grid = ActivationKernels.grid(groups == 0 ? n : (long) groups * ActivationKernels.GROUP);
        try (NnRunner runner = NnRunner.open(backend)) {
            runner.run(new TaskGraph("act")
                    .transferToDevice(DataTransferMode.FIRST_EXECUTION, x, dy)
                    .task("gelu", ActivationKernels::gelu, new KernelContext(), x, gelu, n)
                    .task("geluBackward", ActivationKernels::geluBackward, new KernelContext(), dy, x, dGelu, n)
                    .task("silu", ActivationKernels::silu, new KernelContext(), x, silu, n)
                    .task("siluBackward", ActivationKernels::siluBackward, new KernelContext(), dy, x, dSilu, n)
                    .transferToHost(DataTransferMode.EVERY_EXECUTION, gelu, dGelu, silu, dSilu),
                    "gelu", grid, "geluBackward", grid, "silu", grid, "siluBackward", grid);
        }
        double[] refGelu = new double[n];
        double[] refDGelu = new double[n];
        double[] refSilu = new double[n];
        double[] refDSilu = new double[n];
        double[] atolForward = new double[n];
        double[] atolBackward = new double[n];
        for (int i = 0; i < n; i++) {
            double v = xs[i];
            double c = Math.sqrt(2 / Math.PI);
            double t = Math.tanh(c * (v + 0.044715 * v * v * v));
            refGelu[i] = 0.5 * v * (1 + t);
            refDGelu[i] = dys[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v));
            double s = 1 / (1 + Math.exp(-v));
            refSilu[i] = v * s;
            refDSilu[i] = dys[i] * s * (1 + v * (1 - s));
            atolForward[i] = 1e-7 + 2e-7 * Math.abs(v);
            atolBackward[i] = 1e-7 + 2e-7 * Math.abs(v) * (1 + v * v) * Math.abs(dys[i]);
        }
        assertClose(refGelu, gelu.toHeapArray(), 1e-5, 1e-7, "gelu vs float64");
        assertClose(refDGelu, dGelu.toHeapArray(), 1e-5, 1e-7, "geluBackward vs float64");
        assertClose(refSilu, silu.toHeapArray(), 1e-5, 1e-7, "silu vs float64");
        assertClose(refDSilu, dSilu.toHeapArray(), 1e-5, 1e-7, "siluBackward vs float64");

        Tensor xt = Tensor.of(xs, n);
        Tensor dyt = Tensor.of(dys, n);
        assertClose(cpu(Activations.gelu(xt)), gelu.toHeapArray(), 1e-5, atolForward, "gelu vs CPU");
        assertClose(cpu(Activations.geluBackward(dyt, xt)), dGelu.toHeapArray(), 1e-5, atolBackward,
                "geluBackward vs CPU");
        assertClose(cpu(Activations.silu(xt)), silu.toHeapArray(), 1e-5, atolForward, "silu vs CPU");
        assertClose(cpu(Activations.siluBackward(dyt, xt)), dSilu.toHeapArray(), 1e-5, atolBackward,
                "siluBackward vs CPU");
    }

    private static double[] cpu(Tensor t) {
        return NnRunner.toDouble(t.toFloatArray());
    }
}
