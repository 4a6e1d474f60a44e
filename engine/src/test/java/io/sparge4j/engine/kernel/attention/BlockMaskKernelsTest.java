package io.sparge4j.engine.kernel.attention;

import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.sparse.BlockGrid;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.BlockSelector;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.PooledAttentionMap;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The SpargeAttention2 block-mask kernels (pooling, pooled softmax, Top-k/Top-p selection, CSR lists and their
 * transpose) through the TaskGraph API on the emulator and on the first OpenCL device (PoCL in CI), against the
 * CPU's {@link PooledAttentionMap}, {@link BlockSelector} and {@link BlockMask}. The pooled map matches within a
 * float tolerance; the mask matches exactly (bit for bit) when the CPU selects on the device's probabilities, and
 * end to end on inputs whose rows have no near-ties.
 */
@Timeout(value = 300, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class BlockMaskKernelsTest {
    private static final int QUERY_BLOCK = 128;
    private static final int KEY_BLOCK = 64;

    private static DeviceMaskPipeline open(String backend) {
        if (backend.equals("opencl")) {
            assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): OpenCL case skipped");
        }
        return new DeviceMaskPipeline(backend);
    }

    /**
     * Shapes (B, H, N, d), (k, p) and layouts. N = 1000: 8 query blocks (the last of 104 tokens) and 16 key blocks
     * (the last of 40); N = 700: 6 query blocks (the last of 60, and not a multiple of the softmax kernel's 16 rows
     * per group) and 11 key blocks (the last of 60); N = 2100 at d = 40: 17 query blocks (two softmax groups per
     * head, the second with one live row) and d not a multiple of the softmax kernel's 16-column key tile.
     */
    static List<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (String backend : List.of("emulator", "opencl")) {
            for (MaskMode mode : List.of(MaskMode.DENSE, MaskMode.TOPK, MaskMode.TOPP, MaskMode.HYBRID)) {
                out.add(Arguments.of(backend, mode, 1, 2, 1000, 64, 0.2, 0.6, AttentionLayout.BHND));
                out.add(Arguments.of(backend, mode, 2, 3, 1000, 128, 0.2, 0.6, AttentionLayout.BHND));
            }
            out.add(Arguments.of(backend, MaskMode.HYBRID, 1, 2, 2100, 40, 0.2, 0.6, AttentionLayout.BHND));
            // Tiny k and p: one block per row.
            out.add(Arguments.of(backend, MaskMode.HYBRID, 2, 2, 700, 64, 1e-3, 1e-3, AttentionLayout.BHND));
            // Tokens before heads, (B, N, H, d).
            out.add(Arguments.of(backend, MaskMode.HYBRID, 2, 3, 700, 64, 0.2, 0.6, AttentionLayout.BNHD));
        }
        return out;
    }

    /**
     * q and k (B, H, N, d) with a random direction per block plus token noise, so pooled scores spread like
     * N(0, 1) after the 1/sqrt(d) scale and rows are neither flat nor tied.
     */
    private static float[] blockStructured(Random rnd, int heads, int n, int d, int block) {
        float[] x = new float[heads * n * d];
        float[] dir = new float[d];
        for (int h = 0; h < heads; h++) {
            for (int t = 0; t < n; t++) {
                if (t % block == 0) {
                    for (int c = 0; c < d; c++) {
                        dir[c] = (float) rnd.nextGaussian();
                    }
                }
                for (int c = 0; c < d; c++) {
                    x[(h * n + t) * d + c] = dir[c] + 0.5f * (float) rnd.nextGaussian();
                }
            }
        }
        return x;
    }

    @ParameterizedTest(name = "{0} {1} B={2} H={3} N={4} d={5} k={6} p={7} {8}")
    @MethodSource("cases")
    void pipelineMatchesCpu(String backend, MaskMode mode, int b, int h, int n, int d, double topk, double topp,
            AttentionLayout layout) {
        Random rnd = new Random(1000L * d + 10L * b + h + mode.ordinal());
        float[] q = blockStructured(rnd, b * h, n, d, QUERY_BLOCK);
        float[] k = blockStructured(rnd, b * h, n, d, KEY_BLOCK);
        float scale = (float) (1 / Math.sqrt(d));
        BlockGrid qg = new BlockGrid(n, QUERY_BLOCK);
        BlockGrid kg = new BlockGrid(n, KEY_BLOCK);
        DeviceMaskPipeline.Result dev;
        try (DeviceMaskPipeline pipeline = open(backend)) {
            dev = pipeline.fromInputs(inLayout(q, b, h, n, d, layout), inLayout(k, b, h, n, d, layout), b, h,
                    layout == AttentionLayout.BNHD, n, d, QUERY_BLOCK, KEY_BLOCK, scale, mode, topk, topp);
            for (String line : pipeline.lastPaths().strip().split("\n")) {
                assertTrue(line.endsWith(backend.equals("emulator") ? ": emulator" : ": native"),
                        "path of " + line + " on " + backend);
            }
        }
        // Pooling: a float sum of at most 128 values of size ~1.2: 1e-5 absolute + 1e-5 relative against float64.
        assertClose("qPooled", poolReference(q, b * h, n, d, QUERY_BLOCK), dev.qPooled(), 1e-5, 1e-5);
        assertClose("kPooled", poolReference(k, b * h, n, d, KEY_BLOCK), dev.kPooled(), 1e-5, 1e-5);
        // The map: float dots of length d on float means and a float softmax vs float64 throughout;
        // scores ~ N(0, 1), so 2e-6 absolute + 2e-5 relative on probabilities.
        int[] shape = layout == AttentionLayout.BNHD ? new int[] {b, n, h, d} : new int[] {b, h, n, d};
        PooledAttentionMap cpuMap = PooledAttentionMap.compute(Tensor.of(inLayout(q, b, h, n, d, layout), shape),
                Tensor.of(inLayout(k, b, h, n, d, layout), shape), QUERY_BLOCK, KEY_BLOCK, scale, layout);
        float[] cpuProbs = cpuMap.toTensor().toFloatArray();
        assertClose("probs", toDouble(cpuProbs), dev.probs(), 2e-6, 2e-5);

        // Exact: the CPU selector on the device's own probabilities.
        PooledAttentionMap devMap = PooledAttentionMap.ofProbabilities(b, h, qg, kg, dev.probs());
        assertSameMask(BlockSelector.select(devMap, mode, topk, topp), dev, "CPU selector on the device map");
        // Exact end to end, given that no row has a near-tie the float differences could flip.
        BlockMask cpuMask = BlockSelector.select(cpuMap, mode, topk, topp);
        assertNoNearTies(cpuProbs, cpuMask, mode, topp);
        assertSameMask(cpuMask, dev, "CPU end to end");
        if (topk < 0.01 && topp < 0.01) {
            assertEquals(b * h * qg.blocks(), dev.rowBlocks().length, "tiny k and p keep one block per row");
        } else if (mode == MaskMode.DENSE) {
            assertEquals(b * h * qg.blocks() * kg.blocks(), dev.rowBlocks().length, "dense keeps every block");
        } else {
            assertTrue(dev.rowBlocks().length < b * h * qg.blocks() * kg.blocks(), "a sparse mode drops something");
        }
    }

    /**
     * {@code -Dsparge.maskUnfused=1} (the profiling switch: the pooled softmax as a launch of its own, then the
     * selection) gives the fused launch's map and mask bit for bit, on bf16 inputs as the attention uses them.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"emulator", "opencl"})
    void unfusedSoftmaxGivesTheFusedMapAndMask(String backend) {
        int b = 1;
        int h = 2;
        int n = 1500;
        int d = 64;
        Random rnd = new Random(77);
        float[] q = blockStructured(rnd, b * h, n, d, QUERY_BLOCK);
        float[] k = blockStructured(rnd, b * h, n, d, KEY_BLOCK);
        float scale = (float) (1 / Math.sqrt(d));
        DeviceMaskPipeline.Result fused;
        DeviceMaskPipeline.Result unfused;
        try (DeviceMaskPipeline pipeline = open(backend)) {
            fused = pipeline.fromHalfInputs(true, q, k, b, h, false, n, d, QUERY_BLOCK, KEY_BLOCK, scale,
                    MaskMode.HYBRID, 0.03, 0.3);
            String before = System.getProperty("sparge.maskUnfused");
            System.setProperty("sparge.maskUnfused", "1");
            try {
                unfused = pipeline.fromHalfInputs(true, q, k, b, h, false, n, d, QUERY_BLOCK, KEY_BLOCK, scale,
                        MaskMode.HYBRID, 0.03, 0.3);
            } finally {
                if (before == null) {
                    System.clearProperty("sparge.maskUnfused");
                } else {
                    System.setProperty("sparge.maskUnfused", before);
                }
            }
            assertTrue(pipeline.lastPaths().contains("mSoftmax"), "a softmax launch of its own: "
                    + pipeline.lastPaths());
        }
        assertArrayEquals(fused.probs(), unfused.probs(), "the map, bit for bit");
        assertArrayEquals(fused.keep(), unfused.keep(), "the keep flags");
        assertArrayEquals(fused.rowBlocks(), unfused.rowBlocks(), "the row lists");
        assertArrayEquals(fused.colBlocks(), unfused.colBlocks(), "the column lists");
        assertTrue(fused.rowBlocks().length < b * h * 12 * 24, "hybrid drops blocks: " + fused.rowBlocks().length);
    }

    /**
     * A long sequence on OpenCL only (the emulator would take minutes): N = 70,000 gives 547 query blocks and 1,094
     * key blocks, so each work-item scores several key blocks, the sort pads rows to 2,048 and the row lists span
     * five chunks. The map within the float tolerance, the mask exactly the CPU selector's on the device's map.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"opencl"})
    void longSequenceOnOpenCl(String backend) {
        int b = 1;
        int h = 1;
        int n = 70_000;
        int d = 64;
        Random rnd = new Random(4242);
        float[] q = blockStructured(rnd, b * h, n, d, QUERY_BLOCK);
        float[] k = blockStructured(rnd, b * h, n, d, KEY_BLOCK);
        float scale = (float) (1 / Math.sqrt(d));
        DeviceMaskPipeline.Result dev;
        try (DeviceMaskPipeline pipeline = open(backend)) {
            dev = pipeline.fromInputs(q, k, b, h, false, n, d, QUERY_BLOCK, KEY_BLOCK, scale, MaskMode.HYBRID, 0.03,
                    0.2);
        }
        PooledAttentionMap cpuMap = PooledAttentionMap.compute(Tensor.of(q, b, h, n, d), Tensor.of(k, b, h, n, d),
                QUERY_BLOCK, KEY_BLOCK, scale, AttentionLayout.BHND);
        // as in pipelineMatchesCpu: 2e-6 absolute + 2e-5 relative on probabilities
        assertClose("probs", toDouble(cpuMap.toTensor().toFloatArray()), dev.probs(), 2e-6, 2e-5);
        BlockGrid qg = new BlockGrid(n, QUERY_BLOCK);
        BlockGrid kg = new BlockGrid(n, KEY_BLOCK);
        assertEquals(1094, kg.blocks());
        PooledAttentionMap devMap = PooledAttentionMap.ofProbabilities(b, h, qg, kg, dev.probs());
        BlockMask expected = BlockSelector.select(devMap, MaskMode.HYBRID, 0.03, 0.2);
        assertSameMask(expected, dev, "CPU selector on the device map");
        assertTrue(expected.sparsity() > 0.5, "sparsity " + expected.sparsity());
    }

    /**
     * Crafted rows through the selection kernels, with the CPU selector on the very same probabilities: ties
     * (equal values, equal zeros), a sink row where tiny k and p keep one block, p at exactly a float64 prefix
     * sum and one ulp above it (so the device's running sum must round like Java's), p = 1, and nk = 300 so
     * that rows span two work-group chunks and the sort pads to 512.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"emulator", "opencl"})
    void selectionMatchesCpuOnCraftedRows(String backend) {
        int b = 1;
        int h = 2;
        int nq = 6;
        int nk = 300;
        BlockGrid qg = new BlockGrid(nq * QUERY_BLOCK - 5, QUERY_BLOCK);
        BlockGrid kg = new BlockGrid(nk * KEY_BLOCK - 7, KEY_BLOCK);
        Random rnd = new Random(77);
        float[] probs = new float[b * h * nq * nk];
        for (int r = 0; r < b * h * nq; r++) {
            float[] row = craftedRow(r % nq, nk, rnd);
            System.arraycopy(row, 0, probs, r * nk, nk);
        }
        // p at exactly the float64 mass of the 5 largest entries of row 0 (ties by lower index), and one ulp up.
        double exact = prefixMass(Arrays.copyOfRange(probs, 0, nk), 5);
        List<double[]> settings = List.of(new double[] {0.03, 0.2}, new double[] {1e-4, 1e-7},
                new double[] {0.5, 1.0}, new double[] {0.01, exact}, new double[] {0.01, Math.nextUp(exact)});
        try (DeviceMaskPipeline pipeline = open(backend)) {
            for (double[] kp : settings) {
                for (MaskMode mode : List.of(MaskMode.TOPK, MaskMode.TOPP, MaskMode.HYBRID, MaskMode.DENSE)) {
                    DeviceMaskPipeline.Result dev = pipeline.fromProbabilities(probs, b * h, nq, nk, mode, kp[0],
                            kp[1]);
                    PooledAttentionMap map = PooledAttentionMap.ofProbabilities(b, h, qg, kg, probs);
                    assertSameMask(BlockSelector.select(map, mode, kp[0], kp[1]), dev,
                            mode + " k=" + kp[0] + " p=" + kp[1]);
                }
            }
            // The exact-prefix settings really decide between 5 and 6 blocks on row 0.
            DeviceMaskPipeline.Result atExact = pipeline.fromProbabilities(probs, b * h, nq, nk, MaskMode.TOPP, 0.01,
                    exact);
            DeviceMaskPipeline.Result aboveExact = pipeline.fromProbabilities(probs, b * h, nq, nk, MaskMode.TOPP, 0.01,
                    Math.nextUp(exact));
            assertEquals(5, atExact.counts()[0], "p at the exact 5-entry mass keeps 5 blocks");
            assertEquals(6, aboveExact.counts()[0], "p one ulp above it keeps 6 blocks");
            DeviceMaskPipeline.Result tiny = pipeline.fromProbabilities(probs, b * h, nq, nk, MaskMode.HYBRID, 1e-4,
                    1e-7);
            for (int r = 0; r < b * h * nq; r++) {
                assertEquals(1, tiny.counts()[r], "row " + r + " with tiny k and p keeps one block");
            }
        }
    }

    /**
     * Top-p's running sum must round like Java's {@code double +}: on one row whose entries span many binades (so
     * that many float64 prefix sums round), p set to exactly the CPU's c-entry mass keeps c blocks and one ulp more
     * keeps what the CPU keeps, for c = 1..40.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"emulator", "opencl"})
    void toppRunningSumRoundsLikeJava(String backend) {
        int nk = 300;
        Random rnd = new Random(78);
        // The c-th largest entry is about 2^(-1.5 c) with a random mantissa: from c ~ 20 on, the float64 running
        // sum (about 0.5) can no longer hold every bit of the next entry and must round. The rest are tiny.
        float[] row = new float[nk];
        for (int j = 0; j < nk; j++) {
            row[j] = (float) (1e-30 * (1 + rnd.nextDouble()));
        }
        for (int c = 0; c < 41; c++) {
            row[(c * 7919) % nk] = (float) (Math.pow(2, -1.5 * c - 1) * (1 + rnd.nextDouble()) / 2);
        }
        PooledAttentionMap map = PooledAttentionMap.ofProbabilities(1, 1, new BlockGrid(QUERY_BLOCK, QUERY_BLOCK),
                new BlockGrid(nk * KEY_BLOCK, KEY_BLOCK), row);
        int rounded = 0;
        try (DeviceMaskPipeline pipeline = open(backend)) {
            for (int c = 1; c <= 40; c++) {
                double exact = prefixMass(row, c);
                if (new java.math.BigDecimal(exact).compareTo(exactPrefixMass(row, c)) != 0) {
                    rounded++;
                }
                // At p = the mass, the CPU keeps c (fewer where the c-th entry vanished in the rounding);
                // one ulp above, c + 1 (more where the next entries vanish).
                for (double p : new double[] {exact, Math.nextUp(exact)}) {
                    int cpu = BlockSelector.select(map, MaskMode.TOPP, 0.01, p).keptInRow(0, 0, 0);
                    assertTrue(p == exact ? cpu <= c : cpu > c, "CPU keeps " + cpu + " at c = " + c + ", p = " + p);
                    assertEquals(cpu, pipeline.fromProbabilities(row, 1, 1, nk, MaskMode.TOPP, 0.01, p).counts()[0],
                            "p = " + p + (p == exact ? ", the" : ", one ulp above the") + " float64 mass of the "
                                    + c + " largest entries");
                }
            }
        }
        assertTrue(rounded >= 10, "test data: only " + rounded + " of 40 prefix sums round in float64");
    }

    /** The exact (unrounded) sum of a row's {@code count} largest entries. */
    private static java.math.BigDecimal exactPrefixMass(float[] row, int count) {
        float[] sorted = row.clone();
        Arrays.sort(sorted);
        java.math.BigDecimal s = java.math.BigDecimal.ZERO;
        for (int e = 0; e < count; e++) {
            s = s.add(new java.math.BigDecimal(sorted[row.length - 1 - e]));
        }
        return s;
    }

    /** Row kinds: random, all equal, sink plus ties, many exact zeros, repeated values, subnormals and signed zeros. */
    private static float[] craftedRow(int kind, int nk, Random rnd) {
        float[] row = new float[nk];
        switch (kind) {
            case 1 -> Arrays.fill(row, 1f / nk);
            case 2 -> {
                Arrays.fill(row, 0.1f / (nk - 1));
                row[nk / 2] = 0.9f;
            }
            case 3 -> {
                for (int j = 0; j < nk; j += 7) {
                    row[j] = 7f / nk;
                }
            }
            case 4 -> {
                for (int j = 0; j < nk; j++) {
                    row[j] = (1 + j % 5) / (3f * nk);
                }
            }
            case 5 -> {
                // Subnormals, -0 and +0 (equal keys: the lower index first) behind a few large entries.
                for (int j = 0; j < nk; j++) {
                    row[j] = j % 3 == 0 ? -0.0f : j % 3 == 1 ? 0.0f : Float.MIN_VALUE * (1 + j % 4);
                }
                row[3] = 0.5f;
                row[100] = 0.3f;
                row[nk - 1] = 0.2f;
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

    /** The float64 running sum of a row's {@code count} largest entries in BlockSelector's order. */
    private static double prefixMass(float[] row, int count) {
        Integer[] order = new Integer[row.length];
        for (int j = 0; j < row.length; j++) {
            order[j] = j;
        }
        Arrays.sort(order, (x, y) -> row[x] != row[y] ? Float.compare(row[y], row[x]) : Integer.compare(x, y));
        double mass = 0;
        for (int e = 0; e < count; e++) {
            mass += row[order[e]];
        }
        return mass;
    }

    /** A (B, H, n, d) array as it lies in {@code layout}. */
    private static float[] inLayout(float[] x, int b, int h, int n, int d, AttentionLayout layout) {
        if (layout == AttentionLayout.BHND) {
            return x;
        }
        float[] out = new float[x.length];
        for (int bi = 0; bi < b; bi++) {
            for (int hi = 0; hi < h; hi++) {
                for (int t = 0; t < n; t++) {
                    System.arraycopy(x, ((bi * h + hi) * n + t) * d, out, ((bi * n + t) * h + hi) * d, d);
                }
            }
        }
        return out;
    }

    /** Mean over each block's true length, in float64 ((B, H, n, d) input). */
    private static double[] poolReference(float[] x, int heads, int n, int d, int block) {
        int blocks = (n + block - 1) / block;
        double[] out = new double[heads * blocks * d];
        for (int bh = 0; bh < heads; bh++) {
            for (int blk = 0; blk < blocks; blk++) {
                int len = Math.min(block, n - blk * block);
                for (int c = 0; c < d; c++) {
                    double s = 0;
                    for (int t = blk * block; t < blk * block + len; t++) {
                        s += x[(bh * n + t) * d + c];
                    }
                    out[(bh * blocks + blk) * d + c] = s / len;
                }
            }
        }
        return out;
    }

    /**
     * Fails if a row's selection could flip under 1e-5 changes of its entries: the last kept and the first dropped
     * entry differ by less, or a Top-p running sum lies within 1e-5 of p. The seeds are fixed, so this guards the
     * test data, not the kernels.
     */
    private static void assertNoNearTies(float[] probs, BlockMask cpu, MaskMode mode, double p) {
        int nk = cpu.keyGrid().blocks();
        int[] rowStart = cpu.rowStart();
        for (int r = 0; r < rowStart.length - 1; r++) {
            float[] sorted = Arrays.copyOfRange(probs, r * nk, (r + 1) * nk);
            Arrays.sort(sorted);
            int kept = rowStart[r + 1] - rowStart[r];
            if (kept < nk) {
                assertTrue(sorted[nk - kept] - sorted[nk - kept - 1] > 1e-5,
                        "test data has a near-tie at the cut of row " + r);
            }
            double mass = 0;
            for (int e = 0; e < nk && (mode == MaskMode.TOPP || mode == MaskMode.HYBRID); e++) {
                mass += sorted[nk - 1 - e];
                assertTrue(Math.abs(mass - p) > 1e-5, "test data has a Top-p sum within 1e-5 of p in row " + r);
            }
        }
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
    }

    private static double[] toDouble(float[] v) {
        double[] out = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[i];
        }
        return out;
    }

    private static void assertClose(String what, double[] expected, float[] actual, double atol, double rtol) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            double diff = Math.abs(actual[i] - expected[i]);
            if (!(diff <= atol + rtol * Math.abs(expected[i]))) {
                fail(what + "[" + i + "] is " + actual[i] + ", expected " + expected[i] + " within " + atol + " + "
                        + rtol + " * |expected|");
            }
        }
    }
}
