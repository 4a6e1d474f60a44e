package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

/**
 * Host-side glue for {@link FlashForwardMmaKernels}: checks the arguments, picks the kernel for d and the input
 * format and adds the task with its grid to the caller's {@link TaskGraph}. Nothing runs here. The mask lists may
 * come straight from {@link BlockMaskTasks} ({@code rowStart}, {@code rowBlocks}) with query blocks of
 * {@link FlashForwardMmaKernels#QUERY_BLOCK} and key blocks of {@link FlashForwardMmaKernels#KEY_BLOCK}.
 */
public final class FlashForwardMmaTasks {
    private FlashForwardMmaTasks() {
    }

    /** Environment variable naming the {@link Variant} {@link #addForward} uses (for timing), by its label. */
    public static final String VARIANT_ENV = "SPARGE_FLASH_MMA_VARIANT";

    /** The kernel family of the tensor-core forward. */
    public enum Variant {
        /**
         * K and V staged through registers, fragments by plain local loads ({@code flashForward64BF16} and its
         * siblings): 32 KiB of local memory, so it runs where {@link #FA2} does not fit.
         */
        REGISTERS("registers"),
        /**
         * K and V staged by {@code cp.async} in a three-tile ring, K fragments by {@code ldmatrix}
         * ({@link FlashForwardMmaKernels#flashForwardAsyncBF16}, {@link FlashForwardMmaKernels#flashForwardAsyncF16}).
         */
        ASYNC("async"),
        /**
         * FlashAttention-2's organisation: four warps of 32 query rows, Q staged in local memory, K and V by
         * {@code cp.async} in two stages each, K fragments by {@code ldmatrix}, V by {@code ldmatrix.trans}; 96 KiB
         * of local memory at d = 128 ({@link FlashForwardMmaKernels#flashForwardFa2BF16},
         * {@link FlashForwardMmaKernels#flashForwardFa2F16}): the default, 3-4% faster than {@link #REGISTERS} on the
         * H200 (sparse and dense, BENCHMARKS.md, session 11).
         */
        FA2("fa2");

        private final String label;

        Variant(String label) {
            this.label = label;
        }

        /** @return the name {@value #VARIANT_ENV} takes */
        public String label() {
            return label;
        }

        /**
         * @param label a {@link #label()}, or {@code default}
         * @return the variant it names
         * @throws IllegalArgumentException naming the label and the known ones when it names none
         */
        public static Variant of(String label) {
            if (label.equals("default")) {
                return DEFAULT_VARIANT;
            }
            for (Variant v : values()) {
                if (v.label.equals(label)) {
                    return v;
                }
            }
            throw new IllegalArgumentException(VARIANT_ENV + " is '" + label + "', expected one of default, "
                    + "registers, async, fa2");
        }
    }

    /**
     * Local (shared) memory one work-group of a variant's kernel declares at head dimension d: Q (128 x d) and two
     * stages of K and V (64 x d each) for {@link Variant#FA2}, 96 KiB at d = 128; a K and a V tile for
     * {@link Variant#REGISTERS} (32 KiB); a three-tile ring for {@link Variant#ASYNC}. The fallbacks' scratch on
     * devices without tensor cores comes on top.
     *
     * @param variant the kernel family
     * @param d head dimension, 64 or 128
     * @return bytes per work-group
     */
    public static long localBytes(Variant variant, int d) {
        long keyTile = (long) FlashForwardMmaKernels.KEY_BLOCK * d * 2;
        return switch (variant) {
            case REGISTERS -> 2L * FlashForwardMmaKernels.KEY_BLOCK * 128 * 2; // tiles sized for d = 128 at any d
            case ASYNC -> 3 * keyTile;
            case FA2 -> (long) FlashForwardMmaKernels.QUERY_BLOCK * d * 2 + 4 * keyTile;
        };
    }

    /**
     * The variant to run on a device with {@code localMemoryBytes} of local memory per work-group (e.g.
     * {@code DeviceFeatures.localMemoryBytes()}): {@code wanted}, or {@link Variant#REGISTERS} when {@code wanted}
     * needs more than the device has.
     *
     * @param wanted the variant asked for
     * @param d head dimension, 64 or 128
     * @param localMemoryBytes the device's local memory per work-group
     * @return the variant that fits
     */
    public static Variant fitting(Variant wanted, int d, long localMemoryBytes) {
        return localBytes(wanted, d) <= localMemoryBytes ? wanted : Variant.REGISTERS;
    }

