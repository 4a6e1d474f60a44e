package io.sparge4j.engine.kernel.attention;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.execution.ExecutionBackends;
import io.sparge4j.engine.execution.KernelCompiler;
import io.sparge4j.engine.execution.TaskGraphExecutor;
import io.sparge4j.engine.jit.KernelJit;
import io.sparge4j.engine.jit.Nvcc;
import io.sparge4j.kernels.ExecutionPlan;
import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.attention.FlashForwardKernels;
import io.sparge4j.kernels.attention.FlashForwardTasks;
import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.reflect.Method;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link FlashForwardKernels#flashForwardCross}: nq queries over nk keys per head (cross-attention), every key block
 * listed, against dense attention in float64 written here. nk is not a multiple of the 64-key block (the keys past nk
 * must count as -inf, not as zero scores), nq not a multiple of the 128-row query block. Tolerances as the self-attention
 * test's: o within 1e-5 x (1 + |ref|), lse within 1e-5. The CUDA source compiles for sm_90 without spills.
 */
class FlashCrossForwardKernelsTest {
    private static final double TOL = 1e-5;
    private static final DeviceFeatures H200_NO_FP64 = new DeviceFeatures(32, true, true, false, 1024, 232448,
            "cuda|NVIDIA H200|sm_90|test");

    @ParameterizedTest(name = "{0} heads={1} nq={2} nk={3} d={4}")
    @CsvSource({"emulator, 2, 200, 77, 64", "emulator, 1, 130, 512, 128", "opencl, 3, 300, 21, 128",
        "opencl, 2, 1000, 512, 64", "opencl, 1, 129, 64, 128"})
    void matchesFloat64DenseAttention(String backend, int heads, int nq, int nk, int d) {
        if (backend.equals("opencl")) {
            assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): skipped");
        }
        SplittableRandom rnd = new SplittableRandom(31L * nq + nk + d);
        float[] q = gaussian(rnd, heads * nq * d);
        float[] k = gaussian(rnd, heads * nk * d);
        float[] v = gaussian(rnd, heads * nk * d);
        float scale = (float) (1 / Math.sqrt(d));
        float[][] got = run(backend, q, k, v, heads, nq, nk, d, scale);
        double worst = 0;
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < nq; i++) {
                double[] s = new double[nk];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < nk; j++) {
                    double dot = 0;
                    for (int c = 0; c < d; c++) {
                        dot += (double) q[(h * nq + i) * d + c] * k[(h * nk + j) * d + c];
                    }
                    s[j] = dot * scale;
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                double[] o = new double[d];
                for (int j = 0; j < nk; j++) {
                    double p = Math.exp(s[j] - max);
                    sum += p;
                    for (int c = 0; c < d; c++) {
                        o[c] += p * v[(h * nk + j) * d + c];
                    }
                }
                for (int c = 0; c < d; c++) {
                    double ref = o[c] / sum;
                    double err = Math.abs(got[0][(h * nq + i) * d + c] - ref) / (1 + Math.abs(ref));
                    if (!(err <= TOL)) {
                        throw new AssertionError("o[" + i + "][" + c + "] error " + err + " > " + TOL);
                    }
                    worst = Math.max(worst, err);
                }
                double lse = max + Math.log(sum);
                float gotLse = got[1][h * nq + i];
                assertTrue(Math.abs(gotLse - lse) <= TOL, "lse[" + i + "] is " + gotLse + ", expected " + lse);
            }
        }
        System.out.printf("cross %s heads=%d nq=%d nk=%d d=%d: worst o error %.3g%n", backend, heads, nq, nk, d, worst);
    }

    @Test
    void refusesMismatchedSizes() {
        FloatArray a = new FloatArray(2 * 64);
        IntArray rs = new IntArray(2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FlashForwardTasks
                .addCrossForward(new TaskGraph("x"), new GridScheduler(), "f", a, new FloatArray(64), a, a,
                        new FloatArray(2), rs, rs, 1, 2, 2, 64, 0.1f));
        assertTrue(e.getMessage().contains("k has 64 elements, expected at least 128"), e.getMessage());
    }

    @Test
    void compilesWithNvccWithoutSpills() throws Exception {
        Method m = FlashForwardKernels.class.getMethod("flashForwardCross", KernelContext.class, FloatArray.class,
                FloatArray.class, FloatArray.class, FloatArray.class, FloatArray.class, IntArray.class, IntArray.class,
                int.class, int.class, float.class, int.class);
        Object[] args = {new KernelContext(), null, null, null, null, null, null, null, 0, 0, 0f, 128};
        GeneratedKernel kernel = KernelJit.shared().compile(m, args, Dialect.CUDA, H200_NO_FP64,
                FlashForwardKernels.GROUP);
        Nvcc.assumePresent();
        Nvcc.KernelResources r = Nvcc.compileCubin(m.getName(), kernel.source(), "sm_90").assertCleanCompile()
                .assertNoSpills(m.getName());
        System.out.println(r);
    }

    private static float[][] run(String backend, float[] q, float[] k, float[] v, int heads, int nq, int nk, int d,
            float scale) {
        BackendSelection selection = BackendSelection.withOpenClDeviceFromEnvironment(backend);
        ComputeDevice device = ExecutionBackends.openDevice(selection);
        KernelCompiler compiler = ExecutionBackends.compiler(selection);
        try {
            int rows = heads * ((nq + FlashForwardKernels.QUERY_BLOCK - 1) / FlashForwardKernels.QUERY_BLOCK);
            int keyBlocks = (nk + FlashForwardKernels.KEY_BLOCK - 1) / FlashForwardKernels.KEY_BLOCK;
            int[] start = new int[rows + 1];
            int[] blocks = new int[rows * keyBlocks];
            for (int r = 0; r < rows; r++) {
                start[r + 1] = (r + 1) * keyBlocks;
                for (int b = 0; b < keyBlocks; b++) {
                    blocks[r * keyBlocks + b] = b;
                }
            }
            FloatArray qa = FloatArray.fromArray(q);
            FloatArray ka = FloatArray.fromArray(k);
            FloatArray va = FloatArray.fromArray(v);
            FloatArray oa = new FloatArray(heads * nq * d);
            FloatArray la = new FloatArray(heads * nq);
            oa.init(Float.NaN);
            la.init(Float.NaN);
            IntArray rowStart = IntArray.fromArray(start);
            IntArray rowBlocks = IntArray.fromArray(blocks);
            TaskGraph g = new TaskGraph("cross").transferToDevice(DataTransferMode.FIRST_EXECUTION, qa, ka, va, oa,
                    la, rowStart, rowBlocks);
            GridScheduler grids = new GridScheduler();
            FlashForwardTasks.addCrossForward(g, grids, "fwd", qa, ka, va, oa, la, rowStart, rowBlocks, heads, nq, nk,
                    d, scale);
            g.transferToHost(DataTransferMode.EVERY_EXECUTION, oa, la);
            try (ExecutionPlan plan = new ExecutionPlan(g.snapshot()).withGridScheduler(grids)
                    .withExecutor(new TaskGraphExecutor(device, compiler, false))) {
                plan.execute();
            }
            return new float[][] {oa.toHeapArray(), la.toHeapArray()};
        } finally {
            device.close();
        }
    }

    private static float[] gaussian(SplittableRandom rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextGaussian();
        }
        return a;
    }
}
