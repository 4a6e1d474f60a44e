package io.sparge4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.gpu.DeviceSession;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.data.ClipSpec;
import io.sparge4j.models.eval.ClipEvaluation;
import io.sparge4j.models.eval.ClipEvaluator;
import io.sparge4j.models.eval.EvalPrompts;
import io.sparge4j.models.eval.EvaluationSummary;
import io.sparge4j.models.eval.Psnr;
import io.sparge4j.models.eval.SparsityCalibration;
import io.sparge4j.models.eval.VelocityError;
import io.sparge4j.models.pipeline.GenerationDefaults;
import io.sparge4j.models.pipeline.ModelDirectory;
import io.sparge4j.models.pipeline.VideoGeometry;
import io.sparge4j.models.pipeline.WanGenerator;
import io.sparge4j.models.sampling.Noise;
import io.sparge4j.models.sampling.StepListener;
import io.sparge4j.models.train.Losses;
import io.sparge4j.models.train.NoisySample;
import io.sparge4j.models.video.AtomicFiles;
import io.sparge4j.models.video.JsonLinesLog;
import io.sparge4j.models.video.VideoOutput;
import io.sparge4j.models.video.VideoWriters;
import io.sparge4j.models.wan.DeviceWanModel;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanTransformer;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code sparge eval}: a model's sparse attention against its dense teacher on balanced prompts. For each prompt one
 * clip with the model's attention and one with the dense teacher from the same seed, both scored by
 * {@link ClipEvaluator}; the PSNR between them; the achieved sparsity; and the velocity error against the teacher
 * on training-style noisy clips ({@link VelocityError}). Writes one JSON file: settings, per-prompt rows, summary.
 */
@Command(name = "eval",
        description = {"Evaluates a text-to-video model: N balanced prompts, each generated with the model's attention"
                + " and with a dense teacher from the same seed; prompt match (colour, shape, direction), smoothness,"
                + " edge sharpness, background noise, PSNR sparse vs dense, sparsity, and the velocity error against"
                + " the teacher. Writes JSON."})
