package io.sparge4j.engine.device.cuda;

import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.DeviceKernel;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelCache;
import io.sparge4j.engine.compute.KernelParameter;
import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.jit.KernelJit;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.selftest.PortabilityKernels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * JIT-generated kernels (PortabilityKernels) compiled by NVRTC, launched on a real GPU and compared with float64
 * references; skipped with the reason where there is no CUDA device or NVRTC. Fresh seeded random inputs.
 */
class CudaDeviceJitTest {
    private static CudaDevice device;
    private static KernelCache cache;
    private static Path cacheDir;
    private static String missing;

    @BeforeAll
    static void open() throws IOException {
        cacheDir = Files.createTempDirectory("sparge-cuda-jit-cache");
        cache = new KernelCache(cacheDir);
        try {
            device = CudaDevice.open(0, cache);
            Nvrtc.load();
        } catch (BackendException e) {
            missing = e.getMessage();
        }
    }

    @AfterAll
    static void close() {
        if (device != null) {
            device.close();
        }
    }

    private static void needDevice() {
        assumeTrue(missing == null, () -> "CUDA JIT test skipped: " + missing);
    }

    private static Method kernel(String name) {
        return Arrays.stream(PortabilityKernels.class.getMethods()).filter(m -> m.getName().equals(name)).findFirst()
                .orElseThrow();
    }

    private static GeneratedKernel generate(String name, Object[] javaArgs, int groupSize) {
        return KernelJit.shared().compile(kernel(name), javaArgs, Dialect.CUDA, device.features(), groupSize);
    }

    /** Builds the launch's arguments from the Java arguments by each parameter's role. */
    private static List<Object> arguments(GeneratedKernel k, Map<Integer, DeviceBuffer> buffers,
            Map<Integer, Integer> elementCounts, Object[] javaArgs) {
        List<Object> out = new ArrayList<>();
        for (KernelParameter p : k.parameters()) {
            out.add(switch (p.role()) {
                case BUFFER -> buffers.get(p.javaIndex());
                case BUFFER_SIZE -> elementCounts.get(p.javaIndex());
                case SCALAR -> javaArgs[p.javaIndex()];
            });
        }
        return out;
    }

    private static float[] gaussian(long seed, int n) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    private DeviceBuffer upload(float[] values) {
        DeviceBuffer b = device.allocate(4L * Math.max(1, values.length));
        device.copyToDevice(MemorySegment.ofArray(values), b, 0);
        return b;
    }

    private float[] download(DeviceBuffer b, int n) {
        float[] out = new float[n];
        device.copyToHost(b, 0, MemorySegment.ofArray(out));
        return out;
    }

    @Test
    void saxpyMatchesFloat64AndIsLoadedOnceThenTakenFromTheDiskCache() {
        needDevice();
        int n = 1_000_003;
        float alpha = 1.7f;
        float[] x = gaussian(1, n);
        float[] y = gaussian(2, n);
        Object[] javaArgs = {new KernelContext(), alpha, null, null, n};
        GeneratedKernel g = generate("saxpy", javaArgs, 256);
        DeviceKernel k = device.load(g);
        assertTrue(k.binaryKind().equals("cubin sm_" + device.computeCapability())
                || k.binaryKind().startsWith("ptx compute_"), k.binaryKind());
        assertFalse(k.fromDiskCache(), "a fresh cache folder cannot hold it");
        assertSame(k, device.load(g), "the second load on one device returns the loaded kernel");
        try (DeviceBuffer bx = upload(x); DeviceBuffer by = upload(y)) {
            long global = (n + 255L) / 256 * 256;
            long nanos = device.timeNanos(() -> device.launch(k, new long[] {global}, new int[] {256},
                    arguments(g, Map.of(2, bx, 3, by), Map.of(2, n, 3, n), javaArgs)));
            assertTrue(nanos > 0, nanos + " ns");
            float[] out = download(by, n);
            for (int i = 0; i < n; i++) {
                double expected = (double) alpha * x[i] + y[i];
                // one fma in float: within one rounding of the exact result
                assertEquals(expected, out[i], Math.ulp((float) expected) + 1e-7, "y[" + i + "]");
            }
        }
        // A second device with the in-memory cache forgotten reads the binary from disk.
        cache.clearMemory();
        try (CudaDevice other = CudaDevice.open(0, cache)) {
            DeviceKernel again = other.load(g);
            assertTrue(again.fromDiskCache(), again.toString());
            assertEquals(k.binaryKind(), again.binaryKind());
        }
    }

    @Test
    void reduceSumUsesLocalMemoryAndBarriers() {
        needDevice();
        int n = 100_000;
        int group = 256;
        float[] input = gaussian(3, n);
        int groups = (n + group - 1) / group;
        Object[] javaArgs = {new KernelContext(), null, null, n};
        GeneratedKernel g = generate("reduceSum", javaArgs, group);
        DeviceKernel k = device.load(g);
        try (DeviceBuffer in = upload(input); DeviceBuffer partial = upload(new float[groups])) {
            device.launch(k, new long[] {(long) groups * group}, new int[] {group},
                    arguments(g, Map.of(1, in, 2, partial), Map.of(1, n, 2, groups), javaArgs));
            float[] out = download(partial, groups);
            for (int gi = 0; gi < groups; gi++) {
                double sum = 0;
                double abs = 0;
                for (int i = gi * group; i < Math.min(n, (gi + 1) * group); i++) {
                    sum += input[i];
                    abs += Math.abs(input[i]);
                }
                // 8 levels of float additions: error below 8 * eps * sum|x|
                assertEquals(sum, out[gi], 8 * Math.ulp(1f) * abs + 1e-6, "partial[" + gi + "]");
            }
        }
    }

