package io.sparge4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.CpuInfo;
import io.sparge4j.engine.distributed.HostValues;
import io.sparge4j.engine.gpu.GemmPrecision;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.pipeline.VideoGeometry;
import io.sparge4j.models.sampling.Noise;
import io.sparge4j.models.wan.DeviceWanModel;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanConfigReader;
import io.sparge4j.models.wan.WanTransformer;
import io.sparge4j.models.wan.WanTransformers;
import io.sparge4j.models.wan.WanWeights;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * {@code sparge model-bench}: the paper's end-to-end table in miniature. Times one denoising step (one forward of
 * the Wan2.1 DiT, random seeded weights) with dense self-attention and with SpargeAttention2's block-sparse
 * attention, and reports the self-attention share of the step and the peak memory; one JSON line per case, then
 * one {@code wan-step-speedup} line per backend and precision. Under {@code sparge launch --gpus N} each rank runs
 * the sequence-parallel model (tokens split over the GPUs) and rank 0 prints, with {@code "world": N}: the attention
 * scaling of issue 8 from one GPU to N.
 */
@Command(name = "model-bench",
        description = {"Times one denoising step of a Wan2.1 DiT with random seeded weights, dense against sparse"
                + " self-attention: step time, self-attention time and share, sparsity, peak memory; one JSON line"
                + " per case and a wan-step-speedup line per backend and precision. A step is one forward (guidance"
                + " 1); step_ms_cfg doubles it for Wan's default classifier-free guidance. --precision takes a comma"
                + " list here (f32,bf16,f16): the host weights are made once and shared. Under 'sparge launch --gpus N'"
                + " the tokens are split over the GPUs (sequence parallel) and rank 0 prints (\"world\": N)."})
public final class ModelBenchCommand implements Callable<Integer> {
    /** Wan's timestep scale runs 0..1000; the middle of the schedule. */
    private static final double TIMESTEP = 500;
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Bisection steps of --target-sparsity: p to within 2^-8 of the range searched. */
    private static final int CALIBRATION_FORWARDS = 8;

    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Option(names = "--config", paramLabel = "tiny-4096|wan-1.3b|wan-14b|DIR", defaultValue = "tiny-4096",
            description = "A preset, or a model directory whose config.json gives the shapes (weights are random"
                    + " either way; default ${DEFAULT-VALUE}).")
    private String config;

    @Option(names = "--frames", paramLabel = "N", description = "Video frames (default per preset: tiny-4096 4,"
            + " wan presets 81).")
    private Integer frames;

    @Option(names = "--height", paramLabel = "PX", description = "Video height in pixels (tiny-4096 64, wan-1.3b 480,"
            + " wan-14b 720).")
    private Integer height;

    @Option(names = "--width", paramLabel = "PX", description = "Video width in pixels (tiny-4096 64, wan-1.3b 832,"
            + " wan-14b 1280).")
    private Integer width;

    @Option(names = "--layers", paramLabel = "N",
            description = "Run only the first N transformer blocks (the JSON says so: layers against full_layers).")
    private Integer layers;

    @Mixin
    private ModelBackendFlags backendFlags;

    @Option(names = "--modes", paramLabel = "M[,M...]", split = ",", defaultValue = "dense,hybrid",
            description = "Self-attention modes to time: dense, topk, topp, hybrid (default ${DEFAULT-VALUE}).")
    private List<String> modes;

    @Option(names = "--topk", paramLabel = "K", defaultValue = "0.03",
            description = "Top-k fraction of key blocks per query block, in (0, 1] (default ${DEFAULT-VALUE}).")
    private double topk;

    @Option(names = "--topp", paramLabel = "P", defaultValue = "0.2",
            description = "Top-p mass of the pooled attention, in (0, 1] (default ${DEFAULT-VALUE}).")
    private double topp;

