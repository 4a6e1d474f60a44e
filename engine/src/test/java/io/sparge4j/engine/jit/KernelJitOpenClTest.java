package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.DeviceKernel;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelParameter;
import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.kernels.selftest.PortabilityKernels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.MemorySegment;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Builds every generated OpenCL kernel (PoCL-like features: all fallbacks) on an OpenCL device (a GPU if there is
 * one, else the first device), and runs some end to end against float64 references on fresh seeded random inputs.
 * Skipped with a reason when there is no OpenCL device.
 */
class KernelJitOpenClTest {
    private static OpenClTestDevice cl;

    @BeforeAll
    static void open() {
        cl = OpenClTestDevice.open();
    }

    @AfterAll
    static void close() {
        cl.close();
    }

    private static OpenClDevice cl() {
        return cl.device("build generated kernels on");
    }

    static List<Method> kernels() {
        return KernelJitCompileTest.kernels();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("kernels")
    void generatedOpenClBuilds(Method m) {
        load(KernelJitCompileTest.generate(m, Dialect.OPENCL, KernelJitCompileTest.POCL));
    }

    /** Builds {@code k}; a failure carries the build log and the numbered source. */
    private static DeviceKernel load(GeneratedKernel k) {
        try {
            return cl().load(k);
        } catch (BackendException e) {
            throw new AssertionError(e.getMessage() + "\nsource:\n" + KernelJitCompileTest.numbered(k.source()), e);
        }
    }

    private static GeneratedKernel generate(String name, Object... javaArgs) {
        for (Method m : kernels()) {
            if (m.getName().equals(name)) {
                return KernelJit.shared().compile(m, javaArgs, Dialect.OPENCL, KernelJitCompileTest.POCL, 64);
            }
        }
        throw new IllegalArgumentException(name);
    }

    /** Launches with arguments by Java parameter index: float[]/int[] arrays become buffers, scalars pass by value. */
    private static Map<Integer, DeviceBuffer> launch(GeneratedKernel k, long global, int local, Object... javaArgs) {
        return launch(k, new long[] {global}, new int[] {local}, javaArgs);
    }

    private static Map<Integer, DeviceBuffer> launch(GeneratedKernel k, long[] global, int[] local,
            Object... javaArgs) {
        Map<Integer, DeviceBuffer> buffers = new HashMap<>();
        List<Object> args = new ArrayList<>();
        for (KernelParameter p : k.parameters()) {
            Object a = javaArgs[p.javaIndex()];
            switch (p.role()) {
                case BUFFER -> args.add(buffers.computeIfAbsent(p.javaIndex(), i -> cl.upload(switch (a) {
                    case float[] f -> MemorySegment.ofArray(f);
                    case short[] h -> MemorySegment.ofArray(h);
                    default -> MemorySegment.ofArray((int[]) a);
                })));
                case BUFFER_SIZE -> args.add(a instanceof float[] f ? f.length : ((int[]) a).length);
                case SCALAR -> args.add(a);
            }
        }
        cl().launch(load(k), global, local, args);
        return buffers;
    }

    private static float[] read(DeviceBuffer buffer, int n) {
        float[] out = new float[n];
        cl.read(buffer, MemorySegment.ofArray(out));
        return out;
    }

    private static float[] random(Random rnd, int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (rnd.nextFloat() * 2 - 1) * scale;
        }
        return v;
    }

    private static void assertClose(double[] expected, float[] actual, double abs, double rel, String what) {
        assertEquals(expected.length, actual.length, what + " length");
        for (int i = 0; i < expected.length; i++) {
            double tol = abs + rel * Math.abs(expected[i]);
            if (!(Math.abs(expected[i] - actual[i]) <= tol)) {
                fail(what + "[" + i + "] = " + actual[i] + ", expected " + expected[i] + " within " + tol);
            }
        }
    }

    @Test
    void saxpyMatchesFloat64() {
        cl();
        Random rnd = new Random(11);
        int n = 1000;
        float alpha = 1.75f;
        float[] x = random(rnd, n, 3);
        float[] y = random(rnd, n, 3);
        double[] expected = new double[n];
        for (int i = 0; i < n; i++) {
            expected[i] = (double) alpha * x[i] + y[i];
        }
        GeneratedKernel k = generate("saxpy", null, alpha, null, null, n);
        Map<Integer, DeviceBuffer> b = launch(k, 1024, 64, null, alpha, x, y, n);
        // one fused rounding: within half an ulp of the float64 result
        assertClose(expected, read(b.get(3), n), 0, 1e-7, "saxpy y");
    }

