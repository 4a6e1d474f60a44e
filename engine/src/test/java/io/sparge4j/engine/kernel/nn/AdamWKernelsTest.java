package io.sparge4j.engine.kernel.nn;

import io.sparge4j.kernels.ExecutionPlan;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.nn.ActivationKernels;
import io.sparge4j.kernels.nn.AdamWKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.util.Random;

import static io.sparge4j.engine.kernel.nn.NnRunner.assertClose;
import static io.sparge4j.engine.kernel.nn.NnRunner.gaussian;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The AdamW step against a float64 reference of PyTorch's AdamW written here (the engine has no CPU optimizer
 * yet): three steps of one task graph, the hyperparameters and gradients sent again each step, from non-zero
 * moments, with one zero gradient; n not a multiple of the group, and a grid smaller than n.
 *
 * <p>Tolerances, against float64 carried through all steps: parameters rtol 1e-6, atol 1e-7 (updates are
 * about lr = 1e-2, so a kernel that skips the update fails by 1e5 times the tolerance); moments rtol 1e-5, first
 * moment atol 1e-7, second moment atol 1e-9.
 */
class AdamWKernelsTest {
    private static final double LR = 1e-2;
    private static final double BETA1 = 0.9;
    private static final double BETA2 = 0.999;
    private static final double EPS = 1e-8;
    private static final double WEIGHT_DECAY = 0.01;
    private static final int STEPS = 3;

    /** backend, n, work-groups (0: {@link ActivationKernels#grid}). */
    static final Object[][] CASES = {
        {"emulator", 1001, 0},
        {"emulator", 777, 1},
        {"opencl", 50_003, 0},
        {"opencl", 9_999, 5},
    };

    @ParameterizedTest(name = "{0} n={1} groups={2}")
    @FieldSource("CASES")
    void stepsMatchFloat64(String backend, int n, int groups) {
        Random rnd = new Random(n + 17L * groups);
        float[] p0 = gaussian(rnd, n, 0, 1);
        float[] m0 = gaussian(rnd, n, 0, 0.1);
        float[] v0 = gaussian(rnd, n, 0, 0.01);
        for (int i = 0; i < n; i++) {
            v0[i] = v0[i] * v0[i];
        }
        double[] p = NnRunner.toDouble(p0);
        double[] m = NnRunner.toDouble(m0);
        double[] v = NnRunner.toDouble(v0);
        FloatArray param = FloatArray.fromArray(p0);
        FloatArray mom1 = FloatArray.fromArray(m0);
        FloatArray mom2 = FloatArray.fromArray(v0);
        FloatArray grad = new FloatArray(n);
        FloatArray hyper = new FloatArray(AdamWKernels.HYPER_SIZE);
        TaskGraph graph = new TaskGraph("adamw")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, param, mom1, mom2)
                .transferToDevice(DataTransferMode.EVERY_EXECUTION, grad, hyper)
                .task("step", AdamWKernels::adamW, new KernelContext(), param, grad, mom1, mom2, hyper, n)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, param, mom1, mom2);
        try (NnRunner runner = NnRunner.open(backend);
                ExecutionPlan plan = runner.plan(graph, "step",
                        ActivationKernels.grid(groups == 0 ? n : (long) groups * ActivationKernels.GROUP))) {
            for (int step = 1; step <= STEPS; step++) {
                float[] g = gaussian(rnd, n, 0, 1);
                g[step] = 0f;
                for (int i = 0; i < n; i++) {
                    grad.set(i, g[i]);
                }
                AdamWKernels.hyperparameters(LR, BETA1, BETA2, EPS, WEIGHT_DECAY, step, hyper);
                plan.execute();
                reference(p, m, v, g, step);
            }
        }
        assertClose(p, param.toHeapArray(), 1e-6, 1e-7, "param");
        assertClose(m, mom1.toHeapArray(), 1e-5, 1e-7, "m");
        assertClose(v, mom2.toHeapArray(), 1e-5, 1e-9, "v");
        double moved = 0;
        for (int i = 0; i < n; i++) {
            moved = Math.max(moved, Math.abs(p[i] - p0[i]));
        }
        assertTrue(moved > 1e-3, "the reference moved the parameters by at most " + moved);
    }

    /** PyTorch's AdamW step in float64. */
    private static void reference(double[] p, double[] m, double[] v, float[] g, int step) {
        double bc1 = 1 - Math.pow(BETA1, step);
        double bc2 = 1 - Math.pow(BETA2, step);
        for (int i = 0; i < p.length; i++) {
            p[i] *= 1 - LR * WEIGHT_DECAY;
            m[i] = BETA1 * m[i] + (1 - BETA1) * g[i];
            v[i] = BETA2 * v[i] + (1 - BETA2) * g[i] * g[i];
            p[i] -= LR / bc1 * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + EPS);
        }
    }

    @Test
    void hyperparametersRejectBadArguments() {
        FloatArray out = new FloatArray(AdamWKernels.HYPER_SIZE);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AdamWKernels.hyperparameters(1e-3, 1.0, 0.999, 1e-8, 0, 1, out));
        assertTrue(e.getMessage().contains("beta1 is 1.0, expected in [0, 1)"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> AdamWKernels.hyperparameters(1e-3, 0.9, 0.999, 1e-8, 0, 0,
                out));
        assertThrows(IllegalArgumentException.class, () -> AdamWKernels.hyperparameters(1e-3, 0.9, 0.999, 1e-8, 0, 1,
                new FloatArray(3)));
    }
}
