package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.device.cuda.CudaDevice;
import io.sparge4j.kernels.KernelMath;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * KernelMath.exp2Ftz on a CUDA GPU ({@code ex2.approx.ftz.f32} through NVRTC) against float64 2^x with the flushed
 * range exactly 0, as on the JVM and OpenCL ({@code KernelJitOpenClTest}); skipped where there is no CUDA device.
 */
class Exp2FtzTest {
    /** exp2's 3 ulp at worst (ex2.approx.ftz: 2 ulp over the normal range). */
    static final double RELATIVE = 4e-7;

    /** Fresh exponents over [-150, 20), with the edges -126 (2^-126 is normal), just below it, and -inf. */
    static float[] exponents(long seed, int n) {
        Random rnd = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (rnd.nextDouble() * 170 - 150);
        }
        x[0] = -126f;
        x[1] = Math.nextDown(-126f);
        x[2] = Float.NEGATIVE_INFINITY;
        return x;
    }

    /** 2^x in float64, 0 where x < -126. */
    static double reference(float x) {
        return x < -126f ? 0 : Math.pow(2, x);
    }

    /** Exactly 0 in the flushed range, else within {@link #RELATIVE} of the reference. */
    static void assertFlushed(float[] x, float[] actual, String where) {
        for (int i = 0; i < x.length; i++) {
            double expected = reference(x[i]);
            boolean ok = x[i] < -126f ? actual[i] == 0f : Math.abs(actual[i] - expected) <= RELATIVE * expected;
            if (!ok) {
                fail("exp2Ftz(" + x[i] + ") on " + where + " = " + actual[i] + ", expected " + expected);
            }
        }
    }

    @Test
    void theJvmFlushesTheSameRange() {
        float[] x = exponents(21, 600);
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = KernelMath.exp2Ftz(x[i]);
        }
        assertFlushed(x, y, "the JVM");
        assertEquals(0x1p-126f, KernelMath.exp2Ftz(-126f));
    }

    @Test
    void cudaFlushesTheSameRange() {
        assumeTrue(CudaDevice.deviceCount() > 0, "no CUDA device: skipped");
        float[] x = exponents(22, 600);
        try (CudaDevice device = CudaDevice.open(0); DeviceBuffer in = device.allocate(4L * x.length);
                DeviceBuffer out = device.allocate(4L * x.length)) {
            GeneratedKernel k = KernelJit.shared().compile(KernelJitRefusalTest.kernel("exponentialsFlushed"), null,
                    Dialect.CUDA, device.features(), 64);
            device.copyToDevice(MemorySegment.ofArray(x), in, 0);
            device.launch(device.load(k), new long[] {640}, new int[] {64}, k.parameters().stream()
                    .map(p -> switch (p.role()) {
                        case BUFFER -> (Object) (p.javaIndex() == 1 ? in : out);
                        case BUFFER_SIZE -> (Object) x.length;
                        case SCALAR -> (Object) x.length;
                    }).toList());
            float[] y = new float[x.length];
            device.copyToHost(out, 0, MemorySegment.ofArray(y));
            assertFlushed(x, y, device.features().identity());
        }
    }
}
