package io.sparge4j.engine.kernel;

import io.sparge4j.kernels.WorkerGrid2D;
import io.sparge4j.kernels.linalg.PipelinedGemmKernels;
import io.sparge4j.kernels.linalg.PipelinedGemmKernels.PipelinedTiling;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Random;
import java.util.stream.Stream;

import static io.sparge4j.engine.testing.Assertions2.assertClose;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The pipelined pair GEMMs ({@link PipelinedGemmKernels}) on the emulator against a float64 reference, for every
 * tiling of {@link PipelinedGemmKernels#TILINGS}, at sizes that wrap the ring several times, leave edges in m, n
 * and k, and take the plain-load path (k not a multiple of 8). The emulator lands each asynchronous copy only at
 * the wait that covers it, so reading a slot before its tile arrived fails here; refilling a slot that another warp
 * still reads would give wrong sums as well.
 */
@Timeout(value = 300, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class PipelinedGemmKernelsEmulatorTest {
    private final KernelEmulator emulator = new KernelEmulator();

    static Stream<Arguments> tilingsAndSizes() {
        // 128x256x384: whole tiles, 6 to 12 k-tiles (every ring wraps); 260x300x200: edges in m and n, a partial
        // last k-tile (cp.async with zero fill); 130x129x70: k not a multiple of 8 (plain loads), edges only
        return PipelinedGemmKernels.TILINGS.stream().flatMap(t -> Stream.of(Arguments.of(t, 256, 256, 384),
                Arguments.of(t, 260, 300, 200), Arguments.of(t, 130, 129, 70)));
    }

    @ParameterizedTest(name = "{0} {1}x{2}x{3}")
    @MethodSource("tilingsAndSizes")
    void everyTilingMatchesFloat64(PipelinedTiling t, int m, int n, int k) {
        Random rnd = new Random(41L * m + 13L * n + k + t.stages());
        float[] av = new float[m * k];
        float[] bv = new float[n * k];
        for (int i = 0; i < av.length; i++) {
            av[i] = (float) rnd.nextGaussian();
        }
        for (int i = 0; i < bv.length; i++) {
            bv[i] = (float) rnd.nextGaussian();
        }
        BFloat16Array a8 = BFloat16Array.fromArray(av);
        BFloat16Array b8 = BFloat16Array.fromArray(bv);
        HalfFloatArray a16 = HalfFloatArray.fromArray(av);
        HalfFloatArray b16 = HalfFloatArray.fromArray(bv);
        FloatArray c8 = new FloatArray(m * n);
        FloatArray c16 = new FloatArray(m * n);
        c8.init(Float.NaN);
        c16.init(Float.NaN);
        WorkerGrid2D grid = new WorkerGrid2D((n + t.blockN() - 1) / t.blockN() * t.groupSize(),
                (m + t.blockM() - 1) / t.blockM());
        grid.setLocalWork(t.groupSize(), 1, 1);
        IntArray ai8 = IntArray.fromSegmentShallow(a8.getSegment());
        IntArray bi8 = IntArray.fromSegmentShallow(b8.getSegment());
        IntArray ai16 = IntArray.fromSegmentShallow(a16.getSegment());
        IntArray bi16 = IntArray.fromSegmentShallow(b16.getSegment());
        emulator.execute(grid, ctx -> PipelinedGemmKernels.mmaGemmBF16Pipelined(ctx, ai8, bi8, c8, m, n, k,
                t.warpsM(), t.warpsN(), t.warpMTiles(), t.warpNTiles(), t.bk(), t.stages()));
        emulator.execute(grid, ctx -> PipelinedGemmKernels.mmaGemmF16Pipelined(ctx, ai16, bi16, c16, m, n, k,
                t.warpsM(), t.warpsN(), t.warpMTiles(), t.warpNTiles(), t.bk(), t.stages()));
        double[] e8 = new double[m * n];
        double[] e16 = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s8 = 0;
                double s16 = 0;
                for (int p = 0; p < k; p++) {
                    s8 += (double) a8.get(i * k + p) * b8.get(j * k + p);
                    s16 += (double) a16.get(i * k + p) * b16.get(j * k + p);
                }
                e8[i * n + j] = s8;
                e16[i * n + j] = s16;
            }
        }
        // products of 16-bit values are exact in float; k float adds of N(0,1) products (partial sums ~sqrt(k)):
        // 1e-5 relative, and 5e-7 k absolute (eight times the ~6e-8 k random walk of roundings), at least 4e-5
        String what = t.label() + " " + m + "x" + n + "x" + k;
        double atol = Math.max(4e-5, 5e-7 * k);
        assertClose(e8, c8.toHeapArray(), 1e-5, atol, "bf16 " + what);
        assertClose(e16, c16.toHeapArray(), 1e-5, atol, "f16 " + what);
    }

    @Test
    void tilingRefusesWhatDoesNotFit() {
        IllegalArgumentException memory = assertThrows(IllegalArgumentException.class,
                () -> new PipelinedTiling(4, 2, 4, 8, 64, 5));
        assertTrue(memory.getMessage().contains("245760 bytes"), memory.getMessage());
        IllegalArgumentException bk = assertThrows(IllegalArgumentException.class,
                () -> new PipelinedTiling(2, 2, 4, 8, 16, 3));
        assertTrue(bk.getMessage().contains("bk 16"), bk.getMessage());
        IllegalArgumentException passes = assertThrows(IllegalArgumentException.class,
                () -> new PipelinedTiling(3, 2, 1, 8, 32, 3));
        assertTrue(passes.getMessage().contains("whole passes"), passes.getMessage());
    }
}
