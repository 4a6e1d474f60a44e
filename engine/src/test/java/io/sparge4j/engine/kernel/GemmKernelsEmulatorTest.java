package io.sparge4j.engine.kernel;

import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.WorkerGrid2D;
import io.sparge4j.kernels.linalg.GemmKernels;
import io.sparge4j.kernels.linalg.GemmKernels.AsyncPairTiling;
import io.sparge4j.kernels.linalg.GemmKernels.PairTiling;
import io.sparge4j.kernels.selftest.PortabilityKernels;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Random;
import java.util.stream.Stream;

import static io.sparge4j.engine.testing.Assertions2.assertClose;

/**
 * The GPU GEMM kernels, the specialisation-constant kernel and the loop-style kernel on the emulator, against
 * float64 references at sizes that are not multiples of the tiles.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class GemmKernelsEmulatorTest {
    private final KernelEmulator emulator = new KernelEmulator();

    private static float[] gaussian(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) rnd.nextGaussian();
        }
        return v;
    }

    private static FloatArray poisoned(int n) {
        FloatArray a = new FloatArray(n);
        a.init(Float.NaN);
        return a;
    }

    /** 150x131x37 is edges only, 256x256x64 whole tiles only, 260x130x70 both (edges in m, n and k). */
    @ParameterizedTest(name = "{0}x{1}x{2}")
    @CsvSource({"150, 131, 37", "256, 256, 64", "260, 130, 70"})
    void sgemmInsideAndAtEdges(int m, int n, int k) {
        Random rnd = new Random(11L * m + n + k);
        FloatArray a = FloatArray.fromArray(gaussian(rnd, m * k));
        FloatArray b = FloatArray.fromArray(gaussian(rnd, k * n));
        FloatArray c = poisoned(m * n);
        WorkerGrid2D grid = new WorkerGrid2D(ceil(n, GemmKernels.BLOCK) * GemmKernels.SGEMM_GROUP_EDGE,
                ceil(m, GemmKernels.BLOCK) * GemmKernels.SGEMM_GROUP_EDGE);
        grid.setLocalWork(GemmKernels.SGEMM_GROUP_EDGE, GemmKernels.SGEMM_GROUP_EDGE, 1);
        emulator.execute(grid, ctx -> GemmKernels.sgemm(ctx, a, b, c, m, n, k));
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
        // up to 70 float FMAs on N(0,1) data (sums ~ 8): relative 1e-5, absolute 2e-5 where sums cancel
        assertClose(expected, c.toHeapArray(), 1e-5, 2e-5, "sgemm " + m + "x" + n + "x" + k);
    }

    @Test
    void mmaGemmsAtAwkwardSizes() {
        Random rnd = new Random(12);
        int m = 140;
        int n = 136;
        int k = 40;
        float[] av = gaussian(rnd, m * k);
        float[] bv = gaussian(rnd, n * k);
        BFloat16Array a8 = BFloat16Array.fromArray(av);
        BFloat16Array b8 = BFloat16Array.fromArray(bv);
        HalfFloatArray a16 = HalfFloatArray.fromArray(av);
        HalfFloatArray b16 = HalfFloatArray.fromArray(bv);
        FloatArray c8 = poisoned(m * n);
        FloatArray c16 = poisoned(m * n);
        WorkerGrid2D grid = new WorkerGrid2D(ceil(n, GemmKernels.BLOCK) * GemmKernels.MMA_GROUP_SIZE,
                ceil(m, GemmKernels.BLOCK));
        grid.setLocalWork(GemmKernels.MMA_GROUP_SIZE, 1, 1);
        emulator.execute(grid, ctx -> GemmKernels.mmaGemmBF16(ctx, a8, b8, c8, m, n, k));
        emulator.execute(grid, ctx -> GemmKernels.mmaGemmF16(ctx, a16, b16, c16, m, n, k));
        double[] e8 = new double[m * n];
        double[] e16 = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                for (int p = 0; p < k; p++) {
                    e8[i * n + j] += (double) a8.get(i * k + p) * b8.get(j * k + p);
                    e16[i * n + j] += (double) a16.get(i * k + p) * b16.get(j * k + p);
                }
            }
        }
        // products of 16-bit values are exact in float; 40 float adds of sums up to ~25: 2e-5 absolute
        assertClose(e8, c8.toHeapArray(), 1e-5, 2e-5, "mmaGemmBF16 140x136x40");
        assertClose(e16, c16.toHeapArray(), 1e-5, 2e-5, "mmaGemmF16 140x136x40");
    }

    /**
     * The pair kernels (default tiling, 128x128 per work-group): interior tiles take the unchecked path, edge tiles
     * (in m, n and k) the guarded one; 256x256x64 is whole tiles only, 260x300x70 has both in every dimension,
     * 140x136x40 edges only, 2 is the shortest even k.
     */
    @ParameterizedTest(name = "{0}x{1}x{2}")
    @CsvSource({"256, 256, 64", "260, 300, 70", "140, 136, 40", "130, 129, 2"})
    void mmaGemmPairsInsideAndAtEdges(int m, int n, int k) {
        checkPairs(m, n, k, GemmKernels.DEFAULT_PAIR_TILING, (a, bt, c) -> ctx -> GemmKernels.mmaGemmBF16Pairs(ctx,
                a, bt, c, m, n, k), (a, bt, c) -> ctx -> GemmKernels.mmaGemmF16Pairs(ctx, a, bt, c, m, n, k));
    }

    /**
     * The default pair kernels at DeviceLinear's Wan shapes, cut down in m and n: 32760 rows leave a last block of
     * 120 (here 248 = 128 + 120), the FFN's 8960 and the 1536 model width are whole 128-column blocks and whole
     * 32-k tiles, and 8960 is also the down projection's k (280 k-tiles through the double buffer); 136 columns
     * add an n edge.
     */
    @ParameterizedTest(name = "{0}x{1}x{2}")
    @CsvSource({"248, 256, 1536", "120, 136, 8960"})
    void mmaGemmPairsAtLinearShapes(int m, int n, int k) {
        checkPairs(m, n, k, GemmKernels.DEFAULT_PAIR_TILING, (a, bt, c) -> ctx -> GemmKernels.mmaGemmBF16Pairs(ctx,
                a, bt, c, m, n, k), (a, bt, c) -> ctx -> GemmKernels.mmaGemmF16Pairs(ctx, a, bt, c, m, n, k));
    }

    /** The default pair kernels' launch constants describe {@link GemmKernels#DEFAULT_PAIR_TILING}. */
    @Test
    void pairConstantsMatchTheDefaultTiling() {
        PairTiling t = GemmKernels.DEFAULT_PAIR_TILING;
        org.junit.jupiter.api.Assertions.assertEquals(t.blockM(), GemmKernels.PAIR_BLOCK_M, "PAIR_BLOCK_M");
        org.junit.jupiter.api.Assertions.assertEquals(t.blockN(), GemmKernels.PAIR_BLOCK_N, "PAIR_BLOCK_N");
        org.junit.jupiter.api.Assertions.assertEquals(t.groupSize(), GemmKernels.PAIR_GROUP_SIZE, "PAIR_GROUP_SIZE");
        org.junit.jupiter.api.Assertions.assertEquals("128x128 w2x2 64x64 bk32", t.label(), "default tiling");
        org.junit.jupiter.api.Assertions.assertEquals(1, GemmKernels.PAIR_TILINGS.stream().filter(t::equals).count(),
                "the default once in PAIR_TILINGS");
    }

    /**
     * Six warps with 16-k tiles load 24 rows per pass, which divides 48x48 tiles but is no power of two: A's paired
     * rows would not split into a per-work-item row plus a per-pass constant.
     */
    @Test
    void pairTilingRefusesPassesThatAreNotAPowerOfTwo() {
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new PairTiling(3, 2, 1, 3, 16));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("24 rows per pass"), e.getMessage());
    }

    static Stream<Arguments> tilingsAndSizes() {
        // 256x256x64: whole tiles for every tiling (blocks of 64 to 256); 260x300x70: inside and edges in m, n
        // and k for every tiling; 130x129x2: edges only, the shortest even k
        return GemmKernels.PAIR_TILINGS.stream().flatMap(t -> Stream.of(Arguments.of(t, 256, 256, 64),
                Arguments.of(t, 260, 300, 70), Arguments.of(t, 130, 129, 2)));
    }

    /** Every tiling of the {@code @Constant} entry points, at sizes that reach both paths of each. */
    @ParameterizedTest(name = "{0} {1}x{2}x{3}")
    @MethodSource("tilingsAndSizes")
    void everyPairTilingInsideAndAtEdges(PairTiling t, int m, int n, int k) {
        checkPairs(m, n, k, t, (a, bt, c) -> ctx -> GemmKernels.mmaGemmBF16PairsTiled(ctx, a, bt, c, m, n, k,
                t.warpsM(), t.warpsN(), t.warpMTiles(), t.warpNTiles(), t.bk()),
                (a, bt, c) -> ctx -> GemmKernels.mmaGemmF16PairsTiled(ctx, a, bt, c, m, n, k, t.warpsM(),
                        t.warpsN(), t.warpMTiles(), t.warpNTiles(), t.bk()));
    }

    static Stream<Arguments> asyncTilingsAndSizes() {
        // 256x256x64: whole tiles; 260x300x72: edges in m, n and k (k a multiple of 8: cp.async path, a partial last
        // k-tile for bk 32); 260x300x70 and 130x129x2: k not a multiple of 8, the plain-load path
        return GemmKernels.ASYNC_PAIR_TILINGS.stream().flatMap(t -> Stream.of(Arguments.of(t, 256, 256, 64),
                Arguments.of(t, 260, 300, 72), Arguments.of(t, 260, 300, 70), Arguments.of(t, 130, 129, 2)));
    }

    /**
     * Every tiling of the cp.async + ldmatrix kernels. The emulator performs each asynchronous copy only at the wait
     * that covers it, so a ring that read a tile before its copy landed would fail here.
     */
    @ParameterizedTest(name = "{0} {1}x{2}x{3}")
    @MethodSource("asyncTilingsAndSizes")
    void everyAsyncTilingInsideAndAtEdges(AsyncPairTiling t, int m, int n, int k) {
        checkPairs(m, n, k, t.label(), t.blockM(), t.blockN(), t.groupSize(),
                (a, bt, c) -> ctx -> GemmKernels.mmaGemmBF16PairsAsync(ctx, a, bt, c, m, n, k, t.warpsM(),
                        t.warpsN(), t.warpMTiles(), t.warpNTiles(), t.bk(), t.stages()),
                (a, bt, c) -> ctx -> GemmKernels.mmaGemmF16PairsAsync(ctx, a, bt, c, m, n, k, t.warpsM(),
                        t.warpsN(), t.warpMTiles(), t.warpNTiles(), t.bk(), t.stages()));
    }

    @Test
    void asyncTilingRefusesWhatDoesNotFit() {
        IllegalArgumentException memory = org.junit.jupiter.api.Assertions.assertThrows(
                IllegalArgumentException.class, () -> new AsyncPairTiling(4, 2, 2, 8, 32, 4));
        org.junit.jupiter.api.Assertions.assertTrue(memory.getMessage().contains("65536 bytes"), memory.getMessage());
        IllegalArgumentException odd = org.junit.jupiter.api.Assertions.assertThrows(
                IllegalArgumentException.class, () -> new AsyncPairTiling(4, 2, 2, 7, 16, 2));
        org.junit.jupiter.api.Assertions.assertTrue(odd.getMessage().contains("warpNTiles 7"), odd.getMessage());
    }

    /** A pair kernel launch over int views of A and Bt into C. */
    private interface PairLaunch {
        KernelContextTask on(IntArray a, IntArray bt, FloatArray c);
    }

    private void checkPairs(int m, int n, int k, PairTiling tiling, PairLaunch bf16, PairLaunch f16) {
        checkPairs(m, n, k, tiling.label(), tiling.blockM(), tiling.blockN(), tiling.groupSize(), bf16, f16);
    }

    private void checkPairs(int m, int n, int k, String label, int blockM, int blockN, int groupSize,
            PairLaunch bf16, PairLaunch f16) {
        Random rnd = new Random(15L * m + 7L * n + k);
        float[] av = gaussian(rnd, m * k);
        float[] bv = gaussian(rnd, n * k);
        BFloat16Array a8 = BFloat16Array.fromArray(av);
        BFloat16Array b8 = BFloat16Array.fromArray(bv);
        HalfFloatArray a16 = HalfFloatArray.fromArray(av);
        HalfFloatArray b16 = HalfFloatArray.fromArray(bv);
        FloatArray c8 = poisoned(m * n);
        FloatArray c16 = poisoned(m * n);
        WorkerGrid2D grid = new WorkerGrid2D(ceil(n, blockN) * groupSize, ceil(m, blockM));
        grid.setLocalWork(groupSize, 1, 1);
        emulator.execute(grid, bf16.on(IntArray.fromSegmentShallow(a8.getSegment()),
                IntArray.fromSegmentShallow(b8.getSegment()), c8));
        emulator.execute(grid, f16.on(IntArray.fromSegmentShallow(a16.getSegment()),
                IntArray.fromSegmentShallow(b16.getSegment()), c16));
        double[] e8 = new double[m * n];
        double[] e16 = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                for (int p = 0; p < k; p++) {
                    e8[i * n + j] += (double) a8.get(i * k + p) * b8.get(j * k + p);
                    e16[i * n + j] += (double) a16.get(i * k + p) * b16.get(j * k + p);
                }
            }
        }
        // exact products; up to 70 float adds of sums up to ~30: 1e-5 relative, 4e-5 absolute. Long k: partial sums
        // of ~sqrt(k), k roundings of 2^-24 of them in a random walk give ~6e-8 k; 5e-7 k absolute is eight times that
        String what = label + " " + m + "x" + n + "x" + k;
        double atol = Math.max(4e-5, 5e-7 * k);
        assertClose(e8, c8.toHeapArray(), 1e-5, atol, "bf16 pairs " + what);
        assertClose(e16, c16.toHeapArray(), 1e-5, atol, "f16 pairs " + what);
    }

    @Test
    void windowSumWithSpecialisationConstant() {
        Random rnd = new Random(13);
        int n = 300;
        int width = 5;
        FloatArray x = FloatArray.fromArray(gaussian(rnd, n));
        FloatArray y = poisoned(n);
        WorkerGrid1D grid = new WorkerGrid1D(320);
        grid.setLocalWork(64, 1, 1);
        emulator.execute(grid, ctx -> PortabilityKernels.windowSum(ctx, x, y, width, n));
        double[] expected = new double[n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < width && i + j < n; j++) {
                expected[i] += x.get(i + j);
            }
        }
        // 5 float adds: 1e-6 relative, 1e-6 absolute
        assertClose(expected, y.toHeapArray(), 1e-6, 1e-6, "windowSum");
    }

    @Test
    void loopStyleMatmul() {
        Random rnd = new Random(14);
        int n = 23;
        FloatArray a = FloatArray.fromArray(gaussian(rnd, n * n));
        FloatArray b = FloatArray.fromArray(gaussian(rnd, n * n));
        FloatArray c = poisoned(n * n);
        PortabilityKernels.matmulLoops(a, b, c, n);
        double[] expected = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                for (int p = 0; p < n; p++) {
                    expected[i * n + j] += (double) a.get(i * n + p) * b.get(p * n + j);
                }
            }
        }
        // 23 float FMAs: 1e-5 relative, 1e-5 absolute
        assertClose(expected, c.toHeapArray(), 1e-5, 1e-5, "matmulLoops");
    }

    private static int ceil(int a, int b) {
        return (a + b - 1) / b;
    }
}
