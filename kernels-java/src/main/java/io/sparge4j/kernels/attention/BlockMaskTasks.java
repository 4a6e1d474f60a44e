package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.types.arrays.ByteArray;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

/**
 * The device arrays of one block-mask build and the tasks, with their grids, that fill them: the host-side glue
 * between the engine and the kernels of this package. Nothing here runs a kernel; the caller adds the tasks to
 * its own {@link TaskGraph}, so that the whole mask is built on the device with no host round trip.
 *
 * <p>The list arrays are sized for the worst case (every block kept): {@code rowStart[rows]} and
 * {@code colStart[columns]} tell how much of them is used.
 */
public final class BlockMaskTasks {
    /** Pooled queries (heads, nq, d). */
    public final FloatArray qPooled;
    /** Pooled keys (heads, nk, d). */
    public final FloatArray kPooled;
    /** The pooled map (heads * nq, nk). */
    public final FloatArray probs;
    /** Keep flags (heads * nq, nk): 1 kept, 0 dropped. */
    public final ByteArray keep;
    /** Kept blocks per row (heads * nq). */
    public final IntArray counts;
    /** Keep flags as bits (heads * nq, ceil(nk / 32)): bit {@code j % 32} of word {@code j / 32}. */
    public final IntArray keepBits;
    /** Kept blocks per selection work-group ({@link BlockSelectKernels#ROWS_PER_GROUP} rows of one head). */
    public final IntArray groupTotals;
    /** CSR offsets per row (heads * nq + 1). */
    public final IntArray rowStart;
    /** Kept key blocks, row after row, ascending (capacity heads * nq * nk). */
    public final IntArray rowBlocks;
    /** Query blocks keeping each key block (heads * nk). */
    public final IntArray colCounts;
    /** CSR offsets of the transpose (heads * nk + 1). */
    public final IntArray colStart;
    /** For each key block, the query blocks keeping it, ascending (capacity heads * nq * nk). */
    public final IntArray colBlocks;

    private final int heads;
    private final int tokens;
    private final int d;
    private final int queryBlock;
    private final int keyBlock;
    private final int nq;
    private final int nk;
    /** The softmax scale of a pooled map added but not yet computed (NaN when none): see {@link #addSelection}. */
    private float pendingScale = Float.NaN;

    /**
     * Allocates the arrays for q and k of shape (heads, tokens, d).
     *
     * @param heads B * H
     * @param tokens N
     * @param d head dimension, at most {@link PooledSoftmaxKernels#MAX_D}
     * @param queryBlock tokens per query block (paper: 128)
     * @param keyBlock tokens per key block (paper: 64); ceil(tokens / keyBlock) at most
     *     {@link BlockSelectKernels#MAX_KEY_BLOCKS}
     * @throws IllegalArgumentException naming the size that does not fit
     */
    public BlockMaskTasks(int heads, int tokens, int d, int queryBlock, int keyBlock) {
        positive("heads", heads);
        positive("tokens", tokens);
        positive("d", d);
        positive("queryBlock", queryBlock);
        positive("keyBlock", keyBlock);
        if (d > PooledSoftmaxKernels.MAX_D) {
            throw new IllegalArgumentException("BlockMaskTasks: d is " + d + ", expected at most "
                    + PooledSoftmaxKernels.MAX_D + " (the pooled softmax stages a query row in local memory)");
        }
        this.heads = heads;
        this.tokens = tokens;
        this.d = d;
        this.queryBlock = queryBlock;
        this.keyBlock = keyBlock;
        this.nq = (tokens + queryBlock - 1) / queryBlock;
        this.nk = (tokens + keyBlock - 1) / keyBlock;
        if (nk > BlockSelectKernels.MAX_KEY_BLOCKS) {
            throw new IllegalArgumentException("BlockMaskTasks: " + nk + " key blocks (tokens " + tokens
                    + " / keyBlock " + keyBlock + "), expected at most " + BlockSelectKernels.MAX_KEY_BLOCKS
                    + " (the selection's index bisection and the lists' two bitmap words per lane); use larger key"
                    + " blocks");
        }
        if ((long) heads * tokens * d > Integer.MAX_VALUE || (long) heads * nq * nk > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("BlockMaskTasks: heads * tokens * d = " + (long) heads * tokens * d
                    + " or heads * nq * nk = " + (long) heads * nq * nk + " exceeds the 32-bit indices of the kernels"
                    + " (at most " + Integer.MAX_VALUE + "); split the batch");
        }
        int rows = heads * nq;
        int columns = heads * nk;
        qPooled = new FloatArray(rows * d);
        kPooled = new FloatArray(columns * d);
        probs = new FloatArray(rows * nk);
        keep = new ByteArray(rows * nk);
        counts = new IntArray(rows);
        keepBits = new IntArray(rows * ((nk + BlockSelectKernels.WARP - 1) / BlockSelectKernels.WARP));
        groupTotals = new IntArray(heads * ((nq + BlockSelectKernels.ROWS_PER_GROUP - 1)
                / BlockSelectKernels.ROWS_PER_GROUP));
        rowStart = new IntArray(rows + 1);
        rowBlocks = new IntArray(rows * nk);
        colCounts = new IntArray(columns);
        colStart = new IntArray(columns + 1);
        colBlocks = new IntArray(rows * nk);
    }

