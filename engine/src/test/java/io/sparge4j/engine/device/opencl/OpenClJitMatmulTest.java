package io.sparge4j.engine.device.opencl;

import io.sparge4j.engine.compute.KernelCache;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.selftest.PortabilityKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Two-dimensional launches on PoCL through the JIT: the tiled GEMM (local memory, barriers, 16x16 work-groups)
 * and the loop-style matmul (grid-stride {@code @Parallel} loops on a grid smaller than the matrix), each
 * against a float64 product. Tolerance: 1e-5 of the sum of |a||b| over the dot product, plus 1e-6.
 */
class OpenClJitMatmulTest {
    @Test
    void tiledGemmAtOddSizesMatchesFloat64() throws ReflectiveOperationException {
        OpenClJitSaxpyTest.assumePocl();
        int m = 37;
        int n = 53;
        int k = 29;
        Random random = new Random(7);
        FloatArray a = random(m * k, random);
        FloatArray b = random(k * n, random);
        FloatArray c = new FloatArray(m * n);
        c.init(Float.NaN); // every element must be written
        int tile = PortabilityKernels.TILE;
        Object[] args = {new KernelContext(), a, b, c, m, n, k};
        try (OpenClDevice device = OpenClDevice.open("portable", null, new KernelCache(null));
                JitLaunch run = new JitLaunch(device, PortabilityKernels.class.getMethod("gemmTiled",
                        KernelContext.class, FloatArray.class, FloatArray.class, FloatArray.class, int.class,
                        int.class, int.class), args, tile * tile)) {
            run.launch(new long[] {Math.ceilDiv(n, tile) * (long) tile, Math.ceilDiv(m, tile) * (long) tile},
                    new int[] {tile, tile});
            run.download();
        }
        check(a, b, c, m, n, k);
    }

    @Test
    void loopStyleMatmulOnASmallerGridMatchesFloat64() throws ReflectiveOperationException {
        OpenClJitSaxpyTest.assumePocl();
        int n = 45;
        Random random = new Random(8);
        FloatArray a = random(n * n, random);
        FloatArray b = random(n * n, random);
        FloatArray c = new FloatArray(n * n);
        c.init(Float.NaN);
        Object[] args = {a, b, c, n};
        try (OpenClDevice device = OpenClDevice.open("portable", null, new KernelCache(null));
                JitLaunch run = new JitLaunch(device, PortabilityKernels.class.getMethod("matmulLoops",
                        FloatArray.class, FloatArray.class, FloatArray.class, int.class), args, 64)) {
            run.launch(new long[] {16, 8}, new int[] {8, 8});
            run.download();
        }
        check(a, b, c, n, n, n);
    }

    private static FloatArray random(int size, Random random) {
        FloatArray out = new FloatArray(size);
        for (int i = 0; i < size; i++) {
            out.set(i, (float) random.nextGaussian());
        }
        return out;
    }

    private static void check(FloatArray a, FloatArray b, FloatArray c, int m, int n, int k) {
        for (int row = 0; row < m; row++) {
            for (int col = 0; col < n; col++) {
                double exact = 0;
                double magnitude = 0;
                for (int p = 0; p < k; p++) {
                    double term = (double) a.get(row * k + p) * b.get(p * n + col);
                    exact += term;
                    magnitude += Math.abs(term);
                }
                float got = c.get(row * n + col);
                if (!(Math.abs(got - exact) <= 1e-5 * magnitude + 1e-6)) {
                    fail("c[" + row + "][" + col + "] = " + got + ", expected " + exact);
                }
            }
        }
    }
}
