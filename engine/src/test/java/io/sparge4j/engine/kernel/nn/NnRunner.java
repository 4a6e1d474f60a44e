package io.sparge4j.engine.kernel.nn;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.execution.ExecutionBackends;
import io.sparge4j.engine.execution.TaskGraphExecutor;
import io.sparge4j.kernels.ExecutionPlan;
import io.sparge4j.kernels.ExecutionResult;
import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.TaskProfile;
import io.sparge4j.kernels.WorkerGrid;
import io.sparge4j.kernels.types.arrays.FloatArray;

import java.util.Locale;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Runs the nn kernels' task graphs on one backend ("emulator", or "opencl", which is PoCL on CI: skipped with a
 * visible reason when no OpenCL device is found), and the comparisons the tests share.
 */
final class NnRunner implements AutoCloseable {
    /** The backends every test runs on. */
    static final String[] BACKENDS = {"emulator", "opencl"};

    final String backend;
    private final BackendSelection selection;
    private final ComputeDevice device;

    private NnRunner(String backend) {
        this.backend = backend;
        this.selection = BackendSelection.withOpenClDeviceFromEnvironment(backend);
        this.device = ExecutionBackends.openDevice(selection);
    }

    /**
     * @param backend "emulator" or "opencl"
     * @return a runner; for "opencl" without any OpenCL device the test is skipped, with the reason
     */
    static NnRunner open(String backend) {
        if (backend.equals("opencl")) {
            assumeTrue(!OpenClDevice.list().isEmpty(), "OpenCL test skipped: no OpenCL device found; install PoCL "
                    + "with apt-get install pocl-opencl-icd ocl-icd-libopencl1");
        }
        return new NnRunner(backend);
    }

    /** @return whether this runs on the emulator (one virtual thread per work-item: keep sizes small) */
    boolean emulator() {
        return backend.equals("emulator");
    }

    /**
     * Runs the graph once, each task on its grid ({@code grids} alternate task names, unqualified, and grids).
     *
     * @return the result; its device buffers are freed, the host arrays hold what was transferred back
     */
    ExecutionResult run(TaskGraph graph, Object... grids) {
        ExecutionResult result;
        try (ExecutionPlan plan = plan(graph, grids)) {
            result = plan.execute();
        }
        for (TaskProfile p : result.tasks()) {
            assertTrue(p.kernelNanos() > 0, p.taskName() + " did not run");
        }
        return result;
    }

    /**
     * A plan of the graph on this runner's device, each task on its grid ({@code grids} alternate task names and
     * grids), for graphs executed more than once; the caller closes it.
     */
    ExecutionPlan plan(TaskGraph graph, Object... grids) {
        GridScheduler scheduler = new GridScheduler();
        for (int i = 0; i < grids.length; i += 2) {
            scheduler.addWorkerGrid(graph.getTaskGraphName() + "." + grids[i], (WorkerGrid) grids[i + 1]);
        }
        return new ExecutionPlan(graph.snapshot()).withGridScheduler(scheduler)
                .withExecutor(new TaskGraphExecutor(device, ExecutionBackends.compiler(selection), false));
    }

    @Override
    public void close() {
        device.close();
    }

    static float[] gaussian(Random rnd, int n, double mean, double std) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (mean + std * rnd.nextGaussian());
        }
        return v;
    }

    /** An output array full of NaN, so that an element a kernel does not write fails the comparison. */
    static FloatArray poisoned(int n) {
        FloatArray a = new FloatArray(n);
        a.init(Float.NaN);
        return a;
    }

    static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }

    /**
     * Asserts {@code |actual - expected| <= atol + rtol * |expected|} element-wise (NaN fails).
     *
     * @return the largest |actual - expected|
     */
    static double assertClose(float[] expected, float[] actual, double rtol, double atol, String what) {
        return assertClose(toDouble(expected), actual, rtol, atol, what);
    }

    static double assertClose(double[] expected, float[] actual, double rtol, double atol, String what) {
        double[] atols = new double[expected.length];
        java.util.Arrays.fill(atols, atol);
        return assertClose(expected, actual, rtol, atols, what);
    }

    /** As {@link #assertClose(double[], float[], double, double, String)} with an absolute tolerance per element. */
    static double assertClose(double[] expected, float[] actual, double rtol, double[] atol, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            double diff = Math.abs(actual[i] - expected[i]);
            if (!(diff <= atol[i] + rtol * Math.abs(expected[i]))) {
                fail(String.format(Locale.ROOT, "%s: element %d is %.9g, expected %.9g (|diff| %.3g > atol %.2g + "
                        + "rtol %.1g * |expected|)", what, i, actual[i], expected[i], diff, atol[i], rtol));
            }
            worst = Math.max(worst, diff);
        }
        System.out.printf(Locale.ROOT, "%s: max |diff| %.3g over %d elements%n", what, worst, expected.length);
        return worst;
    }
}