    /**
     * The variant {@link #addForward} uses when {@value #VARIANT_ENV} is unset or empty; {@link #selectedVariant(int,
     * long)} falls back to {@link Variant#REGISTERS} on devices whose local memory does not hold it.
     */
    public static final Variant DEFAULT_VARIANT = Variant.FA2;

    /**
     * The variant named by {@value #VARIANT_ENV}, or {@link #DEFAULT_VARIANT} when it is unset or empty.
     *
     * @return the variant {@link #addForward} uses
     * @throws IllegalArgumentException when the variable names no variant
     */
    public static Variant selectedVariant() {
        String named = System.getenv(VARIANT_ENV);
        return named == null || named.isBlank() ? DEFAULT_VARIANT : Variant.of(named.strip());
    }

    /**
     * The variant to run on a given device: {@link #selectedVariant()} where its local memory holds it, else
     * {@link Variant#REGISTERS} ({@link #fitting}).
     *
     * @param d head dimension, 64 or 128
     * @param localMemoryBytes the device's local memory per work-group
     * @return the variant
     * @throws IllegalArgumentException when {@value #VARIANT_ENV} names no variant
     */
    public static Variant selectedVariant(int d, long localMemoryBytes) {
        return fitting(selectedVariant(), d, localMemoryBytes);
    }

