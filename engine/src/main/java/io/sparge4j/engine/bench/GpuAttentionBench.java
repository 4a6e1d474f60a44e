package io.sparge4j.engine.bench;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.execution.ExecutionBackends;
import io.sparge4j.engine.execution.TaskGraphExecutor;
import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.sparse.BlockGrid;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.BlockSelector;
import io.sparge4j.engine.sparse.Calibration;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.PooledAttentionMap;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.ExecutionPlan;
import io.sparge4j.kernels.ExecutionResult;
import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.TaskProfile;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.attention.BlockMaskTasks;
import io.sparge4j.kernels.attention.FlashBackwardMmaTasks;
import io.sparge4j.kernels.attention.FlashBackwardTasks;
import io.sparge4j.kernels.attention.FlashForwardKernels;
import io.sparge4j.kernels.attention.FlashForwardMmaTasks;
import io.sparge4j.kernels.attention.FlashForwardTasks;
import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;
import io.sparge4j.kernels.types.arrays.HalfWidthFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The GPU path of {@link AttentionBench}: the same inputs, mask settings and JSON fields, run through the TaskGraph
 * API on {@code cuda} or {@code opencl}, in f32 or in bf16/f16.
 *
 * <p>bf16 and f16: the forwards run the tensor-core kernels ({@link FlashForwardMmaTasks}) on q, k, v stored in the
 * 16-bit format (read as int pairs) with f32 outputs; the mask pools those same 16-bit q and k directly
 * ({@link BlockMaskTasks#addPooledMapPairs}: no f32 copy, q and k pooled in one launch, f32 sums, so the mask equals
 * the f32 kernels' on the widened values); {@code max_rel_err} is against float64
 * attention on the rounded inputs. Their backward runs the tensor-core kernels too ({@link FlashBackwardMmaTasks}) on
 * the same 16-bit q, k, v and a rounded dO, with the forwards' f32 O and lse.
 *
 * <p>Five graphs (three for bf16/f16) share one executor, so every array has one device buffer and q, k, v, dO
 * are copied once ({@code FIRST_EXECUTION}): the mask (pooling, pooled softmax, selection, row and column lists,
 * all on the device), the sparse forward over the device mask, the dense forward (the same kernel over a full mask
 * filled on the host), and the sparse and dense backwards. Each graph is timed on its own as the sum of its tasks' device times
 * ({@code kernelNanos}): host launch overhead and transfers are left out, as a fused GPU pipeline would hide them.
 * Medians over the timed rounds after the warm-up; the rounds interleave the five graphs as the CPU bench does.
 *
 * <p>{@code max_rel_err} reads the sparse output and the device's mask lists back once at the end and checks sampled
 * rows against float64 attention with that same mask ({@link SampledError}); {@code sparsity} comes from the
 * device's mask. The {@code backend} field is {@code "<backend> (<device name>)"}: the CPU {@code Result} has no
 * device field, and a GPU figure without the device it ran on is of no use. bf16/f16 runs with
 * {@value FlashForwardMmaTasks#VARIANT_ENV} set to another than the default forward append {@code [mma <label>]}.
 */
public final class GpuAttentionBench {
    private GpuAttentionBench() {
    }

    /**
     * Runs the benchmark on a GPU backend.
     *
     * @param settings what to run; backend cuda or opencl, dtype f32, bf16 or f16, blocks 128 x 64, d 64 or 128
     * @param selection which backend and device to open (its backend should match {@code settings.backend()})
     * @return the same fields as the CPU bench
     * @throws IllegalArgumentException naming the setting the GPU path cannot run
     * @throws io.sparge4j.engine.device.BackendException when the backend or device cannot be opened
     */
    public static AttentionBench.Result run(AttentionBench.Settings settings, BackendSelection selection) {
        return run(settings, selection, mask -> { });
    }

    /**
     * Runs the benchmark on a GPU backend and hands the device's block mask (read back, the one the sparse runs
     * used) to {@code maskSink}, once, before returning.
     *
     * @param settings what to run; backend cuda or opencl, dtype f32, bf16 or f16, blocks 128 x 64, d 64 or 128
     * @param selection which backend and device to open (its backend should match {@code settings.backend()})
     * @param maskSink receives the device's mask
     * @return the same fields as the CPU bench
     * @throws IllegalArgumentException naming the setting the GPU path cannot run
     * @throws io.sparge4j.engine.device.BackendException when the backend or device cannot be opened
     */
    public static AttentionBench.Result run(AttentionBench.Settings settings, BackendSelection selection,
            Consumer<BlockMask> maskSink) {
        if (maskSink == null) {
            throw new IllegalArgumentException("maskSink: got null, expected a consumer (mask -> { } for none)");
        }
        check(settings, selection);
        // The device first: a missing driver or device fails before minutes of input generation and calibration.
        ComputeDevice device = ExecutionBackends.openDevice(selection);
        try {
            TaskGraphExecutor executor = new TaskGraphExecutor(device, ExecutionBackends.compiler(selection), false);
            try {
                return run(settings, executor, maskSink);
            } finally {
                executor.close();
            }
        } finally {
            device.close();
        }
    }

    private static AttentionBench.Result run(AttentionBench.Settings settings, TaskGraphExecutor executor,
            Consumer<BlockMask> maskSink) {
        BenchShape shape = settings.shape();
        float scale = (float) (1 / Math.sqrt(shape.headDim()));
        try (StructuredInputs.Inputs in = StructuredInputs.generate(shape, settings.dtype(), settings.seed())) {
            double p = settings.topp();
            String note = null;
            if (!Double.isNaN(settings.targetSparsity())) {
                // Calibration is set-up, not timed: it picks p on the host exactly as the CPU bench does, so both
                // backends run the same mask settings.
                PooledAttentionMap map = PooledAttentionMap.compute(in.q(), in.k(), settings.queryBlock(),
                        settings.keyBlock(), scale, AttentionLayout.BHND);
                Calibration.Result c = Calibration.calibrateP(map, settings.mode(), settings.topk(),
                        settings.targetSparsity());
                p = c.p();
                if (Math.abs(c.sparsity() - settings.targetSparsity()) > AttentionBench.CALIBRATION_TOLERANCE) {
                    note = String.format(Locale.ROOT, "target sparsity %.4f is out of reach with k %.4g on these"
                            + " inputs: the closest is %.4f at p %.4g", settings.targetSparsity(), settings.topk(),
                            c.sparsity(), c.p());
                }
            }
            return measure(settings, in, scale, p, note, executor, maskSink);
        }
    }

    /** Rejects, with the reason, what the device kernels do not cover yet. */
    static void check(AttentionBench.Settings s, BackendSelection selection) {
        if (!"cuda".equals(s.backend()) && !"opencl".equals(s.backend())) {
            throw new IllegalArgumentException("backend: got " + s.backend() + ", expected cuda or opencl for the GPU"
                    + " path");
        }
        if (selection == null || !s.backend().equals(selection.backend())) {
            throw new IllegalArgumentException("backend: settings say " + s.backend() + " but the device selection is "
                    + selection + "; expected the same backend");
        }
        if (s.dtype() != DType.F32 && s.dtype() != DType.BF16 && s.dtype() != DType.F16) {
            throw new IllegalArgumentException("dtype: got " + s.dtype() + ", expected f32, bf16 or f16 on the GPU");
        }
        if (s.queryBlock() != FlashForwardKernels.QUERY_BLOCK) {
            throw new IllegalArgumentException("bq: got " + s.queryBlock() + ", expected "
                    + FlashForwardKernels.QUERY_BLOCK + " on the GPU (the flash kernels are built for 128 x 64 blocks)");
        }
        if (s.keyBlock() != FlashForwardKernels.KEY_BLOCK) {
            throw new IllegalArgumentException("bkv: got " + s.keyBlock() + ", expected " + FlashForwardKernels.KEY_BLOCK
                    + " on the GPU (the flash kernels are built for 128 x 64 blocks)");
        }
        int d = s.shape().headDim();
        if (d != 64 && d != 128) {
            throw new IllegalArgumentException("shape: head dim d = " + d + ", expected 64 or 128 on the GPU (the"
                    + " flash kernels are specialised for these)");
        }
    }

    private static AttentionBench.Result measure(AttentionBench.Settings s, StructuredInputs.Inputs in, float scale,
            double p, String note, TaskGraphExecutor executor, Consumer<BlockMask> maskSink) {
        BenchShape shape = s.shape();
        int b = shape.batch();
        int h = shape.heads();
        int heads = b * h;
        int n = shape.tokens();
        int d = shape.headDim();
        // f32 q and k for the f32 kernels only: the 16-bit paths pool and attend on the 16-bit arrays themselves
        boolean f32 = s.dtype() == DType.F32;
        FloatArray q = f32 ? FloatArray.fromArray(in.q().toFloatArray()) : null;
        FloatArray k = f32 ? FloatArray.fromArray(in.k().toFloatArray()) : null;
        int size = heads * n * d;
        FloatArray oSparse = new FloatArray(size);
        FloatArray oDense = new FloatArray(size);
        FloatArray lseSparse = new FloatArray(heads * n);
        FloatArray lseDense = new FloatArray(heads * n);
        BlockMaskTasks mask = new BlockMaskTasks(heads, n, d, s.queryBlock(), s.keyBlock());
        DenseLists full = DenseLists.of(heads, mask.queryBlocks(), mask.keyBlocks());
        GridScheduler grids = new GridScheduler();
        // the tensor-core family SPARGE_FLASH_MMA_VARIANT names (or the default), if the device's local memory holds it
        FlashForwardMmaTasks.Variant mma = FlashForwardMmaTasks.selectedVariant(d,
                executor.features().localMemoryBytes());
        Forward forward = forward(s.dtype(), in, q, k, heads, n, d, scale, mma);

        TaskGraph maskGraph = new TaskGraph("mask");
        if (f32) {
            maskGraph.transferToDevice(DataTransferMode.FIRST_EXECUTION, q, k);
            mask.addPooledMap(maskGraph, grids, "m", q, k, scale, h, false);
        } else {
            IntArray qi = (IntArray) forward.inputs()[0];
            IntArray ki = (IntArray) forward.inputs()[1];
            maskGraph.transferToDevice(DataTransferMode.FIRST_EXECUTION, qi, ki);
            mask.addPooledMapPairs(maskGraph, grids, "m", qi, ki, s.dtype() == DType.BF16, scale, h, false);
        }
        mask.addSelection(maskGraph, grids, "m", topkCount(s.mode(), s.topk(), mask.keyBlocks()),
                usesP(s.mode()) ? p : 0);
        maskGraph.transferToHost(DataTransferMode.UNDER_DEMAND, mask.rowStart, mask.rowBlocks);

        TaskGraph sparseFwd = new TaskGraph("sparseFwd").transferToDevice(DataTransferMode.FIRST_EXECUTION,
                forward.inputs());
        forward.add(sparseFwd, grids, oSparse, lseSparse, mask.rowStart, mask.rowBlocks);
        sparseFwd.transferToHost(DataTransferMode.UNDER_DEMAND, oSparse);

        TaskGraph denseFwd = new TaskGraph("denseFwd").transferToDevice(DataTransferMode.FIRST_EXECUTION,
                forward.inputs()).transferToDevice(DataTransferMode.FIRST_EXECUTION, full.rowStart, full.rowBlocks);
        forward.add(denseFwd, grids, oDense, lseDense, full.rowStart, full.rowBlocks);

        TaskGraph[] backward = backwardGraphs(s, in, q, k, forward, oSparse, lseSparse, oDense, lseDense, mask, full,
                grids, heads, n, d, scale);

        // One executor for all plans: arrays are matched by identity, so the mask lists, the forward outputs and
        // the inputs stay on the device between graphs. Closing a plan closes the shared executor, so the plans are
        // closed only once everything is done.
        List<ExecutionPlan> plans = new ArrayList<>();
        try {
            ExecutionPlan maskPlan = plan(plans, maskGraph, grids, executor);
            ExecutionPlan sparseFwdPlan = plan(plans, sparseFwd, grids, executor);
            ExecutionPlan denseFwdPlan = plan(plans, denseFwd, grids, executor);
            ExecutionPlan sparseBwdPlan = plan(plans, backward[0], grids, executor);
            ExecutionPlan denseBwdPlan = plan(plans, backward[1], grids, executor);
            int rounds = s.warmup() + s.reps();
            double[] maskMs = new double[s.reps()];
            Map<String, double[]> maskPartMs = new LinkedHashMap<>();
            double[] sparseFwdMs = new double[s.reps()];
            double[] denseFwdMs = new double[s.reps()];
            double[] sparseBwdMs = new double[s.reps()];
            double[] denseBwdMs = new double[s.reps()];
            ExecutionResult lastMask = null;
            ExecutionResult lastSparse = null;
            for (int round = 0; round < rounds; round++) {
                int slot = round - s.warmup();
                lastMask = maskPlan.execute();
                lastSparse = sparseFwdPlan.execute();
                ExecutionResult df = denseFwdPlan.execute();
                ExecutionResult sb = sparseBwdPlan.execute();
                ExecutionResult db = denseBwdPlan.execute();
                if (slot >= 0) {
                    maskMs[slot] = deviceMs(lastMask);
                    for (TaskProfile t : lastMask.tasks()) {
                        maskPartMs.computeIfAbsent(t.taskName(), x -> new double[s.reps()])[slot] +=
                                t.kernelNanos() / 1e6;
                    }
                    sparseFwdMs[slot] = deviceMs(lastSparse);
                    denseFwdMs[slot] = deviceMs(df);
                    sparseBwdMs[slot] = deviceMs(sb);
                    denseBwdMs[slot] = deviceMs(db);
                }
            }
            lastMask.transferToHost(mask.rowStart, mask.rowBlocks);
            lastSparse.transferToHost(oSparse);
            BlockMask deviceMask = toBlockMask(b, h, n, s, mask);
            maskSink.accept(deviceMask);
            double err;
            try (Tensor out = Tensor.of(oSparse.toHeapArray(), b, h, n, d)) {
                // in.q(), in.k(), in.v() hold the rounded values for bf16/f16: the reference sees the kernel's inputs
                err = SampledError.maxRelativeError(in.q(), in.k(), in.v(), deviceMask, scale, out, s.sampledRows());
            }
            MaskMode mode = s.mode();
            boolean usesK = mode == MaskMode.TOPK || mode == MaskMode.HYBRID;
            double df = median(denseFwdMs);
            double sf = median(sparseFwdMs);
            double db = median(denseBwdMs);
            double sb = median(sparseBwdMs);
            String backend = executor.backendName() + " (" + executor.deviceName() + ")";
            if (s.dtype() != DType.F32 && mma != FlashForwardMmaTasks.DEFAULT_VARIANT) {
                // the forward kernel family picked by SPARGE_FLASH_MMA_VARIANT, so that a figure names what it timed
                backend += " [mma " + mma.label() + "]";
            }
            return new AttentionBench.Result(backend, s.dtype().toString(), shape.toString(), mode.toString(),
                    usesK ? s.topk() : null, usesP(mode) ? p : null, deviceMask.sparsity(), df, sf, df / sf, db, sb,
                    db / sb, median(maskMs), err, note, medians(maskPartMs));
        } finally {
            plans.forEach(ExecutionPlan::close);
        }
    }

    /** One forward kernel over given mask lists: the arrays it reads (to copy once) and how to add its task. */
    private interface Forward {
        /** @return the input arrays, for {@code transferToDevice} */
        Object[] inputs();

        /** Adds the forward task "fwd" writing o and lse over the mask lists. */
        void add(TaskGraph graph, GridScheduler grids, FloatArray o, FloatArray lse, IntArray rowStart,
                IntArray rowBlocks);
    }

    /**
     * The forward of the dtype: f32 kernels on the f32 arrays, or the tensor-core kernels on q, k, v stored in
     * bf16/f16 and passed as int views of pairs.
     */
    private static Forward forward(DType dtype, StructuredInputs.Inputs in, FloatArray q, FloatArray k, int heads,
            int n, int d, float scale, FlashForwardMmaTasks.Variant mma) {
        if (dtype == DType.F32) {
            FloatArray v = FloatArray.fromArray(in.v().toFloatArray());
            return new Forward() {
                @Override
                public Object[] inputs() {
                    return new Object[] {q, k, v};
                }

                @Override
                public void add(TaskGraph graph, GridScheduler grids, FloatArray o, FloatArray lse,
                        IntArray rowStart, IntArray rowBlocks) {
                    FlashForwardTasks.addForward(graph, grids, "fwd", q, k, v, o, lse, rowStart, rowBlocks, heads, n,
                            d, scale);
                }
            };
        }
        boolean bf16 = dtype == DType.BF16;
        IntArray qi = pairs(in.q(), bf16);
        IntArray ki = pairs(in.k(), bf16);
        IntArray vi = pairs(in.v(), bf16);
        return new Forward() {
            @Override
            public Object[] inputs() {
                return new Object[] {qi, ki, vi};
            }

            @Override
            public void add(TaskGraph graph, GridScheduler grids, FloatArray o, FloatArray lse, IntArray rowStart,
                    IntArray rowBlocks) {
                FlashForwardMmaTasks.addForward(graph, grids, "fwd", bf16, qi, ki, vi, o, lse, rowStart, rowBlocks,
                        heads, n, d, scale, mma);
            }
        };
    }

    /** A tensor's (already rounded) values in a bf16 or f16 array, seen as int pairs by the MMA kernels. */
    private static IntArray pairs(Tensor t, boolean bf16) {
        float[] values = t.toFloatArray();
        HalfWidthFloatArray a = bf16 ? BFloat16Array.fromArray(values) : HalfFloatArray.fromArray(values);
        return IntArray.fromSegmentShallow(a.getSegment());
    }

    /**
     * The sparse and dense backward graphs of the dtype, or null where there is none yet. bf16/f16: wire
     * {@code FlashBackwardMmaTasks} here (two graphs over {@code forward}'s inputs, the same outputs and mask lists)
     * and the bench times them and fills the backward fields.
     */
    private static TaskGraph[] backwardGraphs(AttentionBench.Settings s, StructuredInputs.Inputs in, FloatArray q,
            FloatArray k, Forward forward, FloatArray oSparse, FloatArray lseSparse, FloatArray oDense,
            FloatArray lseDense, BlockMaskTasks mask, DenseLists full, GridScheduler grids, int heads, int n, int d,
            float scale) {
        int size = heads * n * d;
        // Gradients and backward scratch are shared by the two backwards: they run one after the other and
        // nothing reads the gradients back (the CPU bench checks no gradient either).
        FloatArray dq = new FloatArray(size);
        FloatArray dk = new FloatArray(size);
        FloatArray dv = new FloatArray(size);
        Object[] qkv = forward.inputs();
        TaskGraph sparseBwd;
        TaskGraph denseBwd;
        if (s.dtype() == DType.F32) {
            FloatArray v = (FloatArray) qkv[2];
            FloatArray dOut = FloatArray.fromArray(in.dOut().toFloatArray());
            FlashBackwardTasks backward = new FlashBackwardTasks(heads, n, d, s.queryBlock(), s.keyBlock());
            sparseBwd = new TaskGraph("sparseBwd").transferToDevice(DataTransferMode.FIRST_EXECUTION, dOut);
            backward.addBackward(sparseBwd, grids, "b", q, k, v, dOut, oSparse, lseSparse, mask.rowStart,
                    mask.rowBlocks, mask.colStart, mask.colBlocks, dq, dk, dv, scale);
            denseBwd = new TaskGraph("denseBwd").transferToDevice(DataTransferMode.FIRST_EXECUTION, dOut,
                    full.colStart, full.colBlocks);
            backward.addBackward(denseBwd, grids, "b", q, k, v, dOut, oDense, lseDense, full.rowStart,
                    full.rowBlocks, full.colStart, full.colBlocks, dq, dk, dv, scale);
        } else {
            // the tensor-core backward on the same 16-bit q, k, v as the forward, dO rounded alike; O and lse are
            // the forward's f32 outputs
            boolean bf16 = s.dtype() == DType.BF16;
            IntArray qi = (IntArray) qkv[0];
            IntArray ki = (IntArray) qkv[1];
            IntArray vi = (IntArray) qkv[2];
            IntArray dOut = pairs(in.dOut(), bf16);
            FlashBackwardMmaTasks backward = new FlashBackwardMmaTasks(heads, n, d, s.queryBlock(), s.keyBlock(),
                    bf16);
            sparseBwd = new TaskGraph("sparseBwd").transferToDevice(DataTransferMode.FIRST_EXECUTION, dOut);
            backward.addBackward(sparseBwd, grids, "b", qi, ki, vi, dOut, oSparse, lseSparse, mask.rowStart,
                    mask.rowBlocks, mask.colStart, mask.colBlocks, dq, dk, dv, scale);
            denseBwd = new TaskGraph("denseBwd").transferToDevice(DataTransferMode.FIRST_EXECUTION, dOut,
                    full.colStart, full.colBlocks);
            backward.addBackward(denseBwd, grids, "b", qi, ki, vi, dOut, oDense, lseDense, full.rowStart,
                    full.rowBlocks, full.colStart, full.colBlocks, dq, dk, dv, scale);
        }
        return new TaskGraph[] {sparseBwd, denseBwd};
    }

    private static ExecutionPlan plan(List<ExecutionPlan> plans, TaskGraph graph, GridScheduler grids,
            TaskGraphExecutor executor) {
        ExecutionPlan plan = new ExecutionPlan(graph.snapshot()).withGridScheduler(grids).withExecutor(executor);
        plans.add(plan);
        return plan;
    }

    /** The median of each task's times, keyed by task name without the graph's prefix, in task order. */
    private static Map<String, Double> medians(Map<String, double[]> perTask) {
        Map<String, Double> out = new LinkedHashMap<>();
        perTask.forEach((task, ms) -> out.put(task.substring(task.indexOf('.') + 1), median(ms)));
        return out;
    }

    /** Device time of one execution: the sum of its tasks' kernel times, in ms. */
    private static double deviceMs(ExecutionResult result) {
        return result.totalKernelNanos() / 1e6;
    }

    private static double median(double[] ms) {
        double[] sorted = ms.clone();
        Arrays.sort(sorted);
        int c = sorted.length;
        return c % 2 == 1 ? sorted[c / 2] : 0.5 * (sorted[c / 2 - 1] + sorted[c / 2]);
    }

    /** The Top-k count {@link BlockMaskTasks#addSelection} takes for a mode (dense keeps every block). */
    static int topkCount(MaskMode mode, double k, int nk) {
        return switch (mode) {
            case DENSE -> nk;
            case TOPK, HYBRID -> BlockSelector.topkCount(k, nk);
            default -> 0;
        };
    }

    private static boolean usesP(MaskMode mode) {
        return mode == MaskMode.TOPP || mode == MaskMode.HYBRID;
    }

    /** The device's mask lists (read back) as the CPU's {@link BlockMask}, for sparsity and the reference. */
    private static BlockMask toBlockMask(int b, int h, int n, AttentionBench.Settings s, BlockMaskTasks mask) {
        int nq = mask.queryBlocks();
        int nk = mask.keyBlocks();
        boolean[] kept = new boolean[mask.rows() * nk];
        for (int r = 0; r < mask.rows(); r++) {
            for (int e = mask.rowStart.get(r); e < mask.rowStart.get(r + 1); e++) {
                int block = mask.rowBlocks.get(e);
                if (block < 0 || block >= nk) {
                    throw new IllegalStateException("device mask: row " + r + " lists key block " + block
                            + ", expected 0.." + (nk - 1));
                }
                kept[r * nk + block] = true;
            }
        }
        return BlockMask.of(b, h, new BlockGrid(n, s.queryBlock()), new BlockGrid(n, s.keyBlock()), kept);
    }

    /** The lists of a mask keeping every block, filled on the host: the dense runs' schedule. */
    private record DenseLists(IntArray rowStart, IntArray rowBlocks, IntArray colStart, IntArray colBlocks) {
        static DenseLists of(int heads, int nq, int nk) {
            int rows = heads * nq;
            int columns = heads * nk;
            IntArray rowStart = new IntArray(rows + 1);
            IntArray rowBlocks = new IntArray(rows * nk);
            for (int r = 0; r <= rows; r++) {
                rowStart.set(r, r * nk);
            }
            for (int e = 0; e < rows * nk; e++) {
                rowBlocks.set(e, e % nk);
            }
            IntArray colStart = new IntArray(columns + 1);
            IntArray colBlocks = new IntArray(columns * nq);
            for (int c = 0; c <= columns; c++) {
                colStart.set(c, c * nq);
            }
            for (int e = 0; e < columns * nq; e++) {
                colBlocks.set(e, e % nq);
            }
            return new DenseLists(rowStart, rowBlocks, colStart, colBlocks);
        }
    }
}
