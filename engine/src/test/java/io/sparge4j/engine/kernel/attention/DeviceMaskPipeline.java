package io.sparge4j.engine.kernel.attention;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.execution.ExecutionBackends;
import io.sparge4j.engine.execution.KernelCompiler;
import io.sparge4j.engine.execution.TaskGraphExecutor;
import io.sparge4j.engine.sparse.BlockSelector;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.kernels.ExecutionPlan;
import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.attention.BlockMaskTasks;
import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;
import io.sparge4j.kernels.types.arrays.HalfWidthFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

import java.util.Arrays;

/**
 * Runs the block-mask kernels through the TaskGraph API on one backend, as the engine will, via
 * {@link BlockMaskTasks}: the whole pipeline in one graph (pool q, pool k, pooled softmax, select, row lists,
 * column lists) with only the inputs sent and the results read back, or the selection half alone from given
 * probabilities. Every output array starts poisoned, so that an entry the kernels do not write shows.
 */
final class DeviceMaskPipeline implements AutoCloseable {
    /** What the device produced; the lists are trimmed to their true lengths. */
    record Result(float[] qPooled, float[] kPooled, float[] probs, byte[] keep, int[] counts, int[] rowStart,
            int[] rowBlocks, int[] colStart, int[] colBlocks) {
    }

    private final ComputeDevice device;
    private final KernelCompiler compiler;
    private String lastPaths = "";

    DeviceMaskPipeline(String backend) {
        BackendSelection selection = BackendSelection.withOpenClDeviceFromEnvironment(backend);
        this.device = ExecutionBackends.openDevice(selection);
        this.compiler = ExecutionBackends.compiler(selection);
    }

    @Override
    public void close() {
        device.close();
    }

    /** The Top-k count a mode passes to {@link BlockMaskTasks#addSelection}. */
    static int topk(MaskMode mode, double k, int nk) {
        return switch (mode) {
            case DENSE -> nk;
            case TOPK, HYBRID -> BlockSelector.topkCount(k, nk);
            default -> 0;
        };
    }

    /** The Top-p threshold a mode passes to {@link BlockMaskTasks#addSelection}. */
    static double topp(MaskMode mode, double p) {
        return mode == MaskMode.TOPP || mode == MaskMode.HYBRID ? p : 0;
    }

    private static BlockMaskTasks poisoned(BlockMaskTasks t) {
        t.qPooled.init(Float.NaN);
        t.kPooled.init(Float.NaN);
        t.probs.init(Float.NaN);
        t.keep.init((byte) 7);
        t.counts.init(-7);
        t.rowStart.init(-7);
        t.rowBlocks.init(-7);
        t.colCounts.init(-7);
        t.colStart.init(-7);
        t.colBlocks.init(-7);
        return t;
    }

    /** The whole pipeline from q and k, (B, H, n, d) or, when {@code tokensBeforeHeads}, (B, n, H, d). */
    Result fromInputs(float[] q, float[] k, int b, int h, boolean tokensBeforeHeads, int n, int d, int queryBlock,
            int keyBlock, float scale, MaskMode mode, double topk, double topp) {
        BlockMaskTasks t = poisoned(new BlockMaskTasks(b * h, n, d, queryBlock, keyBlock));
        FloatArray qa = FloatArray.fromArray(q);
        FloatArray ka = FloatArray.fromArray(k);
        TaskGraph g = new TaskGraph("mask").transferToDevice(DataTransferMode.FIRST_EXECUTION, qa, ka);
        GridScheduler s = new GridScheduler();
        t.addPooledMap(g, s, "m", qa, ka, scale, h, tokensBeforeHeads);
        t.addSelection(g, s, "m", topk(mode, topk, t.keyBlocks()), topp(mode, topp));
        g.transferToHost(DataTransferMode.EVERY_EXECUTION, t.qPooled, t.kPooled, t.probs);
        return execute(g, s, t, t.qPooled.toHeapArray(), t.kPooled.toHeapArray());
    }

