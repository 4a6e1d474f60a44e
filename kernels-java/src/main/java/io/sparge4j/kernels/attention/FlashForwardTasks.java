package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

/**
 * Host-side glue for {@link FlashForwardKernels}: checks the arguments, picks the kernel for d and adds the task with
 * its grid to the caller's {@link TaskGraph}. Nothing runs here. The mask lists may come straight from
 * {@link BlockMaskTasks} ({@code rowStart}, {@code rowBlocks}) with query blocks of
 * {@link FlashForwardKernels#QUERY_BLOCK} and key blocks of {@link FlashForwardKernels#KEY_BLOCK}.
 */
public final class FlashForwardTasks {
    private FlashForwardTasks() {
    }

    /** Environment variable naming the {@link FlashForwardKernels.Variant} {@link #addForward} uses (for timing). */
    public static final String VARIANT_ENV = "SPARGE_FLASH_VARIANT";

    /**
     * Adds the block-sparse attention forward as task {@code id}, with the layout named by {@value #VARIANT_ENV}
     * ({@link FlashForwardKernels.Variant#label()}) or, when that is unset or empty, the default one.
     *
     * @param graph the graph to extend; the inputs must be on the device by then
     * @param grids receives the task's grid
     * @param id task id, unique in the graph
     * @param q queries (heads, n, d)
     * @param k keys (heads, n, d)
     * @param v values (heads, n, d)
     * @param o output (heads, n, d)
     * @param lse logsumexp output (heads, n), natural log
     * @param rowStart CSR offsets of kept key blocks (heads * ceil(n / 128) + 1)
     * @param rowBlocks kept key blocks, ascending per row (at least one element)
     * @param heads B * H
     * @param n tokens per head
     * @param d head dimension: 64 or 128
     * @param scale softmax scale (usually 1/sqrt(d))
     * @return the graph
     * @throws IllegalArgumentException naming the argument that does not fit, or {@value #VARIANT_ENV} when it names
     *     no variant
     */
    public static TaskGraph addForward(TaskGraph graph, GridScheduler grids, String id, FloatArray q, FloatArray k,
            FloatArray v, FloatArray o, FloatArray lse, IntArray rowStart, IntArray rowBlocks, int heads, int n, int d,
            float scale) {
        String named = System.getenv(VARIANT_ENV);
        FlashForwardKernels.Variant variant = named == null || named.isBlank() ? FlashForwardKernels.DEFAULT_VARIANT
                : FlashForwardKernels.Variant.of(named.strip());
        return addForward(graph, grids, id, q, k, v, o, lse, rowStart, rowBlocks, heads, n, d, scale, variant);
    }

    /**
     * As {@link #addForward(TaskGraph, GridScheduler, String, FloatArray, FloatArray, FloatArray, FloatArray,
     * FloatArray, IntArray, IntArray, int, int, int, float)} with the given layout: the default runs
     * {@link FlashForwardKernels#flashForward64} or {@link FlashForwardKernels#flashForward128}, any other
     * {@link FlashForwardKernels#flashForwardTuned}.
     *
     * @param graph the graph to extend; the inputs must be on the device by then
     * @param grids receives the task's grid
     * @param id task id, unique in the graph
     * @param q queries (heads, n, d)
     * @param k keys (heads, n, d)
     * @param v values (heads, n, d)
     * @param o output (heads, n, d)
     * @param lse logsumexp output (heads, n), natural log
     * @param rowStart CSR offsets of kept key blocks (heads * ceil(n / 128) + 1)
     * @param rowBlocks kept key blocks, ascending per row (at least one element)
     * @param heads B * H
     * @param n tokens per head
     * @param d head dimension: 64 or 128
     * @param scale softmax scale (usually 1/sqrt(d))
     * @param variant the work-group layout
     * @return the graph
     * @throws IllegalArgumentException naming the argument that does not fit
     */
    public static TaskGraph addForward(TaskGraph graph, GridScheduler grids, String id, FloatArray q, FloatArray k,
            FloatArray v, FloatArray o, FloatArray lse, IntArray rowStart, IntArray rowBlocks, int heads, int n, int d,
            float scale, FlashForwardKernels.Variant variant) {
        if (variant == null) {
            throw new IllegalArgumentException("FlashForwardTasks.addForward: variant is null, expected a layout "
                    + "such as FlashForwardKernels.DEFAULT_VARIANT");
        }
        if (heads <= 0 || n <= 0) {
            throw new IllegalArgumentException("FlashForwardTasks.addForward: heads is " + heads + " and n is " + n
                    + ", expected positive integers");
        }
        if (d != 64 && d != 128) {
            throw new IllegalArgumentException("FlashForwardTasks.addForward: d is " + d + ", expected 64 or 128 "
                    + "(the kernels are specialised for these)");
        }
        if (!(scale > 0) || Float.isInfinite(scale)) {
            throw new IllegalArgumentException("FlashForwardTasks.addForward: scale is " + scale
                    + ", expected a finite positive number");
        }
        long elements = (long) heads * n * d;
        if (elements > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("FlashForwardTasks.addForward: heads * n * d = " + elements
                    + " exceeds the kernels' 32-bit indices (at most " + Integer.MAX_VALUE + "); split the batch");
        }
        int rows = heads * ((n + FlashForwardKernels.QUERY_BLOCK - 1) / FlashForwardKernels.QUERY_BLOCK);
        size("q", q.getSize(), elements);
        size("k", k.getSize(), elements);
        size("v", v.getSize(), elements);
        size("o", o.getSize(), elements);
        size("lse", lse.getSize(), (long) heads * n);
        size("rowStart", rowStart.getSize(), rows + 1L);
        size("rowBlocks", rowBlocks.getSize(), 1);
        if (!variant.equals(FlashForwardKernels.DEFAULT_VARIANT)) {
            graph.task(id, FlashForwardKernels::flashForwardTuned, new KernelContext(), q, k, v, o, lse, rowStart,
                    rowBlocks, n, scale, d, variant.groupRows(), variant.group());
        } else if (d == 64) {
            graph.task(id, FlashForwardKernels::flashForward64, new KernelContext(), q, k, v, o, lse, rowStart,
                    rowBlocks, n, scale);
        } else {
            graph.task(id, FlashForwardKernels::flashForward128, new KernelContext(), q, k, v, o, lse, rowStart,
                    rowBlocks, n, scale);
        }
        WorkerGrid1D grid = new WorkerGrid1D(variant.globalSize(rows));
        grid.setLocalWork(variant.group(), 1, 1);
        grids.setWorkerGrid(graph.getTaskGraphName() + "." + id, grid);
        return graph;
    }