    @Test
    void softmaxRowsMatchesFloat64() {
        cl();
        Random rnd = new Random(12);
        int rows = 7;
        int cols = 100;
        float[] input = random(rnd, rows * cols, 5);
        double[] expected = new double[rows * cols];
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < cols; j++) {
                max = Math.max(max, input[r * cols + j]);
            }
            double sum = 0;
            for (int j = 0; j < cols; j++) {
                sum += Math.exp(input[r * cols + j] - max);
            }
            for (int j = 0; j < cols; j++) {
                expected[r * cols + j] = Math.exp(input[r * cols + j] - max) / sum;
            }
        }
        GeneratedKernel k = KernelJit.shared().compile(method("softmaxRows"), null, Dialect.OPENCL,
                KernelJitCompileTest.POCL, PortabilityKernels.WARP);
        float[] output = new float[rows * cols];
        Map<Integer, DeviceBuffer> b = launch(k, (long) rows * PortabilityKernels.WARP, PortabilityKernels.WARP,
                null, input, output, rows, cols);
        // float exp (a few ulp) and a 100-term float sum: relative error well under 1e-5
        assertClose(expected, read(b.get(2), rows * cols), 1e-9, 1e-5, "softmax");
    }

    @Test
    void windowSumWithConstantWidthMatchesFloat64() {
        cl();
        Random rnd = new Random(13);
        int n = 300;
        int width = 5;
        float[] x = random(rnd, n, 2);
        double[] expected = new double[n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < width && i + j < n; j++) {
                expected[i] += x[i + j];
            }
        }
        GeneratedKernel k = generate("windowSum", null, null, null, width, n);
        Map<Integer, DeviceBuffer> b = launch(k, 320, 64, null, x, new float[n], width, n);
        assertClose(expected, read(b.get(2), n), 1e-6, 1e-6, "windowSum");
    }

    @Test
    void matmulLoopsCoversEveryElementWithAnyGrid() {
        cl();
        Random rnd = new Random(14);
        int n = 37;
        float[] a = random(rnd, n * n, 1);
        float[] bm = random(rnd, n * n, 1);
        double[] expected = new double[n * n];
        for (int r = 0; r < n; r++) {
            for (int c = 0; c < n; c++) {
                for (int p = 0; p < n; p++) {
                    expected[r * n + c] += (double) a[r * n + p] * bm[p * n + c];
                }
            }
        }
        GeneratedKernel k = generate("matmulLoops", null, null, null, n);
        assertEquals(2, k.parallelDimensions());
        // a 1D grid smaller than the matrix: the grid-stride loops still cover all of C
        Map<Integer, DeviceBuffer> b = launch(k, 64, 32, a, bm, new float[n * n], n);
        assertClose(expected, read(b.get(2), n * n), 1e-5, 1e-5, "matmulLoops");
    }

    @Test
    void histogramCountsExactly() {
        cl();
        Random rnd = new Random(15);
        int n = 1000;
        int[] values = new int[n];
        int[] expected = new int[16];
        for (int i = 0; i < n; i++) {
            values[i] = rnd.nextInt(16);
            expected[values[i]]++;
        }
        GeneratedKernel k = generate("histogram", null, null, null, n);
        Map<Integer, DeviceBuffer> b = launch(k, 1024, 64, null, values, new int[16], n);
        int[] bins = new int[16];
        cl.read(b.get(2), MemorySegment.ofArray(bins));
        assertArrayEquals(expected, bins);
    }

    @Test
    void reduceSumMatchesFloat64PerGroup() {
        cl();
        Random rnd = new Random(16);
        int n = 1000;
        int group = 128;
        int groups = (n + group - 1) / group;
        float[] input = random(rnd, n, 1);
        double[] expected = new double[groups];
        for (int i = 0; i < n; i++) {
            expected[i / group] += input[i];
        }
        GeneratedKernel k = KernelJit.shared().compile(method("reduceSum"), null, Dialect.OPENCL,
                KernelJitCompileTest.POCL, group);
        Map<Integer, DeviceBuffer> b = launch(k, (long) groups * group, group, null, input, new float[groups], n);
        assertClose(expected, read(b.get(2), groups), 1e-5, 1e-5, "reduceSum");
    }

    @Test
    void geluScaledMatchesFloat64() {
        cl();
        Random rnd = new Random(17);
        int n = 500;
        float scale = 0.5f;
        float[] x = random(rnd, n, 4);
        double[] expected = new double[n];
        for (int i = 0; i < n; i++) {
            double v = x[i];
            expected[i] = 0.5 * v * (1 + Math.tanh(0.7978845608 * (v + 0.044715 * v * v * v))) * scale;
        }
        GeneratedKernel k = generate("geluScaled", null, null, null, scale, n);
        Map<Integer, DeviceBuffer> b = launch(k, 512, 64, null, x, new float[n], scale, n);
        assertClose(expected, read(b.get(2), n), 1e-6, 1e-5, "gelu");
    }


    /**
     * KernelMath.exp2 becomes OpenCL's exp2 (CUDA: exp2f; see KernelJitCompileTest) and agrees with float64 2^x
     * within OpenCL's 3 ulp for exp2 (4e-7 relative is 3.4 ulp at worst); exp alongside, within its 3 ulp too.
     */
    @Test
    void exp2AndExpMatchFloat64() {
        cl();
        Random rnd = new Random(19);
        int n = 500;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (rnd.nextDouble() * 60 - 40);
        }
        double[] two = new double[n];
        double[] e = new double[n];
        for (int i = 0; i < n; i++) {
            two[i] = Math.pow(2, x[i]);
            e[i] = Math.exp(x[i]);
        }
        GeneratedKernel k = KernelJit.shared().compile(KernelJitRefusalTest.kernel("exponentials"), null,
                Dialect.OPENCL, KernelJitCompileTest.POCL, 64);
        assertTrue(k.source().contains("exp2("), k.source());
        String cuda = KernelJit.shared().compile(KernelJitRefusalTest.kernel("exponentials"), null, Dialect.CUDA,
                KernelJitCompileTest.H200, 64).source();
        assertTrue(cuda.contains("exp2f(") && cuda.contains("expf("), cuda);
        Map<Integer, DeviceBuffer> b = launch(k, 512, 64, null, x, new float[n], new float[n], n);
        assertClose(two, read(b.get(2), n), 0, 4e-7, "exp2");
        assertClose(e, read(b.get(3), n), 0, 4e-7, "exp");
    }

    /**
     * KernelMath.exp2Ftz on OpenCL: exp2 with x < -126 giving exactly 0, as on the JVM and on CUDA (whose source
     * carries ex2.approx.ftz.f32; {@link Exp2FtzTest} runs it), elsewhere within exp2's 3 ulp of float64.
     */
    @Test
    void exp2FtzFlushesSubnormalResultsAsEveryBackendDoes() {
        cl();
        float[] x = Exp2FtzTest.exponents(20, 600);
        GeneratedKernel k = KernelJit.shared().compile(KernelJitRefusalTest.kernel("exponentialsFlushed"), null,
                Dialect.OPENCL, KernelJitCompileTest.POCL, 64);
        String cuda = KernelJit.shared().compile(KernelJitRefusalTest.kernel("exponentialsFlushed"), null,
                Dialect.CUDA, KernelJitCompileTest.H200, 64).source();
        assertTrue(cuda.contains("ex2.approx.ftz.f32"), cuda);
        Map<Integer, DeviceBuffer> b = launch(k, 640, 64, null, x, new float[x.length], x.length);
        Exp2FtzTest.assertFlushed(x, read(b.get(2), x.length), "OpenCL");
    }

    @Test
    void javaIntegerAndComparisonSemanticsHoldBitForBit() {
        cl();
        Random rnd = new Random(18);
        int n = 200;
        float[] x = random(rnd, n, 1e3f);
        float[] special = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 3e9f, -3e9f, -0f, 0f, 0.5f,
            -0.5f, 1e-40f, 2.5e9f, -2.147483648e9f, Float.NaN, 7f, 7f};
        System.arraycopy(special, 0, x, 0, special.length);
        System.arraycopy(special, 0, x, n - special.length, special.length);
        int[] expected = new int[n * 16];
        io.sparge4j.kernels.types.arrays.FloatArray hx = io.sparge4j.kernels.types.arrays.FloatArray.fromArray(x);
        io.sparge4j.kernels.types.arrays.IntArray hout = new io.sparge4j.kernels.types.arrays.IntArray(n * 16);
        for (int i = 0; i < n; i++) {
            JitTestKernels.semantics(new WorkItem(i), hx, hout, n);
        }
        System.arraycopy(hout.toHeapArray(), 0, expected, 0, expected.length);
        GeneratedKernel k = KernelJit.shared().compile(KernelJitRefusalTest.kernel("semantics"), null,
                Dialect.OPENCL, KernelJitCompileTest.POCL, 64);
        Map<Integer, DeviceBuffer> b = launch(k, 256, 64, null, x, new int[n * 16], n);
        int[] actual = new int[n * 16];
        cl.read(b.get(2), MemorySegment.ofArray(actual));
        for (int i = 0; i < actual.length; i++) {
            if (expected[i] != actual[i]) {
                fail("semantics result " + (i % 16) + " of element " + (i / 16) + " (x = " + x[i / 16] + ", g = "
                        + x[n - 1 - i / 16] + "): device " + actual[i] + ", Java " + expected[i] + "\n"
                        + k.source());
            }
        }
    }

    @Test
    void halfAndBf16ConversionsMatchJavaBitForBit() {
        cl();
        Random rnd = new Random(21);
        int n = 300;
        float[] values = random(rnd, n, 70000f); // past f16's range: overflow to infinity must match too
        values[0] = Float.NaN;
        values[1] = 1e-6f;
        values[2] = -0f;
        var h = io.sparge4j.kernels.types.arrays.HalfFloatArray.fromArray(values);
        var bf = io.sparge4j.kernels.types.arrays.BFloat16Array.fromArray(values);
        short[] hBits = new short[n];
        short[] bBits = new short[n];
        for (int i = 0; i < n; i++) {
            hBits[i] = h.getHalfBits(i);
            bBits[i] = bf.getHalfBits(i);
        }
        var out = new io.sparge4j.kernels.types.arrays.FloatArray(n);
        for (int i = 0; i < n; i++) {
            JitTestKernels.halfAndBf16(new WorkItem(i), h, bf, out, n);
        }
        GeneratedKernel k = KernelJit.shared().compile(KernelJitRefusalTest.kernel("halfAndBf16"), null,
                Dialect.OPENCL, KernelJitCompileTest.POCL, 64);
        Map<Integer, DeviceBuffer> b = launch(k, 320, 64, null, hBits, bBits, new float[n], n);
        float[] sums = read(b.get(3), n);
        short[] hOut = new short[n];
        short[] bOut = new short[n];
        cl.read(b.get(1), MemorySegment.ofArray(hOut));
        cl.read(b.get(2), MemorySegment.ofArray(bOut));
        for (int i = 0; i < n; i++) {
            assertEquals(Float.floatToIntBits(out.get(i)), Float.floatToIntBits(sums[i]), "sum " + i);
            assertEquals(h.getHalfBits(i), hOut[i], "f16 bits " + i + " of " + values[i]);
            assertEquals(bf.getHalfBits(i), bOut[i], "bf16 bits " + i + " of " + values[i]);
        }
    }

    @Test
    void threeParallelLoopsCoverEverythingWithASmallGrid() {
        cl();
        int n = 9;
        int m = 3;
        GeneratedKernel k = KernelJit.shared().compile(KernelJitRefusalTest.kernel("fill3"), null, Dialect.OPENCL,
                KernelJitCompileTest.POCL, 4);
        assertEquals(3, k.parallelDimensions());
        Map<Integer, DeviceBuffer> b = launch(k, new long[] {4, 2, 2}, new int[] {2, 1, 1}, new float[n * n * n],
                n, m);
        float[] y = read(b.get(0), n * n * n);
        for (int a = 0; a < n; a++) {
            for (int bb = 0; bb < n; bb++) {
                for (int c = 0; c < n; c++) {
                    assertEquals(a * 10000 + bb * 100 + c + m, y[(a * n + bb) * n + c], "y[" + a + "][" + bb + "]["
                            + c + "]");
                }
            }
        }
    }

    @Test
    void controlFlowMatchesJava() {
        cl();
        Random rnd = new Random(22);
        int n = 200;
        float[] x = random(rnd, n, 2);
        x[3] = Float.NaN;
        var out = new io.sparge4j.kernels.types.arrays.IntArray(n * 8);
        for (int i = 0; i < n; i++) {
            JitTestKernels.controlFlow(new WorkItem(i), io.sparge4j.kernels.types.arrays.FloatArray.fromArray(x), out,
                    n);
        }
        GeneratedKernel k = KernelJit.shared().compile(KernelJitRefusalTest.kernel("controlFlow"), null,
                Dialect.OPENCL, KernelJitCompileTest.POCL, 64);
        Map<Integer, DeviceBuffer> b = launch(k, 256, 64, null, x, new int[n * 8], n);
        int[] actual = new int[n * 8];
        cl.read(b.get(2), MemorySegment.ofArray(actual));
        for (int i = 0; i < actual.length; i++) {
            if (out.get(i) != actual[i]) {
                fail("controlFlow result " + (i % 8) + " of element " + (i / 8) + ": device " + actual[i] + ", Java "
                        + out.get(i) + "\n" + k.source());
            }
        }
    }

    @Test
    void doubleKernelBuildsWithFp64Pragma() {
        GeneratedKernel k = KernelJit.shared().compile(KernelJitRefusalTest.kernel("usesDouble"), null,
                Dialect.OPENCL, KernelJitCompileTest.POCL, 64);
        load(k);
    }

    /** A work-item of a 1D launch, for running a kernel method in plain Java. */
    private static final class WorkItem extends io.sparge4j.kernels.KernelContext {
        WorkItem(int i) {
            super(new int[] {i, 0, 0}, new int[] {i % 64, 0, 0}, new int[] {i / 64, 0, 0}, new int[] {64, 1, 1},
                    new int[] {256, 1, 1});
        }
    }

    @Test
    void sgemmMatchesFloat64WithEdges() {
        cl();
        Random rnd = new Random(19);
        int m = 130;
        int n = 70;
        int kk = 20;
        float[] a = random(rnd, m * kk, 1);
        float[] bm = random(rnd, kk * n, 1);
        double[] expected = new double[m * n];
        for (int r = 0; r < m; r++) {
            for (int c = 0; c < n; c++) {
                for (int p = 0; p < kk; p++) {
                    expected[r * n + c] += (double) a[r * kk + p] * bm[p * n + c];
                }
            }
        }
        GeneratedKernel k = KernelJit.shared().compile(method("sgemm"), null, Dialect.OPENCL,
                KernelJitCompileTest.POCL, 256);
        long gx = (n + 127) / 128 * 16;
        long gy = (m + 127) / 128 * 16;
        Map<Integer, DeviceBuffer> b = launch(k, new long[] {gx, gy}, new int[] {16, 16}, null, a, bm,
                new float[m * n], m, n, kk);
        // 20 float FMAs per element: relative error within 20 ulp of the magnitude sum
        assertClose(expected, read(b.get(3), m * n), 1e-5, 1e-5, "sgemm");
    }

    @Test
    void mmaGemmBF16MatchesFloat64WithEdges() {
        cl();
        Random rnd = new Random(20);
        int m = 100;
        int n = 90;
        int kk = 40;
        short[] a = new short[m * kk];
        short[] bt = new short[n * kk];
        for (int i = 0; i < a.length; i++) {
            a[i] = io.sparge4j.kernels.KernelMath.floatToBFloat16(rnd.nextFloat() * 2 - 1);
        }
        for (int i = 0; i < bt.length; i++) {
            bt[i] = io.sparge4j.kernels.KernelMath.floatToBFloat16(rnd.nextFloat() * 2 - 1);
        }
        double[] expected = new double[m * n];
        for (int r = 0; r < m; r++) {
            for (int c = 0; c < n; c++) {
                for (int p = 0; p < kk; p++) {
                    expected[r * n + c] += (double) io.sparge4j.kernels.KernelMath.bfloat16ToFloat(a[r * kk + p])
                            * io.sparge4j.kernels.KernelMath.bfloat16ToFloat(bt[c * kk + p]);
                }
            }
        }
        GeneratedKernel k = KernelJit.shared().compile(method("mmaGemmBF16"), null, Dialect.OPENCL,
                KernelJitCompileTest.POCL, 256);
        // one 128x128 block covers the matrix: a single work-group of 256
        Map<Integer, DeviceBuffer> b = launch(k, 256, 256, null, a, bt, new float[m * n], m, n, kk);
        // bf16 products are exact in float; 40 float adds: within 1e-5 relative
        assertClose(expected, read(b.get(3), m * n), 1e-5, 1e-5, "mmaGemmBF16");
    }

    private static Method method(String name) {
        return kernels().stream().filter(m -> m.getName().equals(name)).findFirst().orElseThrow();
    }
}