    private static void positive(String name, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException("BlockMaskTasks: " + name + " is " + v
                    + ", expected a positive integer");
        }
    }

    /** @return query blocks per head */
    public int queryBlocks() {
        return nq;
    }

    /** @return key blocks per head */
    public int keyBlocks() {
        return nk;
    }

    /** @return rows of the map and mask, heads * nq */
    public int rows() {
        return heads * nq;
    }

    /** @return columns of the transpose, heads * nk */
    public int columns() {
        return heads * nk;
    }

    /**
     * Adds {@code <prefix>PoolQ} and {@code <prefix>PoolK}: pooling of q and k. The pooled softmax into
     * {@link #probs} runs in the launch {@link #addSelection} adds next (fused with the selection), so call it
     * after this.
     *
     * @param graph the graph to extend; q and k must be on the device by then
     * @param grids receives the tasks' grids
     * @param prefix task id prefix, unique in the graph
     * @param q queries, (B, H, tokens, d) or, when {@code tokensBeforeHeads}, (B, tokens, H, d)
     * @param k keys, laid out as q
     * @param scale softmax scale (usually 1/sqrt(d))
     * @param headsPerBatch H (heads / H is B)
     * @param tokensBeforeHeads whether q and k are (B, tokens, H, d)
     * @return the graph
     */
    public TaskGraph addPooledMap(TaskGraph graph, GridScheduler grids, String prefix, FloatArray q, FloatArray k,
            float scale, int headsPerBatch, boolean tokensBeforeHeads) {
        if (headsPerBatch <= 0 || heads % headsPerBatch != 0) {
            throw new IllegalArgumentException("BlockMaskTasks.addPooledMap: headsPerBatch is " + headsPerBatch
                    + ", expected a positive divisor of heads " + heads);
        }
        checkSize("q", q, heads * tokens * d);
        checkSize("k", k, heads * tokens * d);
        int headStride = tokensBeforeHeads ? d : tokens * d;
        int tokenStride = tokensBeforeHeads ? headsPerBatch * d : d;
        String g = graph.getTaskGraphName() + ".";
        graph.task(prefix + "PoolQ", BlockPoolingKernels::poolBlocks, new KernelContext(), q, qPooled, heads,
                        headsPerBatch, tokens, d, queryBlock, headStride, tokenStride)
                .task(prefix + "PoolK", BlockPoolingKernels::poolBlocks, new KernelContext(), k, kPooled, heads,
                        headsPerBatch, tokens, d, keyBlock, headStride, tokenStride);
        grids.setWorkerGrid(g + prefix + "PoolQ", grid(rows() * d, 128));
        grids.setWorkerGrid(g + prefix + "PoolK", grid(columns() * d, 128));
        return addSoftmax(graph, grids, prefix, scale);
    }

    /**
     * As {@link #addPooledMap} for q and k stored in bf16 or f16 and passed as int views of pairs (two elements per
     * int, element {@code 2p} in the low half: {@code IntArray.fromSegmentShallow(half.getSegment())}, the operands
     * of the tensor-core attention kernels): adds {@code <prefix>Pool} (q and k pooled in one launch, reading the
     * 16-bit values directly, no f32 copy); the pooled softmax runs in the launch {@link #addSelection} adds next,
     * so call it after this. The pooled values equal those of
     * {@link #addPooledMap} over f32 copies of the same values, bit for bit.
     *
     * @param graph the graph to extend; q and k must be on the device by then
     * @param grids receives the tasks' grids
     * @param prefix task id prefix, unique in the graph
     * @param q queries as int pairs, (B, H, tokens, d) or, when {@code tokensBeforeHeads}, (B, tokens, H, d)
     * @param k keys as int pairs, laid out as q
     * @param bf16 true for bf16, false for f16
     * @param scale softmax scale (usually 1/sqrt(d))
     * @param headsPerBatch H (heads / H is B)
     * @param tokensBeforeHeads whether q and k are (B, tokens, H, d)
     * @return the graph
     * @throws IllegalArgumentException if d is odd, headsPerBatch does not divide heads, or an array is too small
     */
    public TaskGraph addPooledMapPairs(TaskGraph graph, GridScheduler grids, String prefix, IntArray q, IntArray k,
            boolean bf16, float scale, int headsPerBatch, boolean tokensBeforeHeads) {
        if (headsPerBatch <= 0 || heads % headsPerBatch != 0) {
            throw new IllegalArgumentException("BlockMaskTasks.addPooledMapPairs: headsPerBatch is " + headsPerBatch
                    + ", expected a positive divisor of heads " + heads);
        }
        if (d % 2 != 0) {
            throw new IllegalArgumentException("BlockMaskTasks.addPooledMapPairs: d is " + d
                    + ", expected an even head dimension (the inputs are read as pairs)");
        }
        checkPairs("q", q);
        checkPairs("k", k);
        int headStride = tokensBeforeHeads ? d : tokens * d;
        int tokenStride = tokensBeforeHeads ? headsPerBatch * d : d;
        if (bf16) {
            graph.task(prefix + "Pool", BlockPoolingKernels::poolPairsBF16, new KernelContext(), q, k, qPooled,
                    kPooled, heads, headsPerBatch, tokens, d, queryBlock, keyBlock, headStride, tokenStride);
        } else {
            graph.task(prefix + "Pool", BlockPoolingKernels::poolPairsF16, new KernelContext(), q, k, qPooled,
                    kPooled, heads, headsPerBatch, tokens, d, queryBlock, keyBlock, headStride, tokenStride);
        }
        grids.setWorkerGrid(graph.getTaskGraphName() + "." + prefix + "Pool", grid((rows() + columns()) * (d / 2),
                128));
        return addSoftmax(graph, grids, prefix, scale);
    }

    private void checkPairs(String name, IntArray a) {
        int ints = heads * tokens * d / 2;
        if (a == null || a.getSize() < ints) {
            throw new IllegalArgumentException("BlockMaskTasks.addPooledMapPairs: " + name + " has "
                    + (a == null ? "no array" : a.getSize() + " ints") + ", expected at least " + ints + " (heads "
                    + heads + " x tokens " + tokens + " x d " + d + " / 2 pairs)");
        }
    }

    /**
     * Leaves the pooled softmax to {@link #addSelection}, which fuses it with the selection; with
     * {@code SPARGE_MASK_UNFUSED=1} (or {@code -Dsparge.maskUnfused=1}) it is a launch of its own, so that a profile
     * ({@code SPARGE_PROFILE=1}) times the softmax and the selection apart (the same map and mask, bit for bit).
     */
    private TaskGraph addSoftmax(TaskGraph graph, GridScheduler grids, String prefix, float scale) {
        if (!"1".equals(System.getProperty("sparge.maskUnfused", System.getenv("SPARGE_MASK_UNFUSED")))) {
            pendingScale = scale;
            return graph;
        }
        String softmax = prefix + "Softmax";
        graph.task(softmax, PooledSoftmaxKernels::pooledSoftmax, new KernelContext(), qPooled, kPooled, probs, nq, nk,
                d, scale);
        grids.setWorkerGrid(graph.getTaskGraphName() + "." + softmax, grid(groupTotals.getSize()
                * PooledSoftmaxKernels.GROUP, PooledSoftmaxKernels.GROUP));
        return graph;
    }

    private static void checkSize(String name, FloatArray a, int expected) {
        if (a == null || a.getSize() < expected) {
            throw new IllegalArgumentException("BlockMaskTasks.addPooledMap: " + name + " has "
                    + (a == null ? "no array" : a.getSize() + " elements") + ", expected at least " + expected);
        }
    }

    /**
     * Adds the selection and the lists: after {@link #addPooledMap} or {@link #addPooledMapPairs},
     * {@code <prefix>SoftmaxSelect} (the pooled map into {@link #probs}, then keep flags, bitmap and counts per row,
     * one launch); else {@code <prefix>Select} (the same from the {@link #probs} already there); then
     * {@code <prefix>Lists} (both CSR lists, one launch). Modes: dense
     * {@code topk = keyBlocks(), topp = 0}; Top-k {@code topk = BlockSelector.topkCount(k, nk), topp = 0}; Top-p
     * {@code topk = 0, topp = p}; hybrid both.
     *
     * @param graph the graph to extend
     * @param grids receives the tasks' grids
     * @param prefix task id prefix, unique in the graph
     * @param topk Top-k count, 0 to nk
     * @param topp Top-p threshold, 0 for none; 1 or more keeps every block
     * @return the graph
     */
    public TaskGraph addSelection(TaskGraph graph, GridScheduler grids, String prefix, int topk, double topp) {
        if (topk < 0 || topk > nk) {
            throw new IllegalArgumentException("BlockMaskTasks.addSelection: topk is " + topk + ", expected 0.." + nk);
        }
        return selection(graph, grids, prefix, topk, topp);
    }

    /**
     * {@link #addSelection(TaskGraph, GridScheduler, String, int, double)} with a Top-k count per batch entry: rows
     * of head {@code h} use {@code batchTopk[h / headsPerBatch]} (each 0 to nk, on the device by the launch), so that
     * the clips of one batch, at different noise levels, can keep different numbers of blocks. Adds
     * {@code <prefix>SpreadTopk} before the selection ({@link BlockSelectKernels#spreadBatchTopk}).
     *
     * @param batchTopk the counts, heads / headsPerBatch of them
     * @param headsPerBatch the heads of one batch entry, a positive divisor of heads
     * @return the graph
     * @throws IllegalArgumentException if headsPerBatch does not divide heads, batchTopk is too short, or topp is bad
     */
    public TaskGraph addSelection(TaskGraph graph, GridScheduler grids, String prefix, IntArray batchTopk,
            int headsPerBatch, double topp) {
        if (headsPerBatch <= 0 || heads % headsPerBatch != 0) {
            throw new IllegalArgumentException("BlockMaskTasks.addSelection: headsPerBatch is " + headsPerBatch
                    + ", expected a positive divisor of heads " + heads);
        }
        if (batchTopk == null || batchTopk.getSize() < heads / headsPerBatch) {
            throw new IllegalArgumentException("BlockMaskTasks.addSelection: batchTopk has " + (batchTopk == null
                    ? "no array" : batchTopk.getSize() + " counts") + ", expected one per batch entry ("
                    + heads / headsPerBatch + ")");
        }
        int groups = groupTotals.getSize();
        String spread = prefix + "SpreadTopk";
        graph.task(spread, BlockSelectKernels::spreadBatchTopk, new KernelContext(), batchTopk, groupTotals,
                groups / (heads / headsPerBatch), groups);
        grids.setWorkerGrid(graph.getTaskGraphName() + "." + spread, grid(groups, 64));
        return selection(graph, grids, prefix, -1, topp);
    }

    /** @param topk a count for every row, or -1 for each work-group's own, seeded in groupTotals */
    private TaskGraph selection(TaskGraph graph, GridScheduler grids, String prefix, int topk, double topp) {
        if (!(topp >= 0) || Double.isInfinite(topp)) {
            throw new IllegalArgumentException("BlockMaskTasks.addSelection: topp is " + topp
                    + ", expected a finite value >= 0");
        }
        long pBits = Double.doubleToRawLongBits(topp + 0.0);
        long pCeil = BlockSelectKernels.pCeil(topp);
        String g = graph.getTaskGraphName() + ".";
        String select;
        if (Float.isNaN(pendingScale)) {
            select = prefix + "Select";
            graph.task(select, BlockSelectKernels::selectRows, new KernelContext(), probs, keep, keepBits, counts,
                    groupTotals, nq, nk, topk, pBits, pCeil);
        } else {
            select = prefix + "SoftmaxSelect";
            graph.task(select, PooledSoftmaxKernels::pooledSoftmaxSelect, new KernelContext(), qPooled, kPooled,
                    probs, keep, keepBits, counts, groupTotals, nq, nk, d, pendingScale, topk, pBits, pCeil);
            pendingScale = Float.NaN;
        }
        graph.task(prefix + "Lists", BlockListKernels::buildLists, new KernelContext(), keepBits, counts,
                groupTotals, rowStart, rowBlocks, colCounts, colStart, colBlocks, heads, nq, nk);
        // one work-group per ROWS_PER_GROUP query blocks of a head, for the softmax and the selection alike
        grids.setWorkerGrid(g + select, grid(groupTotals.getSize() * BlockSelectKernels.GROUP,
                BlockSelectKernels.GROUP));
        grids.setWorkerGrid(g + prefix + "Lists", grid(BlockListKernels.groups(heads, nq, nk)
                * BlockListKernels.GROUP, BlockListKernels.GROUP));
        return graph;
    }

    private static WorkerGrid1D grid(int global, int local) {
        WorkerGrid1D w = new WorkerGrid1D((global + local - 1) / local * local);
        w.setLocalWork(local, 1, 1);
        return w;
    }
}
