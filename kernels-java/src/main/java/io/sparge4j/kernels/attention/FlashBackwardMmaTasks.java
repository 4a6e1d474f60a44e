package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfWidthFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;
import io.sparge4j.kernels.types.arrays.NativeArray;

/**
 * The scratch array of one tensor-core (bf16 or f16) block-sparse attention backward and the tasks, with their
 * grids, that run {@link FlashBackwardMmaKernels} on it: host-side glue, nothing here runs a kernel. Mirrors
 * {@link FlashBackwardTasks}: the caller adds the tasks to its own {@link TaskGraph} after the tasks that produce the
 * forward's output, logsumexp and the mask lists (e.g. {@link BlockMaskTasks}), so the backward runs with no host
 * round trip. The half-precision operands are int views of bf16 or f16 arrays (two elements per int,
 * {@code IntArray.fromSegmentShallow(array.getSegment())}); the gradients are written in f32.
 */
public final class FlashBackwardMmaTasks {
    /** {@code rowsum(dO * O)} per query row (heads, tokens), f32. */
    public final FloatArray delta;
    /** K in the dkdv kernels' A-fragment order ({@link FlashBackwardMmaKernels#packFragments}). */
    public final IntArray kFrag;
    /** V in the dkdv kernels' A-fragment order. */
    public final IntArray vFrag;

    private final int heads;
    private final int tokens;
    private final int d;
    private final int geometry;
    private final boolean bf16;

    /**
     * Allocates the scratch array for tensors of shape (heads, tokens, d).
     *
     * @param heads B * H
     * @param tokens N
     * @param d head dimension, a multiple of {@link FlashBackwardMmaKernels#D_STEP} up to
     *     {@link FlashBackwardMmaKernels#MAX_D}
     * @param queryBlock tokens per query block, a multiple of {@link FlashBackwardMmaKernels#TILE}
     * @param keyBlock tokens per key block, a multiple of {@link FlashBackwardMmaKernels#TILE}
     * @param bf16 true for bf16 operands, false for f16
     * @throws IllegalArgumentException naming the size that does not fit
     */
    public FlashBackwardMmaTasks(int heads, int tokens, int d, int queryBlock, int keyBlock, boolean bf16) {
        FlashBackwardMmaKernels.checkSizes(heads, tokens, d);
        this.geometry = FlashBackwardMmaKernels.geometry(d, queryBlock, keyBlock);
        this.heads = heads;
        this.tokens = tokens;
        this.d = d;
        this.bf16 = bf16;
        delta = new FloatArray(heads * tokens);
        kFrag = new IntArray(FlashBackwardMmaKernels.fragmentInts(heads, tokens, d));
        vFrag = new IntArray(FlashBackwardMmaKernels.fragmentInts(heads, tokens, d));
    }

    /**
     * The int view the kernels read of a bf16 or f16 array: two elements per int, element {@code 2p} in the low half
     * of int {@code p}, sharing the array's memory. A task graph matches arrays by identity, so make the view once
     * and use that same object in every graph and transfer.
     *
     * @param array a bf16 or f16 array of even size
     * @return an IntArray over the same memory, {@code size / 2} ints
     * @throws IllegalArgumentException if the array is null or its size is odd
     */
    public static IntArray pairs(HalfWidthFloatArray array) {
        if (array == null || array.getSize() % 2 != 0) {
            throw new IllegalArgumentException("FlashBackwardMmaTasks.pairs: array has "
                    + (array == null ? "no array" : array.getSize() + " elements") + ", expected an even size");
        }
        return IntArray.fromSegmentShallow(array.getSegment());
    }

