package io.sparge4j.engine.device.opencl;

import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.DeviceKernel;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelCache;
import io.sparge4j.engine.compute.KernelParameter;
import io.sparge4j.engine.jit.KernelJit;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.selftest.PortabilityKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.NativeArray;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** PortabilityKernels.saxpy through the kernel JIT on PoCL, against a float64 reference computed in Java. */
class OpenClJitSaxpyTest {
    private static final int GROUP = 64;

    @Test
    void saxpyMatchesJavaWithinOneUlp() throws ReflectiveOperationException {
        assumeTrue(OpenClDevice.list().stream().anyMatch(d -> d.platformName().equals("Portable Computing Language")),
                () -> "OpenCL test skipped: no PoCL platform; found " + OpenClDevice.list());
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
        float[] y0 = y.toHeapArray();
        Object[] args = {new KernelContext(), alpha, x, y, n};

        try (OpenClDevice device = OpenClDevice.open("portable", null, new KernelCache(null))) {
            GeneratedKernel generated = KernelJit.shared().compile(saxpy, args, Dialect.OPENCL, device.features(),
                    GROUP);
            DeviceKernel kernel = device.load(generated);
            assertSame(kernel, device.load(generated), "loading the same key twice gives the loaded kernel");

            Map<Integer, DeviceBuffer> buffers = new HashMap<>();
            List<Object> arguments = new ArrayList<>();
            for (KernelParameter p : generated.parameters()) {
                Object arg = args[p.javaIndex()];
                switch (p.role()) {
                    case BUFFER -> arguments.add(buffers.computeIfAbsent(p.javaIndex(), j -> {
                        NativeArray array = (NativeArray) arg;
                        DeviceBuffer b = device.allocate(array.getNumBytesOfSegment());
                        device.copyToDevice(array.getSegment(), b, 0);
                        return b;
                    }));
                    case BUFFER_SIZE -> arguments.add(((NativeArray) arg).getSize());
                    case SCALAR -> arguments.add(arg instanceof Boolean b ? (b ? 1 : 0) : arg);
                }
            }
            long global = Math.ceilDiv(n, GROUP) * (long) GROUP;
            long nanos = device.timeNanos(() -> device.launch(kernel, new long[] {global}, new int[] {GROUP},
                    arguments));
            assertTrue(nanos > 0, "kernel time " + nanos + " ns");
            device.copyToHost(buffers.get(3), 0, y.getSegment());

            float[] xs = x.toHeapArray();
            for (int i = 0; i < n; i++) {
                double expected = (double) alpha * xs[i] + y0[i];
                float got = y.get(i);
                if (Math.abs(got - expected) > Math.ulp((float) expected)) {
                    fail("y[" + i + "] = " + got + ", expected " + expected + " within 1 ulp");
                }
            }

            // The launcher's checks, on a real kernel.
            assertThrows(IllegalArgumentException.class, () -> device.launch(kernel, new long[] {global + 1},
                    new int[] {GROUP}, arguments));
            List<Object> wrongScalar = new ArrayList<>(arguments);
            int alphaSlot = indexOfJava(generated, 1);
            wrongScalar.set(alphaSlot, (double) alpha);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> device.launch(kernel, new long[] {global}, new int[] {GROUP}, wrongScalar));
            assertTrue(e.getMessage().contains("expected Float"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> device.launch(kernel, new long[] {global},
                    new int[] {GROUP}, arguments.subList(1, arguments.size())));
            buffers.values().forEach(DeviceBuffer::close);
        }
    }

    private static int indexOfJava(GeneratedKernel kernel, int javaIndex) {
        for (int i = 0; i < kernel.parameters().size(); i++) {
            if (kernel.parameters().get(i).javaIndex() == javaIndex
                    && kernel.parameters().get(i).role() == KernelParameter.Role.SCALAR) {
                return i;
            }
        }
        throw new AssertionError("no scalar parameter for Java argument " + javaIndex + " in " + kernel.parameters());
    }
}
