package io.sparge4j.engine.kernel.attention;

import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.attention.BlockMaskTasks;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The 16-bit mask pooling ({@code BlockPoolingKernels.poolPairsBF16}/{@code poolPairsF16} through
 * {@link BlockMaskTasks#addPooledMapPairs}) on the emulator and the first OpenCL device: the whole mask from bf16 or
 * f16 q and k equals, bit for bit, the f32 pipeline's on the same values widened (pooled q and k, the map, the
 * lists), in both layouts, at token counts that are multiples of no block and d 64, 128, 40 and 42 (an odd
 * number of column pairs). Exactness is the claim: each 16-bit value widens exactly and the f32 sums run in the same
 * order.
 */
@Timeout(value = 300, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class BlockPoolingPairsTest {
    static List<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (String backend : List.of("emulator", "opencl")) {
            for (boolean bf16 : new boolean[] {true, false}) {
                out.add(Arguments.of(backend, bf16, 1, 2, 1000, 64, false));
                out.add(Arguments.of(backend, bf16, 2, 3, 333, 128, false));
                out.add(Arguments.of(backend, bf16, 2, 3, 700, 40, true));
                out.add(Arguments.of(backend, bf16, 1, 2, 300, 42, false));
            }
        }
        return out;
    }

    @ParameterizedTest(name = "{0} bf16={1} B={2} H={3} N={4} d={5} tokensBeforeHeads={6}")
    @MethodSource("cases")
    void halfPoolingEqualsTheF32PipelineOnWidenedValues(String backend, boolean bf16, int b, int h, int n, int d,
            boolean tokensBeforeHeads) {
        if (backend.equals("opencl")) {
            assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): case skipped");
        }
        Random rnd = new Random(77L * n + d);
        float[] q = widened(bf16, gaussian(rnd, b * h * n * d));
        float[] k = widened(bf16, gaussian(rnd, b * h * n * d));
        float scale = (float) (1 / Math.sqrt(d));
        DeviceMaskPipeline.Result half;
        DeviceMaskPipeline.Result f32;
        try (DeviceMaskPipeline pipeline = new DeviceMaskPipeline(backend)) {
            half = pipeline.fromHalfInputs(bf16, q, k, b, h, tokensBeforeHeads, n, d, 128, 64, scale,
                    MaskMode.HYBRID, 0.2, 0.6);
            f32 = pipeline.fromInputs(q, k, b, h, tokensBeforeHeads, n, d, 128, 64, scale, MaskMode.HYBRID, 0.2,
                    0.6);
        }
        String what = backend + (bf16 ? " bf16" : " f16");
        assertArrayEquals(f32.qPooled(), half.qPooled(), what + " qPooled");
        assertArrayEquals(f32.kPooled(), half.kPooled(), what + " kPooled");
        assertArrayEquals(f32.probs(), half.probs(), what + " probs");
        assertArrayEquals(f32.rowStart(), half.rowStart(), what + " rowStart");
        assertArrayEquals(f32.rowBlocks(), half.rowBlocks(), what + " rowBlocks");
        assertArrayEquals(f32.colStart(), half.colStart(), what + " colStart");
        assertArrayEquals(f32.colBlocks(), half.colBlocks(), what + " colBlocks");
        int rows = half.rowStart().length - 1;
        assertTrue(half.rowBlocks().length < rows * ((n + 63) / 64), what + ": the mask drops some blocks");
    }

    @Test
    void refusesOddHeadDimensionsAndShortArrays() {
        BlockMaskTasks odd = new BlockMaskTasks(1, 100, 63, 128, 64);
        IntArray ints = new IntArray(100 * 64);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> odd.addPooledMapPairs(
                new TaskGraph("g"), new GridScheduler(), "m", ints, ints, true,
                1f, 1, false));
        assertTrue(e.getMessage().contains("d is 63"), e.getMessage());
        BlockMaskTasks t = new BlockMaskTasks(2, 100, 64, 128, 64);
        IntArray shortQ = new IntArray(10);
        e = assertThrows(IllegalArgumentException.class, () -> t.addPooledMapPairs(
                new TaskGraph("g"), new GridScheduler(), "m", shortQ, ints,
                true, 1f, 1, false));
        assertTrue(e.getMessage().contains("q has 10 ints, expected at least 6400"), e.getMessage());
    }

    private static float[] gaussian(Random rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        return x;
    }

    /** The values rounded to bf16 or f16 and widened back: what both pipelines see. */
    private static float[] widened(boolean bf16, float[] x) {
        float[] out = new float[x.length];
        if (bf16) {
            BFloat16Array a = BFloat16Array.fromArray(x);
            for (int i = 0; i < x.length; i++) {
                out[i] = a.get(i);
            }
        } else {
            HalfFloatArray a = HalfFloatArray.fromArray(x);
            for (int i = 0; i < x.length; i++) {
                out[i] = a.get(i);
            }
        }
        return out;
    }
}