    /**
     * As {@link #fromInputs} with q and k stored in bf16 or f16 ({@code BlockMaskTasks.addPooledMapPairs}: the
     * pooling reads the 16-bit values as int pairs); the values are rounded to the format first.
     */
    Result fromHalfInputs(boolean bf16, float[] q, float[] k, int b, int h, boolean tokensBeforeHeads, int n, int d,
            int queryBlock, int keyBlock, float scale, MaskMode mode, double topk, double topp) {
        BlockMaskTasks t = poisoned(new BlockMaskTasks(b * h, n, d, queryBlock, keyBlock));
        HalfWidthFloatArray qh = bf16 ? BFloat16Array.fromArray(q) : HalfFloatArray.fromArray(q);
        HalfWidthFloatArray kh = bf16 ? BFloat16Array.fromArray(k) : HalfFloatArray.fromArray(k);
        IntArray qa = IntArray.fromSegmentShallow(qh.getSegment());
        IntArray ka = IntArray.fromSegmentShallow(kh.getSegment());
        TaskGraph g = new TaskGraph("mask").transferToDevice(DataTransferMode.FIRST_EXECUTION, qa, ka);
        GridScheduler s = new GridScheduler();
        t.addPooledMapPairs(g, s, "m", qa, ka, bf16, scale, h, tokensBeforeHeads);
        t.addSelection(g, s, "m", topk(mode, topk, t.keyBlocks()), topp(mode, topp));
        g.transferToHost(DataTransferMode.EVERY_EXECUTION, t.qPooled, t.kPooled, t.probs);
        return execute(g, s, t, t.qPooled.toHeapArray(), t.kPooled.toHeapArray());
    }

    /** Selection and lists only, from given probabilities (heads * nq rows of nk). */
    Result fromProbabilities(float[] probabilities, int heads, int nq, int nk, MaskMode mode, double topk,
            double topp) {
        // Any (tokens, d) giving nq query and nk key blocks: the pooling tasks are not added.
        BlockMaskTasks t = poisoned(new BlockMaskTasks(heads, nk, 1, (nk + nq - 1) / nq, 1));
        if (t.queryBlocks() != nq) {
            throw new IllegalArgumentException("nq " + nq + " cannot be made with " + nk + " tokens");
        }
        for (int i = 0; i < probabilities.length; i++) {
            t.probs.set(i, probabilities[i]);
        }
        TaskGraph g = new TaskGraph("mask").transferToDevice(DataTransferMode.FIRST_EXECUTION, t.probs);
        GridScheduler s = new GridScheduler();
        t.addSelection(g, s, "m", topk(mode, topk, nk), topp(mode, topp));
        return execute(g, s, t, null, null);
    }

    private Result execute(TaskGraph g, GridScheduler s, BlockMaskTasks t, float[] qp, float[] kp) {
        g.transferToHost(DataTransferMode.EVERY_EXECUTION, t.keep, t.counts, t.rowStart, t.rowBlocks, t.colStart,
                t.colBlocks);
        try (ExecutionPlan plan = new ExecutionPlan(g.snapshot()).withGridScheduler(s)
                .withExecutor(new TaskGraphExecutor(device, compiler, false))) {
            lastPaths = plan.execute().pathReport();
        }
        int[] rs = t.rowStart.toHeapArray();
        int[] cs = t.colStart.toHeapArray();
        return new Result(qp == null ? null : t.qPooled.toHeapArray(), kp == null ? null : t.kPooled.toHeapArray(),
                t.probs.toHeapArray(), t.keep.toHeapArray(), t.counts.toHeapArray(), rs,
                Arrays.copyOf(t.rowBlocks.toHeapArray(), Math.max(0, rs[t.rows()])), cs,
                Arrays.copyOf(t.colBlocks.toHeapArray(), Math.max(0, cs[t.columns()])));
    }

    /** @return which native path or fallback each task of the last run took, one line per task */
    String lastPaths() {
        return lastPaths;
    }
}