    /**
     * Adds attention of {@code nq} queries over {@code nk} keys per head ({@link FlashForwardKernels#flashForwardCross},
     * the default layout) as task {@code id}: cross-attention, with a row list naming every key block for a dense one.
     *
     * @param graph the graph to extend
     * @param grids where the task's launch shape goes
     * @param id the task's name
     * @param q queries (heads, nq, d)
     * @param k keys (heads, nk, d)
     * @param v values (heads, nk, d)
     * @param o output (heads, nq, d)
     * @param lse logsumexp (heads, nq)
     * @param rowStart CSR offsets per query-block row (heads * ceil(nq / 128) + 1)
     * @param rowBlocks kept key blocks of each row, of ceil(nk / 64)
     * @param heads batch times heads
     * @param nq queries per head
     * @param nk keys per head
     * @param d 64 or 128
     * @param scale softmax scale
     * @return the graph
     */
    public static TaskGraph addCrossForward(TaskGraph graph, GridScheduler grids, String id, FloatArray q,
            FloatArray k, FloatArray v, FloatArray o, FloatArray lse, IntArray rowStart, IntArray rowBlocks, int heads,
            int nq, int nk, int d, float scale) {
        if (heads <= 0 || nq <= 0 || nk <= 0) {
            throw new IllegalArgumentException("FlashForwardTasks.addCrossForward: heads, nq, nk are " + heads + ", "
                    + nq + ", " + nk + ", expected positive integers");
        }
        if (d != 64 && d != 128) {
            throw new IllegalArgumentException("FlashForwardTasks.addCrossForward: d is " + d + ", expected 64 or 128");
        }
        if (!(scale > 0) || Float.isInfinite(scale)) {
            throw new IllegalArgumentException("FlashForwardTasks.addCrossForward: scale is " + scale
                    + ", expected a finite positive number");
        }
        long queries = (long) heads * nq * d;
        long keys = (long) heads * nk * d;
        if (Math.max(queries, keys) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("FlashForwardTasks.addCrossForward: heads * max(nq, nk) * d = "
                    + Math.max(queries, keys) + " exceeds the kernels' 32-bit indices; split the batch");
        }
        int rows = heads * ((nq + FlashForwardKernels.QUERY_BLOCK - 1) / FlashForwardKernels.QUERY_BLOCK);
        size("q", q.getSize(), queries);
        size("k", k.getSize(), keys);
        size("v", v.getSize(), keys);
        size("o", o.getSize(), queries);
        size("lse", lse.getSize(), (long) heads * nq);
        size("rowStart", rowStart.getSize(), rows + 1L);
        size("rowBlocks", rowBlocks.getSize(), 1);
        graph.task(id, FlashForwardKernels::flashForwardCross, new KernelContext(), q, k, v, o, lse, rowStart,
                rowBlocks, nq, nk, scale, d);
        FlashForwardKernels.Variant variant = FlashForwardKernels.DEFAULT_VARIANT;
        WorkerGrid1D grid = new WorkerGrid1D(variant.globalSize(rows));
        grid.setLocalWork(variant.group(), 1, 1);
        grids.setWorkerGrid(graph.getTaskGraphName() + "." + id, grid);
        return graph;
    }

    private static void size(String name, long got, long expected) {
        if (got < expected) {
            throw new IllegalArgumentException("FlashForwardTasks.addForward: " + name + " has " + got
                    + " elements, expected at least " + expected);
        }
    }
}