public final class EvalCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    /** Sampler timestep shift, as generate's default. */
    private static final double SHIFT = 5.0;
    /** GIF samples written with --samples: the first this many prompts. */
    static final int SAMPLE_CLIPS = 4;
    private static final StepListener NO_STEPS = (step, steps, timestep, nanos) -> { };

    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Option(names = "--model", paramLabel = "DIR|tiny-demo", required = true,
            description = "The model directory (with a text encoder), or tiny-demo.")
    private String model;

    @Option(names = "--teacher", paramLabel = "DIR|tiny-demo",
            description = "The dense teacher (default: the same model with dense attention).")
    private String teacher;

    @Option(names = "--target-sparsity", paramLabel = "S",
            description = "Calibrate --topp (topp, hybrid) or --topk (topk) on one noisy clip so that the sparsity is"
                    + " at least S, in (0, 1); costs " + SparsityCalibration.FORWARDS + " forwards.")
    private Double targetSparsity;

    @Option(names = "--prompts", paramLabel = "N", defaultValue = "24",
            description = "Prompts, balanced over colours, shapes and directions (default ${DEFAULT-VALUE}).")
    private int prompts;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "0",
            description = "Seed of the prompts, the noise and the velocity samples (default ${DEFAULT-VALUE}).")
    private long seed;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "50", description = "Denoising steps (default 50).")
    private int steps;

    @Option(names = "--guidance", paramLabel = "G", defaultValue = "5.0",
            description = "Classifier-free guidance against the empty prompt (default ${DEFAULT-VALUE}).")
    private double guidance;

    @Option(names = "--velocity-samples", paramLabel = "M", defaultValue = "8",
            description = "Noisy training-style clips for the velocity error, at levels (j+0.5)/M (default"
                    + " ${DEFAULT-VALUE}).")
    private int velocitySamples;

    @Option(names = "--frames", paramLabel = "N", description = "Clip frames (default: generation.json's, else 16).")
    private Integer frames;

    @Option(names = "--height", paramLabel = "PX", description = "Clip height (default: generation.json's, else 32).")
    private Integer height;

    @Option(names = "--width", paramLabel = "PX", description = "Clip width (default: generation.json's, else 32).")
    private Integer width;

    @Option(names = "--samples", paramLabel = "DIR",
            description = "Also write GIFs of the first " + SAMPLE_CLIPS + " prompts (sparse and dense) here.")
    private Path samples;

    @Option(names = "--out", paramLabel = "FILE.json", required = true, description = "The JSON report (atomic).")
    private Path out;

    @Option(names = "--log", paramLabel = "FILE.jsonl",
            description = "The JSON-lines log, a line per prompt as it finishes (its sparsity, PSNR, verdicts, time"
                    + " and tokens/s) and per velocity sample (default: --out with .jsonl for .json).")
    private Path log;

    @Mixin
    private ModelBackendFlags backend;

    @Mixin
    private WanAttentionFlags attention;

    /** Picocli creates it. */
    public EvalCommand() {
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter w = spec.commandLine().getOut();
        backend.gemmPrecision();
        attention.settings();
        if (prompts < 1) {
            throw new IllegalArgumentException("--prompts: got " + prompts + ", expected at least 1");
        }
        if (steps < 1) {
            throw new IllegalArgumentException("--steps: got " + steps + ", expected at least 1");
        }
        VelocityError.checkCount(velocitySamples);   // before the prompts are generated, not after
        if (targetSparsity != null && !(targetSparsity > 0 && targetSparsity < 1)) {
            throw new IllegalArgumentException("--target-sparsity: got " + targetSparsity
                    + ", expected a fraction in (0, 1)");
        }
        OutputPaths.existingParent("--out", out);
        Path logFile = log != null ? log : defaultLog(out);
        OutputPaths.existingParent("--log", logFile);
        if (logFile.toAbsolutePath().equals(out.toAbsolutePath())) {
            throw new IllegalArgumentException("--log: " + logFile + " is the --out report, expected another file");
        }
        if (samples != null) {
            Files.createDirectories(samples);
        }
        try (ModelDirectory student = ModelSource.open("--model", model, w, backend.loadPrecision());
             ModelDirectory teacherDir = teacher == null ? null
                     : ModelSource.open("--teacher", teacher, w, backend.loadPrecision())) {
            if (student.textEncoder() == null) {
                throw new IllegalArgumentException("--model: " + model + " has no text encoder, expected a model"
                        + " directory written by 'sparge pretrain|finetune|export' (eval draws text prompts)");
            }
            WanConfig config = student.config();
            if (teacherDir != null && !teacherDir.config().equals(config)) {
                throw new IllegalArgumentException("--teacher: its config " + teacherDir.config()
                        + " differs from the model's " + config + ", expected the same architecture");
            }
            GenerationDefaults g = student.generationOrDefault();
            int f = frames != null ? frames : g.frames();
            int h = height != null ? height : g.height();
            int wd = width != null ? width : g.width();
            WanAttention settings = AttentionDefaults.resolve(spec.commandLine().getParseResult(), attention,
                    student.generation());
            ClipGenerator data = new ClipGenerator(seed, ClipSpec.of(f, h, wd));
            try (DeviceSession session = openSession();
                 WanTransformer base = open(session, config, student.weights(), settings);
                 WanTransformer dense = teacherDir == null ? base.withAttention(WanAttention.dense())
                         : open(session, config, teacherDir.weights(), WanAttention.dense())) {
                WanTransformer sparse = base;
                if (targetSparsity != null) {
                    settings = calibrate(base, settings, data, student);
                    sparse = base.withAttention(settings);
                    w.printf(Locale.ROOT, "calibrated to sparsity %.3f: topk %.4f, topp %.4f%n", targetSparsity,
                            settings.topk(), settings.topp());
                }
                Map<String, Object> report;
                try (JsonLinesLog progressLog = JsonLinesLog.open(logFile, List.of())) {
                    report = evaluate(student, sparse, dense, settings, f, h, wd, data, progressLog);
                }
                AtomicFiles.write(out, tmp -> JSON.writeValue(tmp.toFile(), report));
                @SuppressWarnings("unchecked")
                Map<String, Object> summary = (Map<String, Object>) report.get("summary");
                w.println("wrote " + out + " (log " + logFile + ")");
                w.println(JSON.writeValueAsString(summary));
                if (sparse != base) {
                    sparse.close();
                }
            }
        }
        w.flush();
        return 0;
    }

    private Map<String, Object> evaluate(ModelDirectory student, WanTransformer sparse, WanTransformer dense,
            WanAttention settings, int f, int h, int wd, ClipGenerator data, JsonLinesLog progressLog)
            throws Exception {
        WanConfig config = student.config();
        List<String> texts = EvalPrompts.balanced(prompts, seed);
        ClipEvaluator evaluator = new ClipEvaluator();
        List<Map<String, Object>> rows = new ArrayList<>();
        List<ClipEvaluation> sparseEvals = new ArrayList<>();
        List<ClipEvaluation> denseEvals = new ArrayList<>();
        double psnrSum = 0;
        int psnrFinite = 0;
        double sparsitySum = 0;
        int sparseCorrect = 0;
        int[] input = VideoGeometry.inputShape(config, f, h, wd);
        long tokens = config.sequenceLength(input[1], input[2], input[3]);
        try (Tensor empty = student.context("", "--model");
             ProgressBar bar = new ProgressBarBuilder().setTaskName("eval").setInitialMax(prompts)
                     .setConsumer(new ConsoleProgressBarConsumer(System.err)).build()) {
            for (int i = 0; i < prompts; i++) {
                String prompt = texts.get(i);
                long clipSeed = seed + i;
                WanGenerator.Settings run = new WanGenerator.Settings(f, h, wd, steps, guidance, SHIFT, clipSeed,
                        WanGenerator.SamplerKind.UNIPC);
                try (Tensor context = student.context(prompt, "--model")) {
                    long t0 = System.nanoTime();
                    WanGenerator.Result s = new WanGenerator(sparse).generate(context, empty, run, NO_STEPS);
                    long t1 = System.nanoTime();
                    WanGenerator.Result d = new WanGenerator(dense).generate(context, empty, run, NO_STEPS);
                    long t2 = System.nanoTime();
                    double sparseSeconds = (t1 - t0) / 1e9;
                    double tokensPerSecond = tokens * steps / sparseSeconds;
                    try (Tensor sv = s.video(); Tensor dv = d.video()) {
                        ClipEvaluation se = evaluator.evaluate(sv, prompt);
                        ClipEvaluation de = evaluator.evaluate(dv, prompt);
                        double psnr = Psnr.of(sv, dv);
                        sparseEvals.add(se);
                        denseEvals.add(de);
                        if (Double.isFinite(psnr)) {
                            psnrSum += psnr;
                            psnrFinite++;
                        }
                        sparsitySum += s.sparsity();
                        Map<String, Object> row = new LinkedHashMap<>();
                        row.put("prompt", prompt);
                        row.put("seed", clipSeed);
                        row.put("sparsity", s.sparsity());
                        row.put("psnr_db", Double.isFinite(psnr) ? psnr : null);
                        row.put("sparse", se.toJsonMap());
                        row.put("dense", de.toJsonMap());
                        rows.add(row);
                        sparseCorrect += se.allCorrect() ? 1 : 0;
                        progressLog.write(promptLine(i, prompt, clipSeed, s.sparsity(), psnr, se, de, sparseSeconds,
                                (t2 - t1) / 1e9, tokensPerSecond, (double) sparseCorrect / (i + 1)));
                        if (samples != null && i < SAMPLE_CLIPS) {
                            String name = String.format(Locale.ROOT, "%02d-", i);
                            VideoWriters.write(sv, config.pixelSpace(),
                                    VideoOutput.of(samples.resolve(name + "sparse.gif"), 8));
                            VideoWriters.write(dv, config.pixelSpace(),
                                    VideoOutput.of(samples.resolve(name + "dense.gif"), 8));
                        }
                    }
                    bar.step();
                    bar.setExtraMessage(String.format(Locale.ROOT, "sparsity %.3f, mean PSNR %.1f dB, all correct"
                            + " %.3f, %.2f s/clip, %.0f tokens/s", s.sparsity(),
                            psnrFinite == 0 ? Double.POSITIVE_INFINITY : psnrSum / psnrFinite,
                            (double) sparseCorrect / (i + 1), sparseSeconds, tokensPerSecond));
                }
            }
        }
        VelocityError.Result velocity = VelocityError.measure(sparse, dense, data,
                caption -> student.context(caption, "--model"), velocitySamples, seed ^ 0x5EED, guidance);

        Map<String, Object> settingsJson = new LinkedHashMap<>();
        settingsJson.put("model", model);
        settingsJson.put("teacher", teacher == null ? "the model, dense attention" : teacher);
        settingsJson.put("attention", attentionJson(settings));
        settingsJson.put("target_sparsity", targetSparsity);
        settingsJson.put("prompts", prompts);
        settingsJson.put("seed", seed);
        settingsJson.put("steps", steps);
        settingsJson.put("guidance", guidance);
        settingsJson.put("shift", SHIFT);
        settingsJson.put("sampler", "unipc");
        settingsJson.put("frames", f);
        settingsJson.put("height", h);
        settingsJson.put("width", wd);
        settingsJson.put("velocity_samples", velocitySamples);
        settingsJson.put("backend", sparse.backend());

        List<Map<String, Object>> velocityRows = new ArrayList<>();
        for (VelocityError.Sample v : velocity.samples()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("noise_level", v.level());
            m.put("timestep", v.timestep());
            m.put("caption", v.caption());
            m.put("relative_error", v.relativeError());
            m.put("guided_relative_error", v.guidedRelativeError());
            velocityRows.add(m);
            Map<String, Object> line = new LinkedHashMap<>();
            line.put("velocity_sample", velocityRows.size() - 1);
            line.putAll(m);
            progressLog.write(line);
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("sparse", EvaluationSummary.of(sparseEvals).toJsonMap());
        summary.put("dense", EvaluationSummary.of(denseEvals).toJsonMap());
        summary.put("psnr_db_mean", psnrFinite == 0 ? null : psnrSum / psnrFinite);
        summary.put("identical_clips", prompts - psnrFinite);
        summary.put("sparsity_mean", sparsitySum / prompts);
        summary.put("velocity_relative_error", velocity.mean());
        // the same for the velocities sampling uses (guidance applied): what a noisy sparse sample reflects
        summary.put("velocity_relative_error_guided", velocity.guidedMean());

        Map<String, Object> report = new LinkedHashMap<>();
        report.put("settings", settingsJson);
        report.put("rows", rows);
        report.put("velocity_error", velocityRows);
        report.put("summary", summary);
        return report;
    }

    /** One prompt's line of the log: what the report's row holds, less the per-attribute detail, plus its time. */
    private Map<String, Object> promptLine(int index, String prompt, long clipSeed, double sparsity, double psnr,
            ClipEvaluation sparse, ClipEvaluation dense, double sparseSeconds, double denseSeconds,
            double tokensPerSecond, double allCorrectSoFar) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("prompt_index", index);
        line.put("prompts", prompts);
        line.put("prompt", prompt);
        line.put("seed", clipSeed);
        line.put("sparsity", sparsity);
        line.put("psnr_db", Double.isFinite(psnr) ? psnr : null);
        line.put("sparse_all_correct", sparse.allCorrect());
        line.put("dense_all_correct", dense.allCorrect());
        line.put("sparse_all_correct_rate_so_far", allCorrectSoFar);
        line.put("sparse_seconds", sparseSeconds);
        line.put("dense_seconds", denseSeconds);
        // denoising steps x the clip's tokens per second of the sparse sampling (each step runs the model twice,
        // with and without the caption, as training's tokens/s counts one forward and backward per clip)
        line.put("tokens_per_s", tokensPerSecond);
        return line;
    }

    /** --out with .jsonl for a final .json, else with .jsonl appended. */
    static Path defaultLog(Path report) {
        String name = report.getFileName().toString();
        String logName = name.endsWith(".json") ? name + "l" : name + ".jsonl";
        return report.resolveSibling(logName);
    }

    /** Calibrates on the first velocity sample's input (a noisy clip at level 0.5 with its caption). */
    private WanAttention calibrate(WanTransformer base, WanAttention settings, ClipGenerator data,
            ModelDirectory student) {
        var clip = data.clip(0);
        try (Tensor x0 = clip.video();
             Tensor noise = Noise.gaussian(seed, x0.shape());
             Tensor context = student.context(clip.caption(), "--model")) {
            NoisySample noisy = Losses.noisy(x0, noise, 0.5);
            try (Tensor xt = noisy.xt()) {
                return SparsityCalibration.calibrate(base, settings, targetSparsity, xt, noisy.timestep(), context);
            }
        }
    }

    private static Map<String, Object> attentionJson(WanAttention a) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("mode", a.mode().toString().toLowerCase(Locale.ROOT));
        m.put("topk", a.topk());
        m.put("topp", a.topp());
        m.put("query_block", a.queryBlock());
        m.put("key_block", a.keyBlock());
        m.put("dense_layers", a.denseLayers());
        m.put("dense_steps", a.denseSteps());
        return m;
    }

    /** A device session when --device picks one on cuda or opencl; null otherwise (the model opens its own). */
    private DeviceSession openSession() {
        BackendSelection where = backend.selection();
        return where == null || where.device() == null ? null : DeviceSession.open(where);
    }

    private WanTransformer open(DeviceSession session, WanConfig config, Map<String, Tensor> weights,
            WanAttention settings) {
        if (session == null) {
            return backend.open(config, weights, settings);
        }
        return new DeviceWanModel(session, config, weights, settings, backend.gemmPrecision());
    }
}
