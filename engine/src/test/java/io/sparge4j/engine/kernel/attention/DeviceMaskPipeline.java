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
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.attention.BlockListKernels;
import io.sparge4j.kernels.attention.BlockPoolingKernels;
import io.sparge4j.kernels.attention.BlockSelectKernels;
import io.sparge4j.kernels.attention.PooledSoftmaxKernels;
import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.types.arrays.ByteArray;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

import java.util.Arrays;

/**
 * Runs the block-mask kernels through the TaskGraph API on one backend, as the engine will: the whole pipeline in
 * one graph (pool q, pool k, pooled softmax, select, row lists, column lists) with only the inputs sent and the
 * results read back, or the selection half alone from given probabilities.
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
        BackendSelection selection = new BackendSelection(backend, null);
        this.device = ExecutionBackends.openDevice(selection);
        this.compiler = ExecutionBackends.compiler(selection);
    }

    @Override
    public void close() {
        device.close();
    }

    /** The Top-k count and Top-p bits the select kernel takes for a mode, as {@link BlockSelectKernels} says. */
    static int topk(MaskMode mode, double k, int nk) {
        return switch (mode) {
            case DENSE -> nk;
            case TOPK, HYBRID -> BlockSelector.topkCount(k, nk);
            default -> 0;
        };
    }

    static long pBits(MaskMode mode, double p) {
        return mode == MaskMode.TOPP || mode == MaskMode.HYBRID ? Double.doubleToRawLongBits(p) : 0L;
    }

    private static WorkerGrid1D grid(int global, int local) {
        WorkerGrid1D g = new WorkerGrid1D((global + local - 1) / local * local);
        g.setLocalWork(local, 1, 1);
        return g;
    }

    private static IntArray poisonedInts(int n) {
        IntArray a = new IntArray(n);
        a.init(-7);
        return a;
    }

    private static FloatArray poisonedFloats(int n) {
        FloatArray a = new FloatArray(n);
        a.init(Float.NaN);
        return a;
    }

    /** The whole pipeline from q and k, (heads, n, d) each with heads = B * H. */
    Result fromInputs(float[] q, float[] k, int heads, int n, int d, int queryBlock, int keyBlock, float scale,
            MaskMode mode, double topk, double topp) {
        int nq = (n + queryBlock - 1) / queryBlock;
        int nk = (n + keyBlock - 1) / keyBlock;
        int rows = heads * nq;
        int columns = heads * nk;
        FloatArray qa = FloatArray.fromArray(q);
        FloatArray ka = FloatArray.fromArray(k);
        FloatArray qp = poisonedFloats(heads * nq * d);
        FloatArray kp = poisonedFloats(heads * nk * d);
        FloatArray probs = poisonedFloats(rows * nk);
        Lists l = new Lists(rows, columns, nk);
        int kCount = topk(mode, topk, nk);
        long pb = pBits(mode, topp);
        TaskGraph g = new TaskGraph("mask")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, qa, ka)
                .task("poolQ", BlockPoolingKernels::poolBlocks, new KernelContext(), qa, qp, heads, n, d, queryBlock)
                .task("poolK", BlockPoolingKernels::poolBlocks, new KernelContext(), ka, kp, heads, n, d, keyBlock)
                .task("softmax", PooledSoftmaxKernels::pooledSoftmax, new KernelContext(), qp, kp, probs, nq, nk, d,
                        scale);
        GridScheduler s = new GridScheduler();
        s.setWorkerGrid("mask.poolQ", grid(heads * nq * d, 128));
        s.setWorkerGrid("mask.poolK", grid(heads * nk * d, 128));
        s.setWorkerGrid("mask.softmax", grid(rows * PooledSoftmaxKernels.GROUP, PooledSoftmaxKernels.GROUP));
        addSelection(g, s, probs, l, heads, nq, nk, kCount, pb);
        g.transferToHost(DataTransferMode.EVERY_EXECUTION, qp, kp, probs);
        execute(g, s);
        return l.result(qp.toHeapArray(), kp.toHeapArray(), probs.toHeapArray(), rows, columns);
    }

    /** Selection and lists only, from given probabilities (heads * nq rows of nk). */
    Result fromProbabilities(float[] probabilities, int heads, int nq, int nk, MaskMode mode, double topk,
            double topp) {
        int rows = heads * nq;
        int columns = heads * nk;
        FloatArray probs = FloatArray.fromArray(probabilities);
        Lists l = new Lists(rows, columns, nk);
        TaskGraph g = new TaskGraph("mask").transferToDevice(DataTransferMode.FIRST_EXECUTION, probs);
        GridScheduler s = new GridScheduler();
        addSelection(g, s, probs, l, heads, nq, nk, topk(mode, topk, nk), pBits(mode, topp));
        execute(g, s);
        return l.result(null, null, probabilities.clone(), rows, columns);
    }

    /** The device arrays of the selection half, poisoned so that an unwritten entry shows. */
    private static final class Lists {
        final ByteArray keep;
        final IntArray counts;
        final IntArray rowStart;
        final IntArray rowBlocks;
        final IntArray colCounts;
        final IntArray colStart;
        final IntArray colBlocks;

        Lists(int rows, int columns, int nk) {
            keep = new ByteArray(rows * nk);
            keep.init((byte) 7);
            counts = poisonedInts(rows);
            rowStart = poisonedInts(rows + 1);
            rowBlocks = poisonedInts(rows * nk); // the worst case: every block kept
            colCounts = poisonedInts(columns);
            colStart = poisonedInts(columns + 1);
            colBlocks = poisonedInts(rows * nk);
        }

        Result result(float[] qp, float[] kp, float[] probs, int rows, int columns) {
            int[] rs = rowStart.toHeapArray();
            int[] cs = colStart.toHeapArray();
            return new Result(qp, kp, probs, keep.toHeapArray(), counts.toHeapArray(), rs,
                    Arrays.copyOf(rowBlocks.toHeapArray(), Math.max(0, rs[rows])), cs,
                    Arrays.copyOf(colBlocks.toHeapArray(), Math.max(0, cs[columns])));
        }
    }

    private static void addSelection(TaskGraph g, GridScheduler s, FloatArray probs, Lists l, int heads, int nq,
            int nk, int kCount, long pb) {
        int rows = heads * nq;
        int columns = heads * nk;
        g.task("select", BlockSelectKernels::selectBlocks, new KernelContext(), probs, l.keep, l.counts, nk, kCount, pb)
                .task("scanRows", BlockListKernels::exclusiveScan, new KernelContext(), l.counts, l.rowStart, rows)
                .task("fillRows", BlockListKernels::fillRowBlocks, new KernelContext(), l.keep, l.rowStart,
                        l.rowBlocks, nk)
                .task("countCols", BlockListKernels::countColumns, new KernelContext(), l.keep, l.colCounts, heads,
                        nq, nk)
                .task("scanCols", BlockListKernels::exclusiveScan, new KernelContext(), l.colCounts, l.colStart,
                        columns)
                .task("fillCols", BlockListKernels::fillColumnBlocks, new KernelContext(), l.keep, l.colStart,
                        l.colBlocks, heads, nq, nk)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, l.keep, l.counts, l.rowStart, l.rowBlocks,
                        l.colStart, l.colBlocks);
        s.setWorkerGrid("mask.select", grid(rows * BlockSelectKernels.GROUP, BlockSelectKernels.GROUP));
        s.setWorkerGrid("mask.scanRows", grid(BlockListKernels.GROUP, BlockListKernels.GROUP));
        s.setWorkerGrid("mask.fillRows", grid(rows * BlockListKernels.GROUP, BlockListKernels.GROUP));
        s.setWorkerGrid("mask.countCols", grid(columns, 64));
        s.setWorkerGrid("mask.scanCols", grid(BlockListKernels.GROUP, BlockListKernels.GROUP));
        s.setWorkerGrid("mask.fillCols", grid(columns, 64));
    }

    private void execute(TaskGraph g, GridScheduler s) {
        try (ExecutionPlan plan = new ExecutionPlan(g.snapshot()).withGridScheduler(s)
                .withExecutor(new TaskGraphExecutor(device, compiler, false))) {
            lastPaths = plan.execute().pathReport();
        }
    }

    /** @return which native path or fallback each task of the last run took, one line per task */
    String lastPaths() {
        return lastPaths;
    }
}
