package io.sparge4j.tests.portability;

import io.sparge4j.engine.execution.ExecutionBackends;
import io.sparge4j.engine.ops.Attention;
import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.sparse.BlockGrid;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.BlockSelector;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.MaskStatistics;
import io.sparge4j.engine.sparse.PooledAttentionMap;
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.ExecutionPlan;
import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.attention.BlockMaskTasks;
import io.sparge4j.kernels.attention.FlashBackwardTasks;
import io.sparge4j.kernels.attention.FlashForwardKernels;
import io.sparge4j.kernels.attention.FlashForwardTasks;
import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.types.arrays.FloatArray;
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The portability suite for SpargeAttention2's device kernels: the whole attention step in one task graph (pool q
 * and k, pooled softmax, hybrid Top-k + Top-p selection, row and column lists, block-sparse forward with logsumexp,
 * backward) on every backend present, against the CPU engine on the same inputs:
 * <ul>
 *   <li>the pooled map within 1e-5 absolute + 1e-5 relative of {@link PooledAttentionMap#compute} (float sums of
 *       at most 128 values, in another order);</li>
 *   <li>the mask and its transpose exactly equal to {@link BlockSelector#select} on the device's own map (so a
 *       near-tie decided differently by a last-bit difference in the map cannot fail the test; the map check above
 *       bounds how far the maps differ);</li>
 *   <li>o within 1e-5 x (1 + |o_cpu|), lse within 1e-5 absolute, and dq, dk, dv within 1e-4 of each gradient's
 *       largest magnitude, of {@link SparseAttention#forward} and {@link SparseAttention#backward} with that mask.
 *       (The kernels' own tests bound both sides against float64.)</li>
 * </ul>
 * Shapes are awkward on purpose: N = 200 and 1000 (last query and key blocks partial), N = 129 (a last query block
 * of one row, a last key block of one key) with k and p so small that every row keeps exactly one block; d = 64 and
 * 128. The emulator (one virtual thread per work-item) runs the smallest shape only.
 */
@Timeout(value = 900, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class AttentionPortabilityTest {
    private static final int QB = FlashForwardKernels.QUERY_BLOCK;
    private static final int KB = FlashForwardKernels.KEY_BLOCK;

    /** One case: shape (B, H, N, d) and the hybrid mask's k and p. */
    record Case(int batch, int heads, int n, int d, double topk, double topp) {
        @Override
        public String toString() {
            return "B=" + batch + " H=" + heads + " N=" + n + " d=" + d + " k=" + topk + " p=" + topp;
        }
    }

    private static final List<Case> EMULATOR_CASES = List.of(new Case(1, 1, 200, 64, 0.3, 0.5));
    private static final List<Case> DEVICE_CASES = List.of(new Case(1, 2, 200, 64, 0.3, 0.5),
            new Case(2, 1, 1000, 128, 0.2, 0.6), new Case(1, 2, 129, 128, 1e-3, 1e-3));

    @TestFactory
    Stream<DynamicNode> emulator() {
        return Stream.of(suite(PresentBackends.emulator(), EMULATOR_CASES));
    }

    @TestFactory
    Stream<DynamicNode> openCl() {
        return PresentBackends.openCl().stream().<DynamicNode>map(b -> suite(b, DEVICE_CASES));
    }

    @TestFactory
    Stream<DynamicNode> cuda() {
        return PresentBackends.cuda().stream().<DynamicNode>map(b -> suite(b, DEVICE_CASES));
    }

    private static DynamicContainer suite(PresentBackends.Backend backend, List<Case> cases) {
        List<DynamicTest> tests = new ArrayList<>();
        for (Case c : cases) {
            tests.add(DynamicTest.dynamicTest(c.toString(), () -> check(backend, c)));
        }
        return DynamicContainer.dynamicContainer(backend.name(), tests);
    }

    private static void check(PresentBackends.Backend backend, Case c) {
        int b = c.batch();
        int h = c.heads();
        int n = c.n();
        int d = c.d();
        int heads = b * h;
        long seed = 31L * n + d + 7L * heads;
        float scale = (float) (1 / Math.sqrt(d));
        try (Tensor q = Tensor.randn(seed, b, h, n, d);
                Tensor k = Tensor.randn(seed + 1, b, h, n, d);
                Tensor v = Tensor.randn(seed + 2, b, h, n, d);
                Tensor dOut = Tensor.randn(seed + 3, b, h, n, d)) {
            Device dev = runOnDevice(backend, c, q, k, v, dOut, scale);
            String where = backend.name() + " " + c + ": ";

            BlockGrid qg = new BlockGrid(n, QB);
            BlockGrid kg = new BlockGrid(n, KB);
            PooledAttentionMap cpuMap = PooledAttentionMap.compute(q, k, QB, KB, scale, AttentionLayout.BHND);
            try (Tensor cpuProbs = cpuMap.toTensor()) {
                assertClose(where + "pooled map", cpuProbs.toFloatArray(), dev.probs, 1e-5, 1e-5);
            }
            PooledAttentionMap devMap = PooledAttentionMap.ofProbabilities(b, h, qg, kg, dev.probs);
            BlockMask expected = BlockSelector.select(devMap, MaskMode.HYBRID, c.topk(), c.topp());
            assertArrayEquals(expected.rowStart(), dev.rowStart, where + "row offsets");
            assertArrayEquals(expected.rowBlocks(), dev.rowBlocks, where + "row lists");
            assertArrayEquals(expected.colStart(), dev.colStart, where + "column offsets");
            assertArrayEquals(expected.colBlocks(), dev.colBlocks, where + "column lists");
            if (c.topk() < 0.01) {
                for (int r = 0; r < heads * qg.blocks(); r++) {
                    assertTrue(dev.rowStart[r + 1] - dev.rowStart[r] == 1, where + "row " + r + " should keep one"
                            + " block, kept " + (dev.rowStart[r + 1] - dev.rowStart[r]));
                }
            }

            SparseAttention.Config config = SparseAttention.Config.defaults().withBlocks(QB, KB).withScale(scale);
            SparseAttention.Selection selection = new SparseAttention.Selection(expected, null,
                    MaskStatistics.of(expected, null));
            try (SparseAttention.Result cpu = SparseAttention.forward(q, k, v, selection, config);
                    Attention.Gradients grads = SparseAttention.backward(dOut, q, k, v, cpu, config)) {
                float[] o = cpu.out().toFloatArray();
                for (int i = 0; i < o.length; i++) {
                    double tol = 1e-5 * (1 + Math.abs(o[i]));
                    if (!(Math.abs(dev.o[i] - o[i]) <= tol)) {
                        throw new AssertionError(where + "o[" + i + "] = " + dev.o[i] + ", CPU " + o[i] + " (tolerance "
                                + tol + ")");
                    }
                }
                assertClose(where + "lse", cpu.logsumexp().toFloatArray(), dev.lse, 1e-5, 0);
                assertRelativeToMax(where + "dq", grads.dq().toFloatArray(), dev.dq);
                assertRelativeToMax(where + "dk", grads.dk().toFloatArray(), dev.dk);
                assertRelativeToMax(where + "dv", grads.dv().toFloatArray(), dev.dv);
            }
        }
    }

    /** What the device produced; outputs start as NaN, so an element no kernel writes shows. */
    private record Device(float[] probs, int[] rowStart, int[] rowBlocks, int[] colStart, int[] colBlocks, float[] o,
            float[] lse, float[] dq, float[] dk, float[] dv) {
    }

    private static Device runOnDevice(PresentBackends.Backend backend, Case c, Tensor q, Tensor k, Tensor v,
            Tensor dOut, float scale) {
        int heads = c.batch() * c.heads();
        int n = c.n();
        int d = c.d();
        int size = heads * n * d;
        FloatArray qa = FloatArray.fromArray(q.toFloatArray());
        FloatArray ka = FloatArray.fromArray(k.toFloatArray());
        FloatArray va = FloatArray.fromArray(v.toFloatArray());
        FloatArray da = FloatArray.fromArray(dOut.toFloatArray());
        FloatArray o = poisoned(size);
        FloatArray lse = poisoned(heads * n);
        FloatArray dq = poisoned(size);
        FloatArray dk = poisoned(size);
        FloatArray dv = poisoned(size);
        BlockMaskTasks mask = new BlockMaskTasks(heads, n, d, QB, KB);
        FlashBackwardTasks backward = new FlashBackwardTasks(heads, n, d, QB, KB);
        GridScheduler grids = new GridScheduler();
        TaskGraph g = new TaskGraph("attention").transferToDevice(DataTransferMode.FIRST_EXECUTION, qa, ka, va, da);
        mask.addPooledMap(g, grids, "m", qa, ka, scale, c.heads(), false);
        mask.addSelection(g, grids, "m", BlockSelector.topkCount(c.topk(), mask.keyBlocks()), c.topp());
        FlashForwardTasks.addForward(g, grids, "fwd", qa, ka, va, o, lse, mask.rowStart, mask.rowBlocks, heads, n, d,
                scale);
        backward.addBackward(g, grids, "bwd", qa, ka, va, da, o, lse, mask.rowStart, mask.rowBlocks, mask.colStart,
                mask.colBlocks, dq, dk, dv, scale);
        g.transferToHost(DataTransferMode.EVERY_EXECUTION, mask.probs, mask.rowStart, mask.rowBlocks, mask.colStart,
                mask.colBlocks, o, lse, dq, dk, dv);
        try (ExecutionPlan plan = new ExecutionPlan(g.snapshot()).withGridScheduler(grids)
                .withExecutor(ExecutionBackends.openExecutor(backend.selection()))) {
            plan.execute();
        }
        int rows = mask.rows();
        int[] rowStart = Arrays.copyOf(mask.rowStart.toHeapArray(), rows + 1);
        int[] colStart = Arrays.copyOf(mask.colStart.toHeapArray(), mask.columns() + 1);
        return new Device(Arrays.copyOf(mask.probs.toHeapArray(), rows * mask.keyBlocks()), rowStart,
                Arrays.copyOf(mask.rowBlocks.toHeapArray(), rowStart[rows]), colStart,
                Arrays.copyOf(mask.colBlocks.toHeapArray(), colStart[mask.columns()]), o.toHeapArray(),
                lse.toHeapArray(), dq.toHeapArray(), dk.toHeapArray(), dv.toHeapArray());
    }

    private static FloatArray poisoned(int size) {
        FloatArray a = new FloatArray(size);
        a.init(Float.NaN);
        return a;
    }

    /** |got - ref| ≤ abs + rel·|ref| element by element; infinities must match exactly. */
    private static void assertClose(String what, float[] ref, float[] got, double abs, double rel) {
        assertTrue(ref.length == got.length, what + ": " + got.length + " values, expected " + ref.length);
        for (int i = 0; i < ref.length; i++) {
            if (Float.isInfinite(ref[i]) && ref[i] == got[i]) {
                continue;
            }
            double tol = abs + rel * Math.abs(ref[i]);
            if (!(Math.abs(got[i] - ref[i]) <= tol)) {
                throw new AssertionError(what + "[" + i + "] = " + got[i] + ", CPU " + ref[i] + " (tolerance " + tol
                        + ")");
            }
        }
    }

    /** Every element within 1e-4 of the reference's largest magnitude. */
    private static void assertRelativeToMax(String what, float[] ref, float[] got) {
        double max = 0;
        for (float r : ref) {
            max = Math.max(max, Math.abs(r));
        }
        assertTrue(max > 0, what + ": the CPU gradient is all zeros, so the comparison would prove nothing");
        assertClose(what, ref, got, 1e-4 * max, 0);
    }
}