    /**
     * Adds {@code <prefix>Delta}, {@code PackK}, {@code PackV}, {@code DQ} and {@code DKDV}, with the forward's
     * output in f32. q, k, v and dOut are int views of (heads, tokens, d) bf16 or f16 arrays (as the constructor
     * said; see {@link #pairs}); out, dq, dk and dv are f32 (heads, tokens, d); lse is (heads, tokens) in natural
     * log; the lists are those of {@link BlockMaskTasks} (or the CPU's {@code BlockMask}) for the same block sizes.
     *
     * @param graph the graph to extend; the inputs must be on the device by then
     * @param grids receives the tasks' grids
     * @param prefix task id prefix, unique in the graph
     * @param q the forward's queries, int view of heads * tokens * d / 2 ints
     * @param k the forward's keys, likewise
     * @param v the forward's values, likewise
     * @param dOut gradient of the output, likewise
     * @param out the forward's output, f32
     * @param lse the forward's logsumexp
     * @param rowStart mask row offsets (heads * nq + 1)
     * @param rowBlocks kept key blocks per row
     * @param colStart transpose offsets (heads * nk + 1)
     * @param colBlocks query blocks per key block
     * @param dq written, f32
     * @param dk written, f32
     * @param dv written, f32
     * @param scale softmax scale
     * @return the graph
     * @throws IllegalArgumentException naming an array that is missing or too small, or a bad scale
     */
    public TaskGraph addBackward(TaskGraph graph, GridScheduler grids, String prefix, IntArray q, IntArray k,
            IntArray v, IntArray dOut, FloatArray out, FloatArray lse, IntArray rowStart, IntArray rowBlocks,
            IntArray colStart, IntArray colBlocks, FloatArray dq, FloatArray dk, FloatArray dv, float scale) {
        check(q, k, v, dOut, lse, rowStart, rowBlocks, colStart, colBlocks, dq, dk, dv, scale);
        checkSize("out", out, heads * tokens * d);
        int rows = heads * tokens;
        if (bf16) {
            graph.task(prefix + "Delta", FlashBackwardMmaKernels::rowDeltaBF16, new KernelContext(), dOut, out, delta,
                    rows, d);
        } else {
            graph.task(prefix + "Delta", FlashBackwardMmaKernels::rowDeltaF16, new KernelContext(), dOut, out, delta,
                    rows, d);
        }
        return addPasses(graph, grids, prefix, q, k, v, dOut, lse, rowStart, rowBlocks, colStart, colBlocks, dq, dk,
                dv, scale);
    }

    /**
     * As {@link #addBackward(TaskGraph, GridScheduler, String, IntArray, IntArray, IntArray, IntArray, FloatArray,
     * FloatArray, IntArray, IntArray, IntArray, IntArray, FloatArray, FloatArray, FloatArray, float)} with the
     * forward's output also an int view of a bf16 or f16 array (the operand type).
     *
     * @param graph the graph to extend; the inputs must be on the device by then
     * @param grids receives the tasks' grids
     * @param prefix task id prefix, unique in the graph
     * @param q the forward's queries, int view of heads * tokens * d / 2 ints
     * @param k the forward's keys, likewise
     * @param v the forward's values, likewise
     * @param dOut gradient of the output, likewise
     * @param out the forward's output, likewise
     * @param lse the forward's logsumexp
     * @param rowStart mask row offsets (heads * nq + 1)
     * @param rowBlocks kept key blocks per row
     * @param colStart transpose offsets (heads * nk + 1)
     * @param colBlocks query blocks per key block
     * @param dq written, f32
     * @param dk written, f32
     * @param dv written, f32
     * @param scale softmax scale
     * @return the graph
     * @throws IllegalArgumentException naming an array that is missing or too small, or a bad scale
     */
    public TaskGraph addBackward(TaskGraph graph, GridScheduler grids, String prefix, IntArray q, IntArray k,
            IntArray v, IntArray dOut, IntArray out, FloatArray lse, IntArray rowStart, IntArray rowBlocks,
            IntArray colStart, IntArray colBlocks, FloatArray dq, FloatArray dk, FloatArray dv, float scale) {
        check(q, k, v, dOut, lse, rowStart, rowBlocks, colStart, colBlocks, dq, dk, dv, scale);
        checkSize("out", out, heads * tokens * d / 2);
        int rows = heads * tokens;
        if (bf16) {
            graph.task(prefix + "Delta", FlashBackwardMmaKernels::rowDeltaHalfOutBF16, new KernelContext(), dOut, out,
                    delta, rows, d);
        } else {
            graph.task(prefix + "Delta", FlashBackwardMmaKernels::rowDeltaHalfOutF16, new KernelContext(), dOut, out,
                    delta, rows, d);
        }
        return addPasses(graph, grids, prefix, q, k, v, dOut, lse, rowStart, rowBlocks, colStart, colBlocks, dq, dk,
                dv, scale);
    }

