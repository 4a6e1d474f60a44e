package io.sparge4j.engine.kernel.attention;

import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.sparse.BlockGrid;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.BlockSelector;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.PooledAttentionMap;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Awkward inputs for the bisection selection ({@code BlockSelectKernels.selectRows}) and the one-launch lists
 * ({@code BlockListKernels.buildLists}), on the emulator and on the first OpenCL device, always against the CPU's
 * {@link BlockSelector} on the very same probabilities (the mask must match exactly): ties straddling the cut, rows
 * where Top-k alone or Top-p alone decides, rows that leave the exact fixed-point range (entries below 2^-29 in the
 * kept prefix, entries of 2 or more, masses of 2 or more) and so take the in-order fallback, one key block, key
 * block counts around a 32-bit bitmap word, and row counts that are not a multiple of the selection's 8 rows per
 * work-group (so heads start inside a work-group).
 */
@Timeout(value = 300, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class BlockSelectAwkwardTest {
    private static DeviceMaskPipeline open(String backend) {
        if (backend.equals("opencl")) {
            assumeTrue(!OpenClDevice.list().isEmpty(),
                    "no OpenCL device (install pocl-opencl-icd): OpenCL case skipped");
        }
        return new DeviceMaskPipeline(backend);
    }

    private static final List<double[]> SETTINGS = List.of(new double[] {0.03, 0.3}, new double[] {0.5, 1e-6},
            new double[] {1e-4, 0.9}, new double[] {0.2, 0.45}, new double[] {1e-4, 0.999999});

    /**
     * Rows of every kind below, with (heads, nq, nk) = (3, 5, nk) ((15, 1, 1) for one key block): 15 rows (two
     * selection work-groups, the second partly empty; heads 1 and 2 start inside a work-group), nk = 1, 31, 32, 33, 64
     * and 65 around the bitmap words, and 193: one entry past those the work-items hold in registers (6 each,
     * {@code BlockSelectKernels.CACHED}, x 32), so that the cut can fall between held and reread entries.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"emulator", "opencl"})
    void awkwardRowsMatchTheCpuSelector(String backend) {
        try (DeviceMaskPipeline pipeline = open(backend)) {
            for (int nk : new int[] {1, 31, 32, 33, 64, 65, 193}) {
                // one key block: 15 heads of one query block (the test pipeline's grids cannot make 5 of 1 token)
                int heads = nk == 1 ? 15 : 3;
                int nq = nk == 1 ? 1 : 5;
                Random rnd = new Random(900 + nk);
                float[] probs = new float[heads * nq * nk];
                for (int r = 0; r < heads * nq; r++) {
                    System.arraycopy(awkwardRow(r % 9, nk, rnd), 0, probs, r * nk, nk);
                }
                for (double[] kp : SETTINGS) {
                    for (MaskMode mode : List.of(MaskMode.TOPK, MaskMode.TOPP, MaskMode.HYBRID, MaskMode.DENSE)) {
                        String what = backend + " nk=" + nk + " " + mode + " k=" + kp[0] + " p=" + kp[1];
                        DeviceMaskPipeline.Result dev = pipeline.fromProbabilities(probs, heads, nq, nk, mode, kp[0],
                                kp[1]);
                        PooledAttentionMap map = PooledAttentionMap.ofProbabilities(1, heads,
                                new BlockGrid(nq * 128 - 3, 128), new BlockGrid(nk * 64 - 1, 64), probs);
                        assertSameMask(BlockSelector.select(map, mode, kp[0], kp[1]), dev, what);
                    }
                }
            }
        }
    }

    /**
     * The test data really exercises what it claims: on a row of one 0.3, seven ties of 0.1 and small rest, Top-k 3
     * and Top-p 0.45 both cut inside the ties (lowest indices kept), and Top-p alone decides in hybrid when p is large.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"emulator", "opencl"})
    void tiesStraddlingTheCutKeepTheLowestIndices(String backend) {
        int nk = 40;
        float[] row = new float[nk];
        Arrays.fill(row, 0.001f);
        row[20] = 0.3f;
        for (int j : new int[] {3, 9, 15, 21, 27, 33, 39}) {
            row[j] = 0.1f;
        }
        try (DeviceMaskPipeline pipeline = open(backend)) {
            DeviceMaskPipeline.Result topk = pipeline.fromProbabilities(row, 1, 1, nk, MaskMode.TOPK, 3.0 / nk, 0);
            assertArrayEquals(new int[] {3, 9, 20}, topk.rowBlocks(), "Top-k 3: the 0.3 and the two lowest ties");
            DeviceMaskPipeline.Result topp = pipeline.fromProbabilities(row, 1, 1, nk, MaskMode.TOPP, 0.01, 0.45);
            assertArrayEquals(new int[] {3, 9, 20}, topp.rowBlocks(), "Top-p 0.45: 0.3 + 0.1 + 0.1 reaches it");
            DeviceMaskPipeline.Result hybrid = pipeline.fromProbabilities(row, 1, 1, nk, MaskMode.HYBRID, 1.0 / nk,
                    0.75);
            assertArrayEquals(new int[] {3, 9, 15, 20, 21, 27}, hybrid.rowBlocks(),
                    "hybrid k = 1 block, p 0.75: Top-p decides (0.3 + 5 x 0.1 = 0.8)");
        }
    }

    /**
     * One key block and one query block from q and k (N = 50 tokens, not a multiple of either block): every mode
     * keeps the single block; and N = 200 with d = 16 (4 key blocks, 2 query blocks of which the last is short).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"emulator", "opencl"})
    void shortSequencesFromInputs(String backend) {
        try (DeviceMaskPipeline pipeline = open(backend)) {
            for (int n : new int[] {50, 200}) {
                int b = 1;
                int h = 2;
                int d = 16;
                Random rnd = new Random(n);
                float[] q = new float[b * h * n * d];
                float[] k = new float[q.length];
                for (int i = 0; i < q.length; i++) {
                    q[i] = (float) rnd.nextGaussian();
                    k[i] = (float) rnd.nextGaussian();
                }
                for (MaskMode mode : List.of(MaskMode.TOPK, MaskMode.TOPP, MaskMode.HYBRID, MaskMode.DENSE)) {
                    DeviceMaskPipeline.Result dev = pipeline.fromInputs(q, k, b, h, false, n, d, 128, 64, 0.25f, mode,
                            0.3, 0.5);
                    BlockGrid qg = new BlockGrid(n, 128);
                    BlockGrid kg = new BlockGrid(n, 64);
                    PooledAttentionMap devMap = PooledAttentionMap.ofProbabilities(b, h, qg, kg, dev.probs());
                    BlockMask expected = BlockSelector.select(devMap, mode, 0.3, 0.5);
                    assertSameMask(expected, dev, backend + " N=" + n + " " + mode);
                    if (n == 50) {
                        assertEquals(h, dev.rowBlocks().length, "one key block: each row keeps it");
                    }
                }
            }
        }
    }

    /**
     * Row kinds: 0 softmax-like random; 1 all equal; 2 ties at the top; 3 a sink and tiny rest (below 2^-29, so
     * Top-p sums leave the exact range); 4 entries of 2 and more (not probabilities: the fallback); 5 subnormals and
     * signed zeros behind a few large entries; 6 a row summing to about 3; 7 values spanning many binades (float64
     * running sums round); 8 repeated small values (many ties at the cut).
     */
    private static float[] awkwardRow(int kind, int nk, Random rnd) {
        float[] row = new float[nk];
        switch (kind) {
            case 1 -> Arrays.fill(row, 1f / nk);
            case 2 -> {
                Arrays.fill(row, 0.5f / nk);
                for (int j = 0; j < nk; j += 3) {
                    row[j] = 0.5f / ((nk + 2) / 3);
                }
            }
            case 3 -> {
                Arrays.fill(row, 1e-12f);
                row[nk / 2] = 1f;
            }
            case 4 -> {
                for (int j = 0; j < nk; j++) {
                    row[j] = (float) (3 * rnd.nextDouble());
                }
            }
            case 5 -> {
                for (int j = 0; j < nk; j++) {
                    row[j] = j % 3 == 0 ? -0.0f : j % 3 == 1 ? 0.0f : Float.MIN_VALUE * (1 + j % 4);
                }
                row[0] = 0.5f;
                row[nk - 1] = 0.25f;
            }
            case 6 -> {
                for (int j = 0; j < nk; j++) {
                    row[j] = (float) (6.0 / nk * rnd.nextDouble());
                }
            }
            case 7 -> {
                for (int j = 0; j < nk; j++) {
                    row[j] = (float) (Math.pow(2, -1.5 * ((j * 7) % nk) - 1) * (1 + rnd.nextDouble()) / 2);
                }
            }
            case 8 -> {
                for (int j = 0; j < nk; j++) {
                    row[j] = (1 + j % 3) / (2f * nk);
                }
            }
            default -> {
                double sum = 0;
                double[] e = new double[nk];
                for (int j = 0; j < nk; j++) {
                    e[j] = Math.exp(2 * rnd.nextGaussian());
                    sum += e[j];
                }
                for (int j = 0; j < nk; j++) {
                    row[j] = (float) (e[j] / sum);
                }
            }
        }
        return row;
    }

    private static void assertSameMask(BlockMask expected, DeviceMaskPipeline.Result dev, String what) {
        int[] rowStart = expected.rowStart();
        int[] counts = new int[rowStart.length - 1];
        for (int r = 0; r < counts.length; r++) {
            counts[r] = rowStart[r + 1] - rowStart[r];
        }
        assertArrayEquals(counts, dev.counts(), what + ": kept blocks per row");
        assertArrayEquals(rowStart, dev.rowStart(), what + ": rowStart");
        assertArrayEquals(expected.rowBlocks(), dev.rowBlocks(), what + ": rowBlocks");
        assertArrayEquals(expected.colStart(), dev.colStart(), what + ": colStart");
        assertArrayEquals(expected.colBlocks(), dev.colBlocks(), what + ": colBlocks");
        Tensor flags = expected.toTensor();
        byte[] keep = dev.keep();
        for (int i = 0; i < keep.length; i++) {
            assertEquals(flags.getLong(i), keep[i], what + ": keep flag " + i);
        }
        assertTrue(dev.rowBlocks().length >= counts.length, what + ": at least one block per row");
    }
}
