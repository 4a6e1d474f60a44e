package io.sparge4j.engine.kernel;

import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.WorkerGrid2D;
import io.sparge4j.kernels.WorkerGrid3D;
import io.sparge4j.kernels.selftest.PortabilityKernels;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.Arrays;
import java.util.Random;

import static io.sparge4j.engine.testing.Assertions2.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The portability kernels on the CPU emulator against float64 references, and the emulator's error paths. */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class KernelEmulatorTest {
    private final KernelEmulator emulator = new KernelEmulator();

    private static FloatArray randn(Random rnd, int n, double scale) {
        FloatArray a = new FloatArray(n);
        for (int i = 0; i < n; i++) {
            a.set(i, (float) (rnd.nextGaussian() * scale));
        }
        return a;
    }

    private static FloatArray poisoned(int n) {
        FloatArray a = new FloatArray(n);
        a.init(Float.NaN);
        return a;
    }

    private static WorkerGrid1D grid1D(int global, int local) {
        WorkerGrid1D g = new WorkerGrid1D(global);
        g.setLocalWork(local, 1, 1);
        return g;
    }

    @Test
    void saxpy() {
        Random rnd = new Random(1);
        int n = 1000;
        float alpha = 1.7f;
        FloatArray x = randn(rnd, n, 1);
        FloatArray y = randn(rnd, n, 1);
        double[] expected = new double[n];
        for (int i = 0; i < n; i++) {
            expected[i] = (double) alpha * x.get(i) + y.get(i);
        }
        emulator.execute(grid1D(1024, 128), ctx -> PortabilityKernels.saxpy(ctx, alpha, x, y, n));
        // one fused rounding per element: f32 relative error, atol for values near zero
        assertClose(expected, y.toHeapArray(), 1e-6, 1e-6, "saxpy");
    }

    @Test
    void treeReductionInLocalMemory() {
        Random rnd = new Random(2);
        int n = 1000;
        int local = 128;
        int groups = 8;
        FloatArray input = randn(rnd, n, 1);
        FloatArray partial = poisoned(groups);
        double[] expected = new double[groups];
        for (int i = 0; i < n; i++) {
            expected[i / local] += input.get(i);
        }
        emulator.execute(grid1D(groups * local, local), ctx -> PortabilityKernels.reduceSum(ctx, input, partial, n));
        // 7 levels of f32 adds over ~11-magnitude sums: ~1e-6 absolute
        assertClose(expected, partial.toHeapArray(), 1e-5, 1e-5, "reduceSum");
    }

    @Test
    void tiledGemmAwkwardSizesThroughGridScheduler() {
        Random rnd = new Random(3);
        int m = 37;
        int n = 45;
        int k = 50;
        FloatArray a = randn(rnd, m * k, 1);
        FloatArray b = randn(rnd, k * n, 1);
        FloatArray c = poisoned(m * n);
        double[] expected = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    s += (double) a.get(i * k + p) * b.get(p * n + j);
                }
                expected[i * n + j] = s;
            }
        }
        int t = PortabilityKernels.TILE;
        WorkerGrid2D grid = new WorkerGrid2D((n + t - 1) / t * t, (m + t - 1) / t * t);
        grid.setLocalWork(t, t, 1);
        GridScheduler scheduler = new GridScheduler("g.gemm", grid);
        emulator.execute(scheduler, "g.gemm", ctx -> PortabilityKernels.gemmTiled(ctx, a, b, c, m, n, k));
        // 50 f32 FMAs on sums of magnitude up to ~20: below 1e-4 absolute
        assertClose(expected, c.toHeapArray(), 1e-5, 1e-4, "gemmTiled");
    }

    @Test
    void softmaxRowsWithSubGroupReductions() {
        Random rnd = new Random(4);
        int rows = 5;
        int cols = 77;
        FloatArray in = randn(rnd, rows * cols, 3);
        FloatArray out = poisoned(rows * cols);
        double[] expected = new double[rows * cols];
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < cols; j++) {
                max = Math.max(max, in.get(r * cols + j));
            }
            double sum = 0;
            for (int j = 0; j < cols; j++) {
                sum += Math.exp(in.get(r * cols + j) - max);
            }
            for (int j = 0; j < cols; j++) {
                expected[r * cols + j] = Math.exp(in.get(r * cols + j) - max) / sum;
            }
        }
        int w = PortabilityKernels.WARP;
        emulator.execute(grid1D(rows * w, w), ctx -> PortabilityKernels.softmaxRows(ctx, in, out, rows, cols));
        // float exp and a 77-term float sum: a few float ulps relative
        assertClose(expected, out.toHeapArray(), 1e-5, 1e-7, "softmaxRows");
    }

    /** Writes simdSum, simdShuffleDown(v, 3) and simdBroadcastFirst of v = global id + 0.5 for every item. */
    static void subGroupOps(KernelContext ctx, FloatArray sum, FloatArray down, FloatArray first) {
        int i = ctx.globalIdx;
        float v = i + 0.5f;
        sum.set(i, ctx.simdSum(v));
        down.set(i, ctx.simdShuffleDown(v, 3));
        first.set(i, ctx.simdBroadcastFirst(v));
    }

    @Test
    void subGroupOpsOverFullAndPartialSubGroups() {
        for (int width : new int[] {32, 8}) {
            KernelEmulator e = new KernelEmulator(width, 2);
            int local = 40;
            int global = 80;
            FloatArray sum = poisoned(global);
            FloatArray down = poisoned(global);
            FloatArray first = poisoned(global);
            e.execute(grid1D(global, local), ctx -> subGroupOps(ctx, sum, down, first));
            double[] eSum = new double[global];
            double[] eDown = new double[global];
            double[] eFirst = new double[global];
            for (int i = 0; i < global; i++) {
                int lid = i % local;
                int start = i - lid + lid / width * width;
                int end = Math.min(start + width, i - lid + local);
                for (int j = start; j < end; j++) {
                    eSum[i] += j + 0.5;
                }
                eDown[i] = i + 3 < end ? i + 3 + 0.5 : i + 0.5;
                eFirst[i] = start + 0.5;
            }
            // sums of at most 32 exact half-integers below 2^24: exact
            assertClose(eSum, sum.toHeapArray(), 0, 0, "simdSum width " + width);
            assertClose(eDown, down.toHeapArray(), 0, 0, "simdShuffleDown width " + width);
            assertClose(eFirst, first.toHeapArray(), 0, 0, "simdBroadcastFirst width " + width);
        }
    }

    /** Writes simdShuffleXor(v, mask) of v = global id + 0.5 for every item. */
    static void shuffleXor(KernelContext ctx, FloatArray out, int mask) {
        int i = ctx.globalIdx;
        out.set(i, ctx.simdShuffleXor(i + 0.5f, mask));
    }

    @Test
    void simdShuffleXorOverFullAndPartialSubGroups() {
        for (int width : new int[] {32, 8}) {
            KernelEmulator e = new KernelEmulator(width, 2);
            int local = 40;
            int global = 80;
            for (int mask : new int[] {1, 2, 3, 7, 16, 31, 32}) {
                FloatArray out = poisoned(global);
                e.execute(grid1D(global, local), ctx -> shuffleXor(ctx, out, mask));
                double[] expected = new double[global];
                for (int i = 0; i < global; i++) {
                    int lid = i % local;
                    int start = i - lid + lid / width * width;
                    int end = Math.min(start + width, i - lid + local);
                    int partner = start + ((i - start) ^ mask);
                    expected[i] = partner < end ? partner + 0.5 : i + 0.5;
                }
                assertClose(expected, out.toHeapArray(), 0, 0, "simdShuffleXor width " + width + " mask " + mask);
            }
        }
        FloatArray out = poisoned(32);
        KernelLaunchException error = assertThrows(KernelLaunchException.class,
                () -> new KernelEmulator(32, 1).execute(grid1D(32, 32), ctx -> shuffleXor(ctx, out, -1)));
        assertTrue(error.getMessage().contains("laneMask is -1, expected >= 0"), error.getMessage());
    }

    /** Counts values in a local int histogram with local atomics, then adds it to the global one. */
    static void localHistogram(KernelContext ctx, IntArray values, IntArray bins, FloatArray total, FloatArray x,
            int n) {
        int[] local = ctx.allocateIntLocalArray(16);
        int i = ctx.globalIdx;
        if (i < n) {
            ctx.atomicAdd(local, values.get(i), 1);
            ctx.atomicAdd(total, 0, x.get(i));
        }
        ctx.localBarrier();
        if (ctx.localIdx < 16) {
            ctx.atomicAdd(bins, ctx.localIdx, local[ctx.localIdx]);
        }
    }

    @Test
    void atomicHistogramsAndFloatAtomicSum() {
        Random rnd = new Random(5);
        int n = 3000;
        int nBins = 16;
        IntArray values = new IntArray(n);
        int[] expected = new int[nBins];
        for (int i = 0; i < n; i++) {
            values.set(i, rnd.nextInt(nBins));
            expected[values.get(i)]++;
        }
        IntArray bins = new IntArray(nBins);
        emulator.execute(grid1D(3072, 256), ctx -> PortabilityKernels.histogram(ctx, values, bins, n));
        assertArrayEquals(expected, bins.toHeapArray(), "global atomic histogram");

        FloatArray x = randn(rnd, n, 1);
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += x.get(i);
        }
        IntArray bins2 = new IntArray(nBins);
        FloatArray total = new FloatArray(1);
        emulator.execute(grid1D(3072, 64), ctx -> localHistogram(ctx, values, bins2, total, x, n));
        assertArrayEquals(expected, bins2.toHeapArray(), "local atomic histogram");
        // 3000 float adds in arbitrary order, partial sums up to ~100: within 1e-3
        assertEquals(sum, total.get(0), 1e-3, "float atomicAdd total");
    }

    @Test
    void mmaTileF16AndBF16AgainstFloat64() {
        Random rnd = new Random(6);
        int k = 48;
        float[] av = new float[16 * k];
        float[] bv = new float[k * 8];
        for (int i = 0; i < av.length; i++) {
            av[i] = (float) rnd.nextGaussian();
        }
        for (int i = 0; i < bv.length; i++) {
            bv[i] = (float) rnd.nextGaussian();
        }
        HalfFloatArray a16 = HalfFloatArray.fromArray(av);
        HalfFloatArray b16 = HalfFloatArray.fromArray(bv);
        BFloat16Array a8 = BFloat16Array.fromArray(av);
        BFloat16Array b8 = BFloat16Array.fromArray(bv);
        FloatArray c16 = poisoned(16 * 8);
        FloatArray c8 = poisoned(16 * 8);
        WorkerGrid1D one = grid1D(PortabilityKernels.WARP, PortabilityKernels.WARP);
        emulator.execute(one, ctx -> PortabilityKernels.mmaTileF16(ctx, a16, b16, c16, k));
        emulator.execute(one, ctx -> PortabilityKernels.mmaTileBF16(ctx, a8, b8, c8, k));
        double[] e16 = new double[16 * 8];
        double[] e8 = new double[16 * 8];
        for (int i = 0; i < 16; i++) {
            for (int j = 0; j < 8; j++) {
                for (int p = 0; p < k; p++) {
                    e16[i * 8 + j] += (double) a16.get(i * k + p) * b16.get(p * 8 + j);
                    e8[i * 8 + j] += (double) a8.get(i * k + p) * b8.get(p * 8 + j);
                }
            }
        }
        // exact products, 48 float adds on sums up to ~20: below 2e-5 absolute
        assertClose(e16, c16.toHeapArray(), 1e-5, 2e-5, "mma16x8x16F16");
        assertClose(e8, c8.toHeapArray(), 1e-5, 2e-5, "mma16x8x16BF16");
    }

    @Test
    void kernelCallingHelperMethods() {
        Random rnd = new Random(7);
        int n = 301;
        FloatArray x = randn(rnd, n, 2);
        FloatArray y = poisoned(n);
        float scale = 0.75f;
        emulator.execute(grid1D(320, 32), ctx -> PortabilityKernels.geluScaled(ctx, x, y, scale, n));
        double[] expected = new double[n];
        for (int i = 0; i < n; i++) {
            double v = x.get(i);
            expected[i] = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))) * scale;
        }
        // float arithmetic with float tanh: a few ulps, atol near zero
        assertClose(expected, y.toHeapArray(), 1e-5, 1e-6, "geluScaled");
    }

    @Test
    void threeDimensionalIdsCoverTheGridOnce() {
        WorkerGrid3D grid = new WorkerGrid3D(6, 4, 3);
        grid.setLocalWork(3, 2, 1);
        grid.setGlobalOffset(10, 0, 0);
        IntArray seen = new IntArray(6 * 4 * 3);
        emulator.execute(grid, ctx -> {
            int x = ctx.globalIdx - 10;
            assertEquals(ctx.groupIdx * ctx.localGroupSizeX + ctx.localIdx + 10, ctx.globalIdx);
            assertEquals(ctx.groupIdz * 1 + ctx.localIdz, ctx.globalIdz);
            assertEquals(4, ctx.globalGroupSizeY);
            ctx.atomicAdd(seen, (ctx.globalIdz * 4 + ctx.globalIdy) * 6 + x, 1);
        });
        int[] ones = new int[72];
        Arrays.fill(ones, 1);
        assertArrayEquals(ones, seen.toHeapArray());
    }

    @Test
    @Timeout(value = 10, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void failingWorkItemNamesItselfAndDoesNotHang() {
        FloatArray data = new FloatArray(64);
        var e = assertThrows(KernelLaunchException.class, () -> emulator.execute(grid1D(64, 16), ctx -> {
            float[] scratch = ctx.allocateFloatLocalArray(16);
            if (ctx.globalIdx == 37) {
                throw new ArithmeticException("boom at 37");
            }
            scratch[ctx.localIdx] = data.get(ctx.globalIdx);
            ctx.localBarrier();
            data.set(ctx.globalIdx, scratch[15 - ctx.localIdx]);
        }));
        assertArrayEquals(new int[] {2, 0, 0}, e.groupId());
        assertArrayEquals(new int[] {5, 0, 0}, e.localId());
        assertTrue(e.getMessage().startsWith("kernel failed in work-item local [5, 0, 0] of group [2, 0, 0]"
                + " (global [37, 0, 0]): java.lang.ArithmeticException: boom at 37"), e.getMessage());
        assertInstanceOf(ArithmeticException.class, e.getCause());
    }

    @Test
    @Timeout(value = 10, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void workItemSkippingABarrierIsReportedNotHung() {
        var e = assertThrows(KernelLaunchException.class, () -> emulator.execute(grid1D(32, 32), ctx -> {
            if (ctx.localIdx == 3) {
                return;
            }
            ctx.localBarrier();
        }));
        assertTrue(e.getMessage().contains("every work-item must reach every barrier"), e.getMessage());
    }

    @Test
    @Timeout(value = 10, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void workItemsWaitingAtDifferentBarriersAreReportedNotHung() {
        // lane 0 of each sub-group goes to the group barrier first, its other lanes to simdSum first: no barrier
        // can ever complete
        var e = assertThrows(KernelLaunchException.class, () -> emulator.execute(grid1D(128, 64), ctx -> {
            if (ctx.simdLaneId() == 0) {
                ctx.localBarrier();
                ctx.simdSum(1f);
            } else {
                ctx.simdSum(1f);
                ctx.localBarrier();
            }
        }));
        // Which misuse is seen first depends on the virtual threads' order: the group stuck at different barriers,
        // or a work-item finishing while others still wait. Either way the launch fails instead of hanging.
        assertTrue(e.getMessage().contains("would wait forever")
                || e.getMessage().contains("every work-item must reach every barrier"), e.getMessage());
        assertInstanceOf(IllegalStateException.class, e.getCause());
    }

    @Test
    @Timeout(value = 10, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void mismatchedLocalAllocationsAreReported() {
        var e = assertThrows(KernelLaunchException.class, () -> emulator.execute(grid1D(8, 8), ctx -> {
            if (ctx.localIdx == 0) {
                ctx.allocateFloatLocalArray(16);
            } else {
                ctx.allocateIntLocalArray(16);
            }
            ctx.localBarrier();
        }));
        assertInstanceOf(IllegalStateException.class, e.getCause());
        assertTrue(e.getMessage().contains("must allocate the same local arrays in the same order"), e.getMessage());
    }

    @Test
    void invalidGridsAreRejectedBeforeRunning() {
        KernelContextTask nothing = ctx -> { };
        var e = assertThrows(IllegalArgumentException.class, () -> emulator.execute(grid1D(100, 16), nothing));
        assertTrue(e.getMessage().startsWith(
                "KernelEmulator.execute: local work 16 does not divide global work 100 in x"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> emulator.execute(grid1D(4096, 2048), nothing));
        assertTrue(e.getMessage().startsWith("KernelEmulator.execute: local work 2048 in x, expected 1..1024"),
                e.getMessage());
        WorkerGrid3D big = new WorkerGrid3D(16, 16, 8);
        big.setLocalWork(16, 16, 8);
        e = assertThrows(IllegalArgumentException.class, () -> emulator.execute(big, nothing));
        assertEquals("KernelEmulator.execute: work-group of 2048 work-items (local work [16, 16, 8]),"
                + " expected at most 1024", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> emulator.execute(new GridScheduler(), "g.missing", nothing));
        assertEquals("KernelEmulator.execute: no grid for task \"g.missing\" in the GridScheduler", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new KernelEmulator(0, 1));
        assertEquals("KernelEmulator: subGroupSize is 0, expected >= 1", e.getMessage());
    }

    @Test
    void unsetLocalWorkIsChosenByTheEmulator() {
        int n = 100;
        FloatArray x = new FloatArray(n);
        emulator.execute(new WorkerGrid1D(n), ctx -> {
            assertEquals(0, n % ctx.localGroupSizeX);
            x.set(ctx.globalIdx, KernelMath.sqrt(ctx.globalIdx));
        });
        for (int i = 0; i < n; i++) {
            assertEquals((float) Math.sqrt(i), x.get(i));
        }
    }
}