    private TaskGraph addPasses(TaskGraph graph, GridScheduler grids, String prefix, IntArray q, IntArray k,
            IntArray v, IntArray dOut, FloatArray lse, IntArray rowStart, IntArray rowBlocks, IntArray colStart,
            IntArray colBlocks, FloatArray dq, FloatArray dk, FloatArray dv, float scale) {
        int fragInts = FlashBackwardMmaKernels.fragmentInts(heads, tokens, d);
        graph.task(prefix + "PackK", FlashBackwardMmaKernels::packFragments, new KernelContext(), k, kFrag, tokens,
                fragInts, d)
                .task(prefix + "PackV", FlashBackwardMmaKernels::packFragments, new KernelContext(), v, vFrag, tokens,
                        fragInts, d);
        if (bf16) {
            graph.task(prefix + "DQ", FlashBackwardMmaKernels::dqBF16, new KernelContext(), q, k, v, dOut, lse, delta,
                    rowStart, rowBlocks, dq, tokens, scale, geometry)
                    .task(prefix + "DKDV", FlashBackwardMmaKernels::dkdvBF16, new KernelContext(), q, kFrag, vFrag,
                            dOut, lse, delta, colStart, colBlocks, dk, dv, tokens, scale, geometry);
        } else {
            graph.task(prefix + "DQ", FlashBackwardMmaKernels::dqF16, new KernelContext(), q, k, v, dOut, lse, delta,
                    rowStart, rowBlocks, dq, tokens, scale, geometry)
                    .task(prefix + "DKDV", FlashBackwardMmaKernels::dkdvF16, new KernelContext(), q, kFrag, vFrag,
                            dOut, lse, delta, colStart, colBlocks, dk, dv, tokens, scale, geometry);
        }
        String g = graph.getTaskGraphName() + ".";
        int rows = heads * tokens;
        // a sub-group (warp) per row; the kernel strides over rows past a capped grid
        grids.setWorkerGrid(g + prefix + "Delta", grid((int) Math.min(32L * rows, 1 << 28), 128));
        grids.setWorkerGrid(g + prefix + "PackK", grid(fragInts, 256));
        grids.setWorkerGrid(g + prefix + "PackV", grid(fragInts, 256));
        int groups = FlashBackwardMmaKernels.groups(heads, tokens) * FlashBackwardMmaKernels.GROUP;
        grids.setWorkerGrid(g + prefix + "DQ", grid(groups, FlashBackwardMmaKernels.GROUP));
        grids.setWorkerGrid(g + prefix + "DKDV", grid(groups, FlashBackwardMmaKernels.GROUP));
        return graph;
    }

    private void check(IntArray q, IntArray k, IntArray v, IntArray dOut, FloatArray lse, IntArray rowStart,
            IntArray rowBlocks, IntArray colStart, IntArray colBlocks, FloatArray dq, FloatArray dk, FloatArray dv,
            float scale) {
        int rows = heads * tokens;
        String[] pairNames = {"q", "k", "v", "dOut"};
        IntArray[] pairs = {q, k, v, dOut};
        for (int i = 0; i < pairs.length; i++) {
            checkSize(pairNames[i], pairs[i], rows * d / 2);
        }
        String[] gradNames = {"dq", "dk", "dv"};
        FloatArray[] grads = {dq, dk, dv};
        for (int i = 0; i < grads.length; i++) {
            checkSize(gradNames[i], grads[i], rows * d);
        }
        checkSize("lse", lse, rows);
        String[] listNames = {"rowStart", "rowBlocks", "colStart", "colBlocks"};
        IntArray[] lists = {rowStart, rowBlocks, colStart, colBlocks};
        for (int i = 0; i < lists.length; i++) {
            checkSize(listNames[i], lists[i], 1);
        }
        if (!(scale > 0) || Float.isInfinite(scale)) {
            throw new IllegalArgumentException("FlashBackwardMmaTasks.addBackward: scale is " + scale
                    + ", expected a finite positive number");
        }
    }

    private void checkSize(String name, NativeArray array, int expected) {
        if (array == null || array.getSize() < expected) {
            int rows = heads * tokens;
            String shape = expected == rows * d ? " (heads " + heads + " x tokens " + tokens + " x d " + d + ")"
                    : expected == rows * d / 2 ? " (heads " + heads + " x tokens " + tokens + " x d " + d
                            + " / 2 ints of " + (bf16 ? "bf16" : "f16") + " pairs)"
                    : expected == rows ? " (heads " + heads + " x tokens " + tokens + ")" : "";
            throw new IllegalArgumentException("FlashBackwardMmaTasks.addBackward: " + name + " has "
                    + (array == null ? "no array" : array.getSize() + " elements") + ", expected at least " + expected
                    + shape);
        }
    }

    private static WorkerGrid1D grid(int global, int local) {
        WorkerGrid1D w = new WorkerGrid1D((global + local - 1) / local * local);
        w.setLocalWork(local, 1, 1);
        return w;
    }
}