    @Test
    void gemmTiledMatchesFloat64() {
        needDevice();
        int m = 77;
        int n = 45;
        int kk = 130;
        int tile = PortabilityKernels.TILE;
        float[] a = gaussian(4, m * kk);
        float[] b = gaussian(5, kk * n);
        Object[] javaArgs = {new KernelContext(), null, null, null, m, n, kk};
        GeneratedKernel g = generate("gemmTiled", javaArgs, tile * tile);
        DeviceKernel k = device.load(g);
        try (DeviceBuffer da = upload(a); DeviceBuffer db = upload(b); DeviceBuffer dc = upload(new float[m * n])) {
            long gx = (n + tile - 1L) / tile * tile;
            long gy = (m + tile - 1L) / tile * tile;
            device.launch(k, new long[] {gx, gy}, new int[] {tile, tile},
                    arguments(g, Map.of(1, da, 2, db, 3, dc), Map.of(1, m * kk, 2, kk * n, 3, m * n), javaArgs));
            float[] c = download(dc, m * n);
            for (int r = 0; r < m; r++) {
                for (int col = 0; col < n; col++) {
                    double sum = 0;
                    double abs = 0;
                    for (int p = 0; p < kk; p++) {
                        sum += (double) a[r * kk + p] * b[p * n + col];
                        abs += Math.abs((double) a[r * kk + p] * b[p * n + col]);
                    }
                    // kk sequential fmas in float: error below kk * eps * sum|a*b|
                    assertEquals(sum, c[r * n + col], kk * Math.ulp(1f) * abs, "c[" + r + "][" + col + "]");
                }
            }
        }
    }

    @Test
    void softmaxRowsWithWarpShufflesMatchesFloat64() {
        needDevice();
        int rows = 37;
        int cols = 301;
        int warp = PortabilityKernels.WARP;
        float[] input = gaussian(6, rows * cols);
        Object[] javaArgs = {new KernelContext(), null, null, rows, cols};
        GeneratedKernel g = generate("softmaxRows", javaArgs, warp);
        DeviceKernel k = device.load(g);
        try (DeviceBuffer in = upload(input); DeviceBuffer out = upload(new float[rows * cols])) {
            device.launch(k, new long[] {(long) rows * warp}, new int[] {warp},
                    arguments(g, Map.of(1, in, 2, out), Map.of(1, rows * cols, 2, rows * cols), javaArgs));
            float[] got = download(out, rows * cols);
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
                    double expected = Math.exp(input[r * cols + j] - max) / sum;
                    // float exp (a few ulp) and a float sum of 301 terms: relative 1e-5
                    assertEquals(expected, got[r * cols + j], 1e-5 * expected + 1e-9, "row " + r + ", col " + j);
                }
            }
        }
    }

    @Test
    void histogramWithAtomicsCountsEveryValue() {
        needDevice();
        int n = 200_000;
        int binCount = 97;
        Random r = new Random(7);
        int[] values = new int[n];
        long[] expected = new long[binCount];
        for (int i = 0; i < n; i++) {
            values[i] = r.nextInt(binCount);
            expected[values[i]]++;
        }
        Object[] javaArgs = {new KernelContext(), null, null, n};
        GeneratedKernel g = generate("histogram", javaArgs, 128);
        DeviceKernel k = device.load(g);
        try (DeviceBuffer dv = device.allocate(4L * n); DeviceBuffer bins = device.allocate(4L * binCount)) {
            device.copyToDevice(MemorySegment.ofArray(values), dv, 0);
            device.copyToDevice(MemorySegment.ofArray(new int[binCount]), bins, 0);
            device.launch(k, new long[] {(n + 127L) / 128 * 128}, new int[] {128},
                    arguments(g, Map.of(1, dv, 2, bins), Map.of(1, n, 2, binCount), javaArgs));
            int[] got = new int[binCount];
            device.copyToHost(bins, 0, MemorySegment.ofArray(got));
            for (int b = 0; b < binCount; b++) {
                assertEquals(expected[b], got[b], "bin " + b);
            }
        }
    }

    @Test
    void loopStyleMatmulRunsOnAnyGrid() {
        needDevice();
        int n = 67;
        float[] a = gaussian(8, n * n);
        float[] b = gaussian(9, n * n);
        Object[] javaArgs = {null, null, null, n};
        GeneratedKernel g = generate("matmulLoops", javaArgs, 64);
        assertEquals(2, g.parallelDimensions());
        DeviceKernel k = device.load(g);
        try (DeviceBuffer da = upload(a); DeviceBuffer db = upload(b); DeviceBuffer dc = upload(new float[n * n])) {
            // a grid smaller than the matrix: the grid-stride loops cover the rest
            device.launch(k, new long[] {32, 16}, new int[] {16, 4},
                    arguments(g, Map.of(0, da, 1, db, 2, dc), Map.of(0, n * n, 1, n * n, 2, n * n), javaArgs));
            float[] c = download(dc, n * n);
            for (int r = 0; r < n; r++) {
                for (int col = 0; col < n; col++) {
                    double sum = 0;
                    double abs = 0;
                    for (int p = 0; p < n; p++) {
                        sum += (double) a[r * n + p] * b[p * n + col];
                        abs += Math.abs((double) a[r * n + p] * b[p * n + col]);
                    }
                    assertEquals(sum, c[r * n + col], n * Math.ulp(1f) * abs, "c[" + r + "][" + col + "]");
                }
            }
        }
    }
}
