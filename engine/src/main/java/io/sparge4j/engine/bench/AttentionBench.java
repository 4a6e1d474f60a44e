package io.sparge4j.engine.bench;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.ops.Attention;
import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.Calibration;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.PooledAttentionMap;
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.io.UncheckedIOException;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Dense against block-sparse attention on the CPU: forward and backward times (medians after a warm-up), the cost of
 * building the mask, and the sparse output's error against float64 masked attention on sampled rows.
 *
 * <pre>{@code
 * AttentionBench.Result r = AttentionBench.run(AttentionBench.Settings.cpuS().withTargetSparsity(0.95));
 * System.out.println(r.toJson());
 * }</pre>
 *
 * <p>Inputs come from {@link StructuredInputs}. The sparse forward is timed with the mask prebuilt
 * ({@link SparseAttention#forward(Tensor, Tensor, Tensor, SparseAttention.Selection, SparseAttention.Config)}); the
 * mask's own cost is {@code mask_ms} ({@link SparseAttention#selectBlocks}). The dense runs are the same kernels with
 * no block schedule. Timed sections run interleaved, one of each per round, so that a load change on the machine
 * hits them alike.
 */
public final class AttentionBench {
    /** Largest allowed difference between the calibrated and the target sparsity. */
    public static final double CALIBRATION_TOLERANCE = 0.005;

    private AttentionBench() {
    }

    /**
     * What to run.
     *
     * @param backend "cpu", or "cuda" / "opencl" ({@link GpuAttentionBench}: f32, bf16 or f16, blocks 128 x 64)
     * @param shape B, H, N, d
     * @param mode dense, topk, topp or hybrid
     * @param topk Top-k fraction in (0, 1] (used by topk and hybrid)
     * @param topp Top-p threshold in (0, 1] (used by topp and hybrid; replaced by calibration when
     *             {@code targetSparsity} is set)
     * @param targetSparsity NaN for none; else keep topk and calibrate p on the inputs to reach it
     * @param queryBlock query block size
     * @param keyBlock key block size
     * @param dtype input dtype: f32, bf16 or f16
     * @param warmup untimed rounds first
     * @param reps timed rounds (medians are taken over them)
     * @param seed input generator seed
     * @param sampledRows rows per (batch, head) checked against float64 for {@code max_rel_err}
     */
    public record Settings(String backend, BenchShape shape, MaskMode mode, double topk, double topp,
            double targetSparsity, int queryBlock, int keyBlock, DType dtype, int warmup, int reps, long seed,
            int sampledRows) {
        /** Validates every field; messages name the field, the value and what is expected. */
        public Settings {
            checkBackend(backend);
            if (shape == null) {
                throw new IllegalArgumentException("shape: got none, expected cpu-s or B,H,N,d");
            }
            if (mode == null || mode == MaskMode.MASK) {
                throw new IllegalArgumentException("mode: got " + mode + ", expected dense, topk, topp or hybrid");
            }
            if (mode == MaskMode.TOPK || mode == MaskMode.HYBRID) {
                checkFraction("topk", topk);
            }
            if (mode == MaskMode.TOPP || mode == MaskMode.HYBRID) {
                checkFraction("topp", topp);
            }
            if (!Double.isNaN(targetSparsity)) {
                if (!(targetSparsity >= 0 && targetSparsity < 1)) {
                    throw new IllegalArgumentException("target-sparsity: got " + targetSparsity
                            + ", expected a fraction in [0, 1)");
                }
                if (mode != MaskMode.HYBRID && mode != MaskMode.TOPP) {
                    throw new IllegalArgumentException("target-sparsity: calibrates p with k fixed, so it needs mode"
                            + " hybrid or topp, got " + mode);
                }
            }
            checkBlock("bq", queryBlock);
            checkBlock("bkv", keyBlock);
            if (shape.headDim() > Attention.MAX_HEAD_DIM) {
                throw new IllegalArgumentException("shape: head dim d = " + shape.headDim() + ", expected at most "
                        + Attention.MAX_HEAD_DIM);
            }
            if (dtype == null || !dtype.isFloatingPoint()) {
                throw new IllegalArgumentException("dtype: got " + dtype + ", expected f32, bf16 or f16");
            }
            if (warmup < 0) {
                throw new IllegalArgumentException("warmup: got " + warmup + ", expected 0 or more rounds");
            }
            if (reps < 1) {
                throw new IllegalArgumentException("reps: got " + reps + ", expected 1 or more rounds");
            }
            if (sampledRows < 1) {
                throw new IllegalArgumentException("sampled rows: got " + sampledRows + ", expected 1 or more");
            }
        }

        /**
         * Untimed rounds before timing. The sparse path and the mask builder run in far fewer, shorter calls than
         * dense attention, so the JIT needs many rounds before they reach full speed (with 2 rounds they measured
         * about 1.5x slower than warm).
         */
        public static final int WARMUP_ROUNDS = 20;

        /** @return cpu-s (1,4,4096,64), hybrid k 0.03 p 0.2, blocks 128 x 64, f32, {@link #WARMUP_ROUNDS} warm-up and 7 timed rounds */
        public static Settings cpuS() {
            return new Settings("cpu", BenchShape.parse("cpu-s"), MaskMode.HYBRID, 0.03, 0.2, Double.NaN, 128, 64,
                    DType.F32, WARMUP_ROUNDS, 7, 0, 64);
        }

        /** @return a quick run for tests: shape 1,2,512,64, no warm-up, one round, 16 sampled rows per head */
        public static Settings quick() {
            return new Settings("cpu", new BenchShape(1, 2, 512, 64), MaskMode.HYBRID, 0.03, 0.2, Double.NaN, 128, 64,
                    DType.F32, 0, 1, 0, 16);
        }

        /** @return a copy that calibrates p to this sparsity (NaN: use topp as given) */
        public Settings withTargetSparsity(double target) {
            return new Settings(backend, shape, mode, topk, topp, target, queryBlock, keyBlock, dtype, warmup, reps,
                    seed, sampledRows);
        }

        /** @return a copy with another shape */
        public Settings withShape(BenchShape newShape) {
            return new Settings(backend, newShape, mode, topk, topp, targetSparsity, queryBlock, keyBlock, dtype,
                    warmup, reps, seed, sampledRows);
        }

        /** @return a copy with another mode and fractions */
        public Settings withMode(MaskMode newMode, double newTopk, double newTopp) {
            return new Settings(backend, shape, newMode, newTopk, newTopp, targetSparsity, queryBlock, keyBlock, dtype,
                    warmup, reps, seed, sampledRows);
        }

        /** @return a copy with other round counts */
        public Settings withRounds(int newWarmup, int newReps) {
            return new Settings(backend, shape, mode, topk, topp, targetSparsity, queryBlock, keyBlock, dtype,
                    newWarmup, newReps, seed, sampledRows);
        }
    }

    /**
     * One benchmark's outcome; {@link #toJson()} gives the one-line JSON of {@code sparge attention-bench --json}.
     *
     * @param backend where it ran
     * @param dtype input dtype
     * @param shape "B,H,N,d"
     * @param mode the mask mode
     * @param k Top-k fraction used (null when the mode has none)
     * @param p Top-p threshold used, calibrated or given (null when the mode has none)
     * @param sparsity fraction of (query, key) pairs dropped, in [0, 1]
     * @param denseFwdMs median dense forward
     * @param sparseFwdMs median sparse forward, mask prebuilt
     * @param fwdSpeedup dense over sparse forward
     * @param denseBwdMs median dense backward
     * @param sparseBwdMs median sparse backward
     * @param bwdSpeedup dense over sparse backward
     * @param maskMs median time to build the mask (pooling, softmax, selection, statistics)
     * @param maxRelErr max |o - ref| / max |ref| on sampled rows, ref = float64 attention with the same mask
     * @param calibrationNote why the target sparsity was missed; null (and left out of the JSON) otherwise
     * @param maskPartsMs the mask's median time per kernel (GPU runs: pooling, softmax, selection, lists), in task
     *     order; null (and left out of the JSON) where the parts are not timed one by one (CPU)
     */
    @JsonPropertyOrder({"backend", "dtype", "shape", "mode", "k", "p", "sparsity", "dense_fwd_ms", "sparse_fwd_ms",
            "fwd_speedup", "dense_bwd_ms", "sparse_bwd_ms", "bwd_speedup", "mask_ms", "max_rel_err",
            "calibration_note", "mask_parts_ms"})
    public record Result(
            @JsonProperty("backend") String backend,
            @JsonProperty("dtype") String dtype,
            @JsonProperty("shape") String shape,
            @JsonProperty("mode") String mode,
            @JsonProperty("k") Double k,
            @JsonProperty("p") Double p,
            @JsonProperty("sparsity") double sparsity,
            @JsonProperty("dense_fwd_ms") double denseFwdMs,
            @JsonProperty("sparse_fwd_ms") double sparseFwdMs,
            @JsonProperty("fwd_speedup") double fwdSpeedup,
            @JsonProperty("dense_bwd_ms") double denseBwdMs,
            @JsonProperty("sparse_bwd_ms") double sparseBwdMs,
            @JsonProperty("bwd_speedup") double bwdSpeedup,
            @JsonProperty("mask_ms") double maskMs,
            @JsonProperty("max_rel_err") double maxRelErr,
            @JsonProperty("calibration_note") @JsonInclude(JsonInclude.Include.NON_NULL) String calibrationNote,
            @JsonProperty("mask_parts_ms") @JsonInclude(JsonInclude.Include.NON_NULL)
            Map<String, Double> maskPartsMs) {

        /** @return the result as one line of JSON, fields in the order above */
        public String toJson() {
            try {
                return new ObjectMapper().writeValueAsString(this);
            } catch (JsonProcessingException e) {
                throw new UncheckedIOException(e);
            }
        }

        /** @return a readable table of the same numbers */
        public String toTable() {
            StringBuilder s = new StringBuilder();
            s.append(String.format(Locale.ROOT, "attention-bench: backend %s, dtype %s, shape %s (B,H,N,d), mode %s%n",
                    backend, dtype, shape, mode));
            s.append(String.format(Locale.ROOT, "k %s, p %s, sparsity %.4f%n", k == null ? "-" : fmt(k),
                    p == null ? "-" : fmt(p), sparsity));
            s.append(String.format(Locale.ROOT, "%-10s %12s %12s %9s%n", "", "dense ms", "sparse ms", "speedup"));
            s.append(String.format(Locale.ROOT, "%-10s %12.3f %12.3f %8.2fx%n", "forward", denseFwdMs, sparseFwdMs,
                    fwdSpeedup));
            s.append(String.format(Locale.ROOT, "%-10s %12.3f %12.3f %8.2fx%n", "backward", denseBwdMs, sparseBwdMs,
                    bwdSpeedup));
            s.append(String.format(Locale.ROOT, "mask       %.3f ms (%.1f%% of the sparse forward)%n", maskMs,
                    100 * maskMs / sparseFwdMs));
            s.append(String.format(Locale.ROOT, "max_rel_err %.3e (sampled rows against float64 masked attention)%n",
                    maxRelErr));
            if (calibrationNote != null) {
                s.append("note: ").append(calibrationNote).append(System.lineSeparator());
            }
            return s.toString();
        }

        private static String fmt(double x) {
            return String.format(Locale.ROOT, "%.6g", x);
        }
    }

    /**
     * Runs the benchmark: on the CPU, or on the first device of cuda or opencl through {@link GpuAttentionBench}.
     *
     * @param settings what to run
     * @return times, sparsity and error
     */
    public static Result run(Settings settings) {
        return run(settings, mask -> { });
    }

    /**
     * Runs the benchmark and hands the block mask its sparse runs used to {@code maskSink} (once, before returning),
     * so that another tool can run the very same mask. The mask is not part of the {@link Result} or its JSON.
     *
     * @param settings what to run
     * @param maskSink receives the mask the sparse forward and backward ran with (on a GPU: the device's mask)
     * @return times, sparsity and error
     */
    public static Result run(Settings settings, Consumer<BlockMask> maskSink) {
        if (maskSink == null) {
            throw new IllegalArgumentException("maskSink: got null, expected a consumer (mask -> { } for none)");
        }
        if (!"cpu".equals(settings.backend())) {
            // cuda and opencl: the device kernels through the TaskGraph API, on the first device of the backend
            return GpuAttentionBench.run(settings, new BackendSelection(settings.backend(), null), maskSink);
        }
        BenchShape shape = settings.shape();
        SparseAttention.Config config = SparseAttention.Config.defaults()
                .withMode(settings.mode())
                .withTopk(settings.topk())
                .withTopp(settings.topp())
                .withBlocks(settings.queryBlock(), settings.keyBlock());
        float scale = (float) (1 / Math.sqrt(shape.headDim()));
        try (StructuredInputs.Inputs in = StructuredInputs.generate(shape, settings.dtype(), settings.seed())) {
            String note = null;
            if (!Double.isNaN(settings.targetSparsity())) {
                PooledAttentionMap map = PooledAttentionMap.compute(in.q(), in.k(), settings.queryBlock(),
                        settings.keyBlock(), scale, AttentionLayout.BHND);
                Calibration.Result c = Calibration.calibrateP(map, settings.mode(), settings.topk(),
                        settings.targetSparsity());
                config = config.withTopp(c.p());
                if (Math.abs(c.sparsity() - settings.targetSparsity()) > CALIBRATION_TOLERANCE) {
                    note = String.format(Locale.ROOT, "target sparsity %.4f is out of reach with k %.4g on these"
                            + " inputs: the closest is %.4f at p %.4g", settings.targetSparsity(), settings.topk(),
                            c.sparsity(), c.p());
                }
            }
            return measure(settings, config, in, scale, note, maskSink);
        }
    }

    private static Result measure(Settings s, SparseAttention.Config config, StructuredInputs.Inputs in, float scale,
            String note, Consumer<BlockMask> maskSink) {
        Tensor q = in.q();
        Tensor k = in.k();
        Tensor v = in.v();
        Tensor dOut = in.dOut();
        Attention.Options dense = config.attentionOptions();
        SparseAttention.Selection selection = SparseAttention.selectBlocks(q, k, config);
        int rounds = s.warmup() + s.reps();
        Medians maskT = new Medians(s.reps());
        Medians sparseF = new Medians(s.reps());
        Medians denseF = new Medians(s.reps());
        Medians sparseB = new Medians(s.reps());
        Medians denseB = new Medians(s.reps());
        final SparseAttention.Config cfg = config;
        try (SparseAttention.Result sparseOut = SparseAttention.forward(q, k, v, selection, cfg);
             Attention.Result denseOut = Attention.forward(q, k, v, dense)) {
            for (int round = 0; round < rounds; round++) {
                boolean timed = round >= s.warmup();
                run(timed, maskT, () -> SparseAttention.selectBlocks(q, k, cfg));
                run(timed, sparseF, () -> SparseAttention.forward(q, k, v, selection, cfg).close());
                run(timed, denseF, () -> Attention.forward(q, k, v, dense).close());
                run(timed, sparseB, () -> SparseAttention.backward(dOut, q, k, v, sparseOut, cfg).close());
                run(timed, denseB, () -> Attention.backward(dOut, q, k, v, denseOut.out(), denseOut.logsumexp(), dense)
                        .close());
            }
            double err = SampledError.maxRelativeError(q, k, v, selection.mask(), scale, sparseOut.out(),
                    s.sampledRows());
            maskSink.accept(selection.mask());
            MaskMode mode = s.mode();
            boolean usesK = mode == MaskMode.TOPK || mode == MaskMode.HYBRID;
            boolean usesP = mode == MaskMode.TOPP || mode == MaskMode.HYBRID;
            double df = denseF.medianMs();
            double sf = sparseF.medianMs();
            double db = denseB.medianMs();
            double sb = sparseB.medianMs();
            return new Result(s.backend(), s.dtype().toString(), s.shape().toString(), mode.toString(),
                    usesK ? cfg.topk() : null, usesP ? cfg.topp() : null, selection.mask().sparsity(),
                    df, sf, df / sf, db, sb, db / sb, maskT.medianMs(), err, note, null);
        }
    }

    private static void run(boolean timed, Medians into, Runnable body) {
        if (timed) {
            into.time(body);
        } else {
            body.run();
        }
    }

    /**
     * @param backend a backend name
     * @throws IllegalArgumentException unless it is cpu, cuda or opencl
     */
    public static void checkBackend(String backend) {
        if (!"cpu".equals(backend) && !"cuda".equals(backend) && !"opencl".equals(backend)) {
            throw new IllegalArgumentException("backend: got '" + backend + "', expected cpu, cuda or opencl");
        }
    }

    private static void checkFraction(String name, double v) {
        if (!(v > 0 && v <= 1)) {
            throw new IllegalArgumentException(name + ": got " + v + ", expected a fraction in (0, 1]");
        }
    }

    private static void checkBlock(String name, int size) {
        if (size <= 0 || size > Attention.MAX_BLOCK) {
            throw new IllegalArgumentException(name + ": got " + size + ", expected a block size from 1 to "
                    + Attention.MAX_BLOCK);
        }
    }
}