    /**
     * Adds the block-sparse attention forward on tensor cores as task {@code id}, with the kernel variant named by
     * {@value #VARIANT_ENV} ({@link Variant#label()}) or, when that is unset or empty, {@link #DEFAULT_VARIANT}.
     *
     * @param graph the graph to extend; the inputs must be on the device by then
     * @param grids receives the task's grid
     * @param id task id, unique in the graph
     * @param bf16 true for bf16 inputs, false for f16
     * @param q queries (heads, n, d) bf16 or f16, as an int view of pairs ({@code heads * n * d / 2} ints)
     * @param k keys (heads, n, d), as q
     * @param v values (heads, n, d), as q
     * @param o output (heads, n, d) f32
     * @param lse logsumexp output (heads, n) f32, natural log
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
    public static TaskGraph addForward(TaskGraph graph, GridScheduler grids, String id, boolean bf16, IntArray q,
            IntArray k, IntArray v, FloatArray o, FloatArray lse, IntArray rowStart, IntArray rowBlocks, int heads,
            int n, int d, float scale) {
        return addForward(graph, grids, id, bf16, q, k, v, o, lse, rowStart, rowBlocks, heads, n, d, scale,
                selectedVariant());
    }

    /**
     * As {@link #addForward(TaskGraph, GridScheduler, String, boolean, IntArray, IntArray, IntArray, FloatArray,
     * FloatArray, IntArray, IntArray, int, int, int, float)} with the given kernel variant (one work-group per mask
     * row: {@link FlashForwardMmaKernels#GROUP} work-items, {@link FlashForwardMmaKernels#FA2_GROUP} for
     * {@link Variant#FA2}).
     *
     * @param graph the graph to extend; the inputs must be on the device by then
     * @param grids receives the task's grid
     * @param id task id, unique in the graph
     * @param bf16 true for bf16 inputs, false for f16
     * @param q queries (heads, n, d) bf16 or f16, as an int view of pairs, 16-byte aligned for {@link Variant#ASYNC} and {@link Variant#FA2}
     * @param k keys (heads, n, d), as q
     * @param v values (heads, n, d), as q
     * @param o output (heads, n, d) f32
     * @param lse logsumexp output (heads, n) f32, natural log
     * @param rowStart CSR offsets of kept key blocks (heads * ceil(n / 128) + 1)
     * @param rowBlocks kept key blocks, ascending per row (at least one element)
     * @param heads B * H
     * @param n tokens per head
     * @param d head dimension: 64 or 128
     * @param scale softmax scale (usually 1/sqrt(d))
     * @param variant the kernel family
     * @return the graph
     * @throws IllegalArgumentException naming the argument that does not fit
     */
    public static TaskGraph addForward(TaskGraph graph, GridScheduler grids, String id, boolean bf16, IntArray q,
            IntArray k, IntArray v, FloatArray o, FloatArray lse, IntArray rowStart, IntArray rowBlocks, int heads,
            int n, int d, float scale, Variant variant) {
        if (heads <= 0 || n <= 0) {
            throw new IllegalArgumentException("FlashForwardMmaTasks.addForward: heads is " + heads + " and n is " + n
                    + ", expected positive integers");
        }
        if (d != 64 && d != 128) {
            throw new IllegalArgumentException("FlashForwardMmaTasks.addForward: d is " + d + ", expected 64 or 128 "
                    + "(the kernels are specialised for these)");
        }
        if (!(scale > 0) || Float.isInfinite(scale)) {
            throw new IllegalArgumentException("FlashForwardMmaTasks.addForward: scale is " + scale
                    + ", expected a finite positive number");
        }
        long elements = (long) heads * n * d;
        if (elements > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("FlashForwardMmaTasks.addForward: heads * n * d = " + elements
                    + " exceeds the kernels' 32-bit indices (at most " + Integer.MAX_VALUE + "); split the batch");
        }
        int rows = heads * ((n + FlashForwardMmaKernels.QUERY_BLOCK - 1) / FlashForwardMmaKernels.QUERY_BLOCK);
        size("q (int pairs)", q.getSize(), elements / 2);
        size("k (int pairs)", k.getSize(), elements / 2);
        size("v (int pairs)", v.getSize(), elements / 2);
        size("o", o.getSize(), elements);
        size("lse", lse.getSize(), (long) heads * n);
        size("rowStart", rowStart.getSize(), rows + 1L);
        size("rowBlocks", rowBlocks.getSize(), 1);
        int group = FlashForwardMmaKernels.GROUP;
        if (variant == Variant.FA2) {
            group = FlashForwardMmaKernels.FA2_GROUP;
            if (bf16) {
                graph.task(id, FlashForwardMmaKernels::flashForwardFa2BF16, new KernelContext(), q, k, v, o, lse,
                        rowStart, rowBlocks, n, scale, d);
            } else {
                graph.task(id, FlashForwardMmaKernels::flashForwardFa2F16, new KernelContext(), q, k, v, o, lse,
                        rowStart, rowBlocks, n, scale, d);
            }
        } else if (variant == Variant.ASYNC) {
            if (bf16) {
                graph.task(id, FlashForwardMmaKernels::flashForwardAsyncBF16, new KernelContext(), q, k, v, o, lse,
                        rowStart, rowBlocks, n, scale, d);
            } else {
                graph.task(id, FlashForwardMmaKernels::flashForwardAsyncF16, new KernelContext(), q, k, v, o, lse,
                        rowStart, rowBlocks, n, scale, d);
            }
        } else if (bf16) {
            if (d == 64) {
                graph.task(id, FlashForwardMmaKernels::flashForward64BF16, new KernelContext(), q, k, v, o, lse,
                        rowStart, rowBlocks, n, scale);
            } else {
                graph.task(id, FlashForwardMmaKernels::flashForward128BF16, new KernelContext(), q, k, v, o, lse,
                        rowStart, rowBlocks, n, scale);
            }
        } else if (d == 64) {
            graph.task(id, FlashForwardMmaKernels::flashForward64F16, new KernelContext(), q, k, v, o, lse, rowStart,
                    rowBlocks, n, scale);
        } else {
            graph.task(id, FlashForwardMmaKernels::flashForward128F16, new KernelContext(), q, k, v, o, lse,
                    rowStart, rowBlocks, n, scale);
        }
        WorkerGrid1D grid = new WorkerGrid1D(rows * group);
        grid.setLocalWork(group, 1, 1);
        grids.setWorkerGrid(graph.getTaskGraphName() + "." + id, grid);
        return graph;
    }

    private static void size(String name, long got, long expected) {
        if (got < expected) {
            throw new IllegalArgumentException("FlashForwardMmaTasks.addForward: " + name + " has " + got
                    + " elements, expected at least " + expected);
        }
    }
}