    @Option(names = "--target-sparsity", paramLabel = "S",
            description = "Keep --topk and bisect p (modes topp and hybrid) on this model, input and precision until"
                    + " the mean sparsity of a forward is at least S, in (0, 1); costs " + CALIBRATION_FORWARDS + " extra forwards per sparse"
                    + " mode, made once with the first precision.")
    private Double targetSparsity;

    @Option(names = "--warmup", paramLabel = "N", defaultValue = "1",
            description = "Untimed forwards per case first (default ${DEFAULT-VALUE}).")
    private int warmup;

    @Option(names = "--reps", paramLabel = "N", defaultValue = "3",
            description = "Timed forwards per case; times are medians (default ${DEFAULT-VALUE}).")
    private int reps;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0",
            description = "Seed of the weights, input and text features (default ${DEFAULT-VALUE}).")
    private long seed;

    /** Picocli creates it. */
    public ModelBenchCommand() {
    }

    /** A checked benchmark plan: everything cheap is validated before the (possibly minutes long) weight init. */
    private record Plan(String configName, WanConfig config, int fullLayers, int[] video, int[] input,
            String backend, List<GemmPrecision> precisions, List<MaskMode> modes) {
    }

    /** p by sparse mode, found by --target-sparsity with the first precision; empty without it. */
    private final Map<MaskMode, Double> calibratedTopp = new java.util.EnumMap<>(MaskMode.class);

    /** This process alone, or a rank of {@code sparge launch --gpus N} (the sequence split over the ranks). */
    private JobRanks ranks;

    @Override
    public Integer call() throws IOException {
        Plan plan = plan();
        PrintWriter out = spec.commandLine().getOut();
        try (JobRanks job = JobRanks.open(SpargeCli.environment(spec), backendFlags.selection(), backendFlags.device)) {
            ranks = job;
            Map<String, Tensor> weights = WanWeights.randomInit(plan.config, seed);
            try (Tensor x = Noise.gaussian(seed + 1, plan.input);
                 Tensor context = Noise.gaussian(seed + 2, plan.config.textLen(), plan.config.textDim())) {
                for (GemmPrecision precision : plan.precisions) {
                    runPrecision(plan, precision, weights, x, context, out);
                }
            } finally {
                weights.values().forEach(Tensor::close);
            }
        }
        return 0;
    }

    /** Prints a line on rank 0 (or alone); the other ranks of a job only compute. */
    private void print(PrintWriter out, Object line) {
        if (ranks.leader()) {
            out.println(line);
            out.flush();
        }
    }

    /** One model upload per precision; the modes share its weights through {@link WanTransformer#withAttention}. */
    private void runPrecision(Plan plan, GemmPrecision precision, Map<String, Tensor> weights, Tensor x,
            Tensor context, PrintWriter out) {
        List<ObjectNode> cases = new ArrayList<>();
        try (WanTransformer owner = open(plan, precision, weights)) {
            // a launched rank: the same weights, the tokens split over the ranks (Ulysses all-to-alls around
            // self-attention); the view shares the owner's session and parameters
            WanTransformer base = ranks.comm() == null ? owner
                    : ((DeviceWanModel) owner).withSequenceParallel(ranks.comm());
            if (targetSparsity != null && calibratedTopp.isEmpty()) {
                calibrate(base, plan.modes, x, context);
            }
            for (MaskMode mode : plan.modes) {
                WanTransformer model = base.withAttention(attention(mode));
                try {
                    ObjectNode line = timeCase(plan, precision, mode, model, x, context);
                    cases.add(line);
                    print(out, line);
                } finally {
                    model.close();
                }
            }
        }
        speedups(cases).forEach(line -> print(out, line));
    }

    private WanTransformer open(Plan plan, GemmPrecision precision, Map<String, Tensor> weights) {
        try {
            if (ranks.comm() != null) {
                return DeviceWanModel.open(ranks.backend(), plan.config, weights, attention(plan.modes.getFirst()),
                        precision);
            }
            return WanTransformers.open(plan.backend, precision, plan.config, weights, attention(plan.modes.getFirst()));
        } catch (BackendException e) {
            throw new ParameterException(spec.commandLine(), "Invalid value for option '--backend': " + plan.backend
                    + " cannot be opened: " + e.getMessage().lines().findFirst().orElse(""));
        }
    }

    private WanAttention attention(MaskMode mode) {
        return WanAttention.defaults().withMode(mode).withTopk(topk).withTopp(calibratedTopp.getOrDefault(mode, topp));
    }

    /**
     * Bisects p in (0, 1] for each mode that uses it: the largest p tried whose forward reaches the target sparsity
     * (sparsity falls as p grows). When even the smallest p misses it (Top-k alone keeps too much), that p is kept
     * and the JSON's sparsity shows the shortfall.
     */
    private void calibrate(WanTransformer base, List<MaskMode> maskModes, Tensor x, Tensor context) {
        for (MaskMode mode : maskModes) {
            if (mode != MaskMode.TOPP && mode != MaskMode.HYBRID) {
                continue;
            }
            double lo = 0;
            double hi = 1;
            Double best = null;
            for (int i = 0; i < CALIBRATION_FORWARDS; i++) {
                double p = 0.5 * (lo + hi);
                WanTransformer model = base.withAttention(WanAttention.defaults().withMode(mode).withTopk(topk)
                        .withTopp(p));
                try {
                    model.forward(x, TIMESTEP, context, 0).close();
                    if (jobSparsity(model) >= targetSparsity) {
                        best = p;
                        lo = p;
                    } else {
                        hi = p;
                    }
                } finally {
                    model.close();
                }
            }
            calibratedTopp.put(mode, best != null ? best : 0.5 * (lo + hi));
        }
    }

    /**
     * @return the mean self-attention sparsity of the model's forwards since its statistics were reset; in a
     *     sequence-parallel job, over every rank's heads (each rank runs the same number of heads, so the mean of the
     *     ranks' means), the same on every rank, so that a calibration takes the same decisions on all of them
     */
    private double jobSparsity(WanTransformer model) {
        double mine = model.stats().meanSparsity();
        if (ranks.comm() == null) {
            return mine;
        }
        return Arrays.stream(HostValues.allGather(ranks.comm(), new double[] {mine})).average().orElseThrow();
    }

    /** Warm-up, then the timed forwards with statistics and memory peaks reset just before them. */
    private ObjectNode timeCase(Plan plan, GemmPrecision precision, MaskMode mode, WanTransformer model, Tensor x,
            Tensor context) {
        for (int i = 0; i < warmup; i++) {
            model.forward(x, TIMESTEP, context, i).close();
        }
        model.stats().reset();
        model.memory().resetPeak();
        List<MemoryPoolMXBean> heap = heapPools();
        heap.forEach(MemoryPoolMXBean::resetPeakUsage);
        long[] step = new long[reps];
        long[] self = new long[reps];
        long[] cross = new long[reps];
        for (int r = 0; r < reps; r++) {
            long selfBefore = model.stats().attentionNanos();
            long crossBefore = model.stats().crossAttentionNanos();
            long start = System.nanoTime();
            model.forward(x, TIMESTEP, context, r).close();
            step[r] = System.nanoTime() - start;
            self[r] = model.stats().attentionNanos() - selfBefore;
            cross[r] = model.stats().crossAttentionNanos() - crossBefore;
        }
        long peakHeap = heap.stream().mapToLong(p -> p.getPeakUsage().getUsed()).sum();
        boolean cpu = plan.backend.equals("cpu");
        double stepMedian = medianMs(step);
        double selfMedian = medianMs(self);

        ObjectNode o = JSON.createObjectNode();
        o.put("bench", "wan-step");
        o.put("config", plan.configName);
        o.put("dim", plan.config.dim());
        o.put("ffn_dim", plan.config.ffnDim());
        o.put("layers", plan.config.numLayers());
        o.put("full_layers", plan.fullLayers);
        o.put("layers_cut", plan.config.numLayers() != plan.fullLayers);
        o.put("heads", plan.config.numHeads());
        o.put("head_dim", plan.config.headDim());
        o.set("video", ints(plan.video));
        o.set("input", ints(plan.input));
        o.put("tokens", tokens(plan));
        o.put("text_len", plan.config.textLen());
        o.put("backend", model.backend());
        o.put("device", deviceName(model));
        // ranks of a sequence-parallel job: times and attention calls are rank 0's; sparsity is every rank's heads'
        // (jobSparsity)
        o.put("world", ranks.comm() == null ? 1 : ranks.comm().worldSize());
        if (cpu) {
            o.put("threads", CpuRuntime.threads());
        }
        o.put("precision", precision.name().toLowerCase(Locale.ROOT));
        o.put("mode", mode.name().toLowerCase(Locale.ROOT));
        putOrNull(o, "topk", mode == MaskMode.TOPK || mode == MaskMode.HYBRID ? topk : null);
        putOrNull(o, "topp", mode == MaskMode.TOPP || mode == MaskMode.HYBRID
                ? calibratedTopp.getOrDefault(mode, topp) : null);
        putOrNull(o, "target_sparsity", targetSparsity != null && calibratedTopp.containsKey(mode)
                ? targetSparsity : null);
        o.put("bq", WanAttention.defaults().queryBlock());
        o.put("bkv", WanAttention.defaults().keyBlock());
        o.put("sparsity", jobSparsity(model));
        o.put("attention_calls", model.stats().calls());
        o.put("warmup", warmup);
        o.put("reps", reps);
        o.put("forwards_per_step", 1);
        o.put("step_ms_median", stepMedian);
        o.put("step_ms_min", Arrays.stream(step).min().orElseThrow() / 1e6);
        o.set("step_ms_all", millis(step));
        o.put("step_ms_cfg", 2 * stepMedian);
        o.put("attention_ms_median", selfMedian);
        o.set("attention_ms_all", millis(self));
        o.put("attention_share", selfMedian / stepMedian);
        o.put("attention_scope", "self-attention: mask selection and attention kernels"
                + (cpu ? "" : ", between two device synchronisations"));
        // The device model does not time cross-attention (it would cost two more synchronisations per block).
        putOrNull(o, "cross_attention_ms_median", cpu ? medianMs(cross) : null);
        o.put("peak_bytes", model.memory().peakBytes());
        o.put("peak_memory", cpu ? "host off-heap tensors" : "device");
        o.put("peak_heap_bytes", peakHeap);
        o.put("seed", seed);
        o.put("date", Instant.now().toString());
        o.put("java", Runtime.version().toString());
        return o;
    }

    /** One line per sparse mode against dense, when dense was timed. */
    private static List<ObjectNode> speedups(List<ObjectNode> cases) {
        ObjectNode dense = cases.stream().filter(c -> c.get("mode").asText().equals("dense")).findFirst()
                .orElse(null);
        List<ObjectNode> lines = new ArrayList<>();
        if (dense == null) {
            return lines;
        }
        for (ObjectNode sparse : cases) {
            if (sparse == dense) {
                continue;
            }
            ObjectNode o = JSON.createObjectNode();
            o.put("bench", "wan-step-speedup");
            for (String key : List.of("config", "layers", "tokens", "backend", "device", "precision")) {
                o.set(key, dense.get(key));
            }
            o.set("sparse_mode", sparse.get("mode"));
            o.set("sparsity", sparse.get("sparsity"));
            double denseAttention = dense.get("attention_ms_median").asDouble();
            double sparseAttention = sparse.get("attention_ms_median").asDouble();
            double denseStep = dense.get("step_ms_median").asDouble();
            double sparseStep = sparse.get("step_ms_median").asDouble();
            o.put("dense_attention_ms", denseAttention);
            o.put("sparse_attention_ms", sparseAttention);
            o.put("dense_step_ms", denseStep);
            o.put("sparse_step_ms", sparseStep);
            o.put("attention_speedup", denseAttention / sparseAttention);
            o.put("step_speedup", denseStep / sparseStep);
            o.put("attention_speedup_target", 12);
            o.put("attention_target_met", denseAttention / sparseAttention >= 12);
            o.set("date", sparse.get("date"));
            lines.add(o);
        }
        return lines;
    }

    // ---------------------------------------------------------------- checking the options

    private Plan plan() throws IOException {
        if (warmup < 0) {
            throw bad("--warmup", Integer.toString(warmup), "0 or more");
        }
        if (reps < 1) {
            throw bad("--reps", Integer.toString(reps), "1 or more");
        }
        if (!(topk > 0 && topk <= 1)) {
            throw bad("--topk", Double.toString(topk), "a fraction in (0, 1]");
        }
        if (!(topp > 0 && topp <= 1)) {
            throw bad("--topp", Double.toString(topp), "a fraction in (0, 1]");
        }
        if (targetSparsity != null && !(targetSparsity > 0 && targetSparsity < 1)) {
            throw bad("--target-sparsity", Double.toString(targetSparsity), "a fraction in (0, 1)");
        }
        List<MaskMode> maskModes = modes();
        String backend = backendFlags.backend == null ? "" : backendFlags.backend.toLowerCase(Locale.ROOT);
        if (!List.of("cpu", "cuda", "opencl", "emulator").contains(backend)) {
            throw bad("--backend", backendFlags.backend, "cpu, cuda, opencl or emulator");
        }
        List<GemmPrecision> precisions = precisions(backend);

        ModelPreset preset = ModelPreset.byLabel(config);
        WanConfig full;
        int[] video;
        if (preset != null) {
            full = preset.config();
            video = new int[] {or(frames, preset.frames()), or(height, preset.height()), or(width, preset.width())};
        } else {
            full = readConfig(config);
            boolean pixels = full.pixelSpace();
            video = new int[] {or(frames, pixels ? 4 : 81), or(height, pixels ? 64 : 480), or(width, pixels ? 64 : 832)};
        }
        if (layers != null && layers < 1) {
            throw bad("--layers", Integer.toString(layers), "1 or more (a cut of the model's "
                    + full.numLayers() + " blocks)");
        }
        WanConfig cut = layers == null ? full : withLayers(full, layers);
        int[] input;
        try {
            input = VideoGeometry.inputShape(cut, video[0], video[1], video[2]);
        } catch (IllegalArgumentException e) {
            throw optionError(e.getMessage());
        }
        if (!backend.equals("cpu") && cut.headDim() != 64 && cut.headDim() != 128) {
            throw bad("--config", config, "head dim 64 or 128 for --backend " + backend + " (this config has dim "
                    + cut.dim() + " / " + cut.numHeads() + " heads = " + cut.headDim() + "); use --backend cpu");
        }
        String name = preset != null ? preset.label() : Path.of(config).getFileName().toString();
        return new Plan(name, cut, full.numLayers(), video, input, backend, precisions, maskModes);
    }

    private List<MaskMode> modes() {
        Set<MaskMode> out = new LinkedHashSet<>();
        for (String m : modes) {
            MaskMode mode = MaskMode.find(m).filter(WanAttention.MODES::contains).orElseThrow(() -> bad("--modes",
                    String.join(",", modes), "a comma list of dense, topk, topp, hybrid ('" + m + "' is none of them)"));
            if (!out.add(mode)) {
                throw bad("--modes", String.join(",", modes), "each mode once");
            }
        }
        return List.copyOf(out);
    }

    private List<GemmPrecision> precisions(String backend) {
        List<GemmPrecision> out = new ArrayList<>();
        for (String p : backendFlags.precision.split(",", -1)) {
            GemmPrecision precision = ModelBackendFlags.precisionNamed(p)
                    .orElseThrow(() -> bad("--precision", p, "f32, bf16 or f16, or a comma list of them"));
            if (out.contains(precision)) {
                throw bad("--precision", backendFlags.precision, "each precision once");
            }
            if (backend.equals("cpu") && precision != GemmPrecision.F32) {
                throw bad("--precision", p, "f32 with --backend cpu (bf16 and f16 GEMMs are for cuda or opencl)");
            }
            out.add(precision);
        }
        return out;
    }

    private WanConfig readConfig(String dir) throws IOException {
        Path file = Path.of(dir).resolve(WanWeights.CONFIG_FILE);
        if (!Files.isRegularFile(file)) {
            throw bad("--config", dir, "tiny-4096, wan-1.3b, wan-14b or a model directory with "
                    + WanWeights.CONFIG_FILE);
        }
        try {
            return WanConfigReader.read(file).config();
        } catch (IllegalArgumentException e) {
            throw bad("--config", dir, "a readable " + WanWeights.CONFIG_FILE + " (" + e.getMessage() + ")");
        }
    }

    private static WanConfig withLayers(WanConfig c, int n) {
        return new WanConfig(c.dim(), c.ffnDim(), c.numHeads(), n, c.inDim(), c.outDim(), c.textDim(), c.textLen(),
                c.freqDim(), c.patchSize(), c.eps(), c.qkNorm(), c.crossAttnNorm(), c.pixelSpace(), c.vaeStride(),
                c.absolutePosition(), c.textModulation());
    }

    private ParameterException bad(String option, String value, String expected) {
        return new ParameterException(spec.commandLine(), "Invalid value for option '" + option + "': got '" + value
                + "', expected " + expected);
    }

    /** VideoGeometry's "--frames: got ..." as the CLI's "Invalid value for option '--frames': got ...". */
    private ParameterException optionError(String message) {
        int colon = message.indexOf(": ");
        if (message.startsWith("--") && colon > 0) {
            return new ParameterException(spec.commandLine(), "Invalid value for option '"
                    + message.substring(0, colon) + "': " + message.substring(colon + 2));
        }
        return new ParameterException(spec.commandLine(), message);
    }

    // ---------------------------------------------------------------- small helpers

    private static int or(Integer given, int fallback) {
        return given == null ? fallback : given;
    }

    private static long tokens(Plan plan) {
        return plan.config.sequenceLength(plan.input[1], plan.input[2], plan.input[3]);
    }

    /** @return the device's name, or the processor's for the CPU */
    private static String deviceName(WanTransformer model) {
        if (model instanceof DeviceWanModel device) {
            return device.session().deviceName();
        }
        String cpu = CpuInfo.read().model();
        return cpu == null || cpu.isBlank() ? System.getProperty("os.arch") : cpu;
    }

    /** Heap pools; the sum of their peaks bounds the heap's high water (pools peak at different times). */
    private static List<MemoryPoolMXBean> heapPools() {
        return ManagementFactory.getMemoryPoolMXBeans().stream().filter(p -> p.getType() == MemoryType.HEAP)
                .filter(MemoryPoolMXBean::isValid).toList();
    }

    private static double medianMs(long[] nanos) {
        long[] sorted = nanos.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        double mid = n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
        return mid / 1e6;
    }

    private static ArrayNode millis(long[] nanos) {
        ArrayNode a = JSON.createArrayNode();
        for (long n : nanos) {
            a.add(n / 1e6);
        }
        return a;
    }

    private static ArrayNode ints(int[] values) {
        ArrayNode a = JSON.createArrayNode();
        for (int v : values) {
            a.add(v);
        }
        return a;
    }

    private static void putOrNull(ObjectNode o, String key, Double value) {
        if (value == null) {
            o.putNull(key);
        } else {
            o.put(key, value);
        }
    }
}
