package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

/**
 * The scratch arrays of one block-sparse attention backward and the tasks, with their grids, that run
 * {@link FlashBackwardKernels} on them: host-side glue, nothing here runs a kernel. The caller adds the tasks to its
 * own {@link TaskGraph}, after the tasks that produce the forward's output, logsumexp and the mask lists (for
 * example {@link BlockMaskTasks}), so the backward runs with no host round trip.
 */
public final class FlashBackwardTasks {
    /** {@code [scale * q | dO]} per row (heads, tokens, 2d). */
    public final FloatArray qdo;
    /** {@code [k | v]} per key (heads, keys, 2d). */
    public final FloatArray kv;
    /** {@code [lse, D]} per query row (heads, tokens, 2). */
    public final FloatArray stats;

    private final int heads;
    private final int tokens;
    private final int keys;
    private final int d;
    private final int geometry;

    /**
     * Allocates the scratch arrays for self-attention: q, k and v of shape (heads, tokens, d).
     *
     * @param heads B * H
     * @param tokens N
     * @param d head dimension, a multiple of {@link FlashBackwardKernels#CHUNK} up to
     *     {@link FlashBackwardKernels#MAX_D}
     * @param queryBlock tokens per query block, a multiple of {@link FlashBackwardKernels#TILE}
     * @param keyBlock tokens per key block, a multiple of {@link FlashBackwardKernels#TILE}
     * @throws IllegalArgumentException naming the size that does not fit
     */
    public FlashBackwardTasks(int heads, int tokens, int d, int queryBlock, int keyBlock) {
        this(heads, tokens, tokens, d, queryBlock, keyBlock);
    }

    /**
     * Allocates the scratch arrays for q of shape (heads, tokens, d) over k and v of (heads, keys, d): with keys
     * other than tokens, the backward of cross-attention (given a mask that lists every key block for every query
     * block, and its transpose).
     *
     * @param heads B * H
     * @param tokens queries per head
     * @param keys keys per head
     * @param d head dimension, a multiple of {@link FlashBackwardKernels#CHUNK} up to
     *     {@link FlashBackwardKernels#MAX_D}
     * @param queryBlock tokens per query block, a multiple of {@link FlashBackwardKernels#TILE}
     * @param keyBlock keys per key block, a multiple of {@link FlashBackwardKernels#TILE}
     * @throws IllegalArgumentException naming the size that does not fit
     */
    public FlashBackwardTasks(int heads, int tokens, int keys, int d, int queryBlock, int keyBlock) {
        FlashBackwardKernels.checkSizes(heads, tokens, d);
        FlashBackwardKernels.checkSizes(heads, keys, d);
        this.geometry = FlashBackwardKernels.geometry(d, queryBlock, keyBlock);
        this.heads = heads;
        this.tokens = tokens;
        this.keys = keys;
        this.d = d;
        qdo = new FloatArray(heads * tokens * 2 * d);
        kv = new FloatArray(heads * keys * 2 * d);
        stats = new FloatArray(heads * tokens * 2);
    }

    /**
     * Adds {@code <prefix>PackQ}, {@code PackK}, {@code Stats}, {@code DQ} and {@code DKDV}. q, dOut, out and dq
     * are (heads, tokens, d) row-major, k, v, dk and dv (heads, keys, d); lse is (heads, tokens); the lists are those
     * of {@link BlockMaskTasks} (or the CPU's {@code BlockMask}) for the same block sizes.
     *
     * @param graph the graph to extend; the inputs must be on the device by then
     * @param grids receives the tasks' grids
     * @param prefix task id prefix, unique in the graph
     * @param q the forward's queries
     * @param k the forward's keys
     * @param v the forward's values
     * @param dOut gradient of the output
     * @param out the forward's output
     * @param lse the forward's logsumexp
     * @param rowStart mask row offsets (heads * nq + 1)
     * @param rowBlocks kept key blocks per row
     * @param colStart transpose offsets (heads * ceil(keys / keyBlock) + 1)
     * @param colBlocks query blocks per key block
     * @param dq written
     * @param dk written
     * @param dv written
     * @param scale softmax scale
     * @return the graph
     */
    public TaskGraph addBackward(TaskGraph graph, GridScheduler grids, String prefix, FloatArray q, FloatArray k,
            FloatArray v, FloatArray dOut, FloatArray out, FloatArray lse, IntArray rowStart, IntArray rowBlocks,
            IntArray colStart, IntArray colBlocks, FloatArray dq, FloatArray dk, FloatArray dv, float scale) {
        int rows = heads * tokens;
        int keyRows = heads * keys;
        String[] names = {"q", "k", "v", "dOut", "out", "dq", "dk", "dv"};
        FloatArray[] arrays = {q, k, v, dOut, out, dq, dk, dv};
        boolean[] perKey = {false, true, true, false, false, false, true, true};
        for (int i = 0; i < arrays.length; i++) {
            boolean keySide = perKey[i];
            int want = (keySide ? keyRows : rows) * d;
            if (arrays[i] == null || arrays[i].getSize() < want) {
                throw new IllegalArgumentException("FlashBackwardTasks.addBackward: " + names[i] + " has "
                        + (arrays[i] == null ? "no array" : arrays[i].getSize() + " elements") + ", expected at least "
                        + want + " (heads " + heads + " x " + (keySide ? "keys " + keys : "tokens " + tokens)
                        + " x d " + d + ")");
            }
        }
        if (lse == null || lse.getSize() < rows) {
            throw new IllegalArgumentException("FlashBackwardTasks.addBackward: lse has "
                    + (lse == null ? "no array" : lse.getSize() + " elements") + ", expected at least " + rows);
        }
        if (!(scale > 0) || Float.isInfinite(scale)) {
            throw new IllegalArgumentException("FlashBackwardTasks.addBackward: scale is " + scale
                    + ", expected a finite positive number");
        }
        String g = graph.getTaskGraphName() + ".";
        graph.task(prefix + "PackQ", FlashBackwardKernels::packPair, new KernelContext(), q, dOut, qdo, scale, rows, d)
                .task(prefix + "PackK", FlashBackwardKernels::packPair, new KernelContext(), k, v, kv, 1f, keyRows,
                        d)
                .task(prefix + "Stats", FlashBackwardKernels::rowStats, new KernelContext(), dOut, out, lse, stats,
                        rows, d)
                .task(prefix + "DQ", FlashBackwardKernels::dq, new KernelContext(), qdo, kv, stats, rowStart,
                        rowBlocks, dq, tokens, keys, scale, geometry)
                .task(prefix + "DKDV", FlashBackwardKernels::dkdv, new KernelContext(), qdo, kv, stats, colStart,
                        colBlocks, dk, dv, tokens, keys, geometry);
        grids.setWorkerGrid(g + prefix + "PackQ", grid(rows * d, 256));
        grids.setWorkerGrid(g + prefix + "PackK", grid(keyRows * d, 256));
        grids.setWorkerGrid(g + prefix + "Stats", grid(rows, 128));
        int group = FlashBackwardKernels.GROUP;
        grids.setWorkerGrid(g + prefix + "DQ", grid(FlashBackwardKernels.groups(heads, tokens) * group, group));
        grids.setWorkerGrid(g + prefix + "DKDV", grid(FlashBackwardKernels.groups(heads, keys) * group, group));
        return graph;
    }

    private static WorkerGrid1D grid(int global, int local) {
        WorkerGrid1D w = new WorkerGrid1D((global + local - 1) / local * local);
        w.setLocalWork(local, 1, 1);
        return w;
    }
}
