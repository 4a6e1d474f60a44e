package io.sparge4j.engine.device.opencl;

import io.sparge4j.engine.compute.KernelCache;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.selftest.PortabilityKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.reflect.Method;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** PortabilityKernels.saxpy through the kernel JIT on PoCL, against a float64 reference computed in Java. */
class OpenClJitSaxpyTest {
    private static final int GROUP = 64;

    static void assumePocl() {
        assumeTrue(OpenClDevice.list().stream().anyMatch(d -> d.platformName().equals("Portable Computing Language")),
                () -> "OpenCL test skipped: no PoCL platform; found " + OpenClDevice.list()
                        + "; install it with apt-get install pocl-opencl-icd ocl-icd-libopencl1");
    }

    @Test
    void aKernelFromTheBinaryCacheRunsLikeTheBuiltOne(@TempDir Path folder) throws ReflectiveOperationException {
        assumePocl();
        Method saxpy = PortabilityKernels.class.getMethod("saxpy", KernelContext.class, float.class, FloatArray.class,
                FloatArray.class, int.class);
        int n = 1000;
        float[] results = null;
        for (int round = 0; round < 2; round++) {
            Random random = new Random(9); // the same inputs both rounds
            FloatArray x = new FloatArray(n);
            FloatArray y = new FloatArray(n);
            for (int i = 0; i < n; i++) {
                x.set(i, (float) random.nextGaussian());
                y.set(i, (float) random.nextGaussian());
            }
            float[] y0 = y.toHeapArray();
            // A new cache over the same folder stands for a new process.
            try (OpenClDevice device = OpenClDevice.open("portable", null, new KernelCache(folder));
                    JitLaunch run = new JitLaunch(device, saxpy, new Object[] {new KernelContext(), 1.5f, x, y, n},
                            GROUP)) {
                assertEquals(round == 1, run.kernel.fromDiskCache(), "round " + round);
                assertEquals(round == 1 ? "binary" : "source", run.kernel.binaryKind());
                assertTrue(run.kernel.compileMillis() > 0);
                run.launch(new long[] {Math.ceilDiv(n, GROUP) * (long) GROUP}, new int[] {GROUP});
                run.download();
            }
            float[] got = y.toHeapArray();
            for (int i = 0; i < n; i++) {
                assertTrue(got[i] != y0[i] || x.get(i) == 0, "y[" + i + "] was not updated in round " + round);
            }
            if (results != null) {
                assertArrayEquals(results, got, 0f, "the cached binary computes what the built one did");
            }
            results = got;
        }
    }

    @Test
    void saxpyMatchesJavaWithinOneUlp() throws ReflectiveOperationException {
        assumePocl();
        Method saxpy = PortabilityKernels.class.getMethod("saxpy", KernelContext.class, float.class, FloatArray.class,
                FloatArray.class, int.class);
        Random random = new Random(42);
        int n = 10_007; // not a multiple of the work-group: the kernel's guard matters
        float alpha = 0.5f + random.nextFloat() * 3;
        FloatArray x = new FloatArray(n);
        FloatArray y = new FloatArray(n);
        for (int i = 0; i < n; i++) {
            x.set(i, (float) random.nextGaussian() * 10);
            y.set(i, (float) random.nextGaussian() * 10);
        }
        float[] xs = x.toHeapArray();
        float[] y0 = y.toHeapArray();
        Object[] args = {new KernelContext(), alpha, x, y, n};

        try (OpenClDevice device = OpenClDevice.open("portable", null, new KernelCache(null));
                JitLaunch run = new JitLaunch(device, saxpy, args, GROUP)) {
            assertSame(run.kernel, device.load(run.generated), "loading the same key twice gives the loaded kernel");
            long global = Math.ceilDiv(n, GROUP) * (long) GROUP;
            long nanos = device.timeNanos(() -> run.launch(new long[] {global}, new int[] {GROUP}));
            assertTrue(nanos > 0, "kernel time " + nanos + " ns");
            run.download();
            for (int i = 0; i < n; i++) {
                double expected = (double) alpha * xs[i] + y0[i];
                float got = y.get(i);
                if (Math.abs(got - expected) > Math.ulp((float) expected)) {
                    fail("y[" + i + "] = " + got + ", expected " + expected + " within 1 ulp");
                }
            }

            // The launcher's checks, on a real kernel.
            assertThrows(IllegalArgumentException.class, () -> run.launch(new long[] {global + 1},
                    new int[] {GROUP}));
            List<Object> wrongScalar = new ArrayList<>(run.arguments);
            wrongScalar.set(run.scalarSlot(1), (double) alpha);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> device.launch(run.kernel, new long[] {global}, new int[] {GROUP}, wrongScalar));
            assertTrue(e.getMessage().contains("expected Float"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> device.launch(run.kernel, new long[] {global},
                    new int[] {GROUP}, run.arguments.subList(1, run.arguments.size())));
        }
    }
}
