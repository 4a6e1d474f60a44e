package io.sparge4j.cli;

import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.gpu.DeviceSession;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.pipeline.GenerationDefaults;
import io.sparge4j.models.pipeline.ModelDirectory;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.train.ShardedTrainer;
import io.sparge4j.models.train.TrainingObjective;
import io.sparge4j.models.train.WanGraph;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code sparge finetune}: sparse-attention fine-tuning of a trained model directory, by velocity distillation from
 * a frozen dense copy (SpargeAttention2) or by the flow-matching loss; the text encoder stays frozen.
 */
@Command(name = "finetune",
        description = {"Fine-tunes a model directory (from sparge pretrain) with sparse self-attention: --objective"
                + " distill matches a frozen dense copy's velocity (SpargeAttention2), flow uses the flow-matching"
                + " loss."
                + " The text encoder is frozen. --target-sparsity calibrates k (topk) or p (topp, hybrid) once on the"
                + " first training samples. Writes DIR/run.json, DIR/train.jsonl, DIR/checkpoints/ and DIR/model/ as"
                + " sparge pretrain does; the chosen k and p go into every log line and DIR/model/generation.json."})
public final class FinetuneCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Mixin
    private TrainingFlags flags;

    @Option(names = "--init", paramLabel = "MODEL_DIR|tiny-demo",
            description = "The model directory to start from, or tiny-demo (required unless --resume).")
    private String init;

    @Option(names = "--objective", paramLabel = "distill|flow", defaultValue = "distill",
            description = "Velocity distillation from a frozen dense copy, or the flow-matching loss (default"
                    + " ${DEFAULT-VALUE}).")
    private String objective;

    @Option(names = "--teacher", paramLabel = "MODEL_DIR|tiny-demo",
            description = "distill: the frozen dense teacher (default: --init itself), e.g. the model a distilled"
                    + " --init came from; its config and text encoder must be --init's.")
    private String teacher;

    @Option(names = "--distill-guidance", paramLabel = "G",
            description = "distill: 0 (the default, the paper's loss) matches the student's velocity to the teacher's"
                    + " for the clip's caption; G above 0 matches their classifier-free-guided velocities at scale G"
                    + " (e.g. 5, generate's default), v(empty) + G (v(caption) - v(empty)), so that the two branches"
                    + " the sampler combines err together as little as possible; twice the work a step.")
    private Double distillGuidance;

    @Option(names = "--attention", paramLabel = "hybrid|topk|topp|dense", defaultValue = "hybrid",
            description = "The student's self-attention (default ${DEFAULT-VALUE}); blocks 128 x 64.")
    private String attention;

    @Option(names = "--topk", paramLabel = "K", description = "Top-k fraction of key blocks in (0, 1] (default 0.03).")
    private Double topk;

    @Option(names = "--topp", paramLabel = "P", description = "Top-p pooled-mass threshold in (0, 1] (default 0.2).")
    private Double topp;

    @Option(names = "--late-topk", paramLabel = "K",
            description = "Train the student with another Top-k fraction, in (0, 1], for clips at noise levels at or"
                    + " below --late-noise-level, as it will be sampled with it (generate's --late-topk; the model's"
                    + " generation.json records it). Top-k and hybrid only.")
    private Double lateTopk;

    @Option(names = "--late-noise-level", paramLabel = "S",
            description = "With --late-topk: the noise level (timestep / 1000) at and below which it applies (default "
                    + WanAttention.DEFAULT_LATE_NOISE_LEVEL + ": the last 8 of 20 steps at shift 5).")
    private Double lateNoiseLevel;

    @Option(names = "--target-sparsity", paramLabel = "S",
            description = "Calibrate k (topk) or p (topp, hybrid; k kept) to this mean sparsity, in (0, 1).")
    private Double targetSparsity;

    @Override
    public Integer call() throws Exception {
        BackendSelection backend = flags.backend(spec);
        Start start = flags.resume ? resumed() : fresh();
        try (ModelDirectory model = start.model();
             JobRanks ranks = JobRanks.open(SpargeCli.environment(spec), backend, flags.device)) {
            train(start.settings(), model, ranks);
        }
        return 0;
    }

    /** The run's settings and the model it starts from (the text encoder present, the DiT in f32). */
    private record Start(RunSettings settings, ModelDirectory model) {
    }

    private void train(RunSettings settings, ModelDirectory model, JobRanks ranks) throws IOException {
        PrintWriter err = spec.commandLine().getErr();
        WanConfig config = model.config();
        Map<String, Tensor> params = model.weights();
        TextEncoder text = model.textEncoder();
        ClipGenerator data = TrainingRun.clips(settings);
        TrainingObjective obj = TrainingObjective.parse("--objective", settings.objective());
        WanAttention att = WanAttention.defaults().withMode(MaskMode.parse(settings.attention())).withTopk(settings.topk())
                .withTopp(settings.topp());
        RunSettings.LateTopk late = settings.late();
        // before anything is written: a --teacher that does not fit fails here
        // a fully sharded job frees the student's whole blocks once sharded and never writes into them (both training
        // tasks release them), so a teacher that starts as the student can share those tensors: half the host memory
        // at the start (the 14B model: 56 GB a rank instead of 112)
        boolean fullShard = ranks.comm() != null && settings.strategy() == ShardedTrainer.Strategy.FULL_SHARD;
        Map<String, Tensor> teacherParams = obj == TrainingObjective.DISTILL
                ? teacherWeights(settings, model, fullShard) : null;
        if (!flags.resume) {
            TrainingRun.checkFresh(flags.out);
            if (settings.targetSparsity() != null) {
                WanGraph probe = new WanGraph(config, params, att, false);
                MaskCalibration.Result c = MaskCalibration.calibrate(probe, text, data, settings,
                        settings.targetSparsity());
                att = c.attention();   // calibrated at the trained k; the late k is the user's
                settings = settings.withMask(att.topk(), att.topp());
                if (ranks.leader()) {
                    err.printf(Locale.ROOT, "sparge: calibrated %s to sparsity %.4f (target %.4f): topk %.6g topp"
                            + " %.6g%n", att.mode(), c.sparsity(), settings.targetSparsity(), att.topk(), att.topp());
                    err.flush();
                }
            }
        }
        if (ranks.leader()) {
            settings.save(flags.out);
        }
        if (late != null) {
            att = att.withLateTopk(late.topk(), late.noiseLevel());   // per clip, at its noise level
        }
        WanGraph student = new WanGraph(config, params, att, settings.checkpointBlocks());
        WanGraph teacher = teacherParams == null ? null
                : new WanGraph(config, teacherParams, WanAttention.dense(), false);
        GenerationDefaults trained = new GenerationDefaults(settings.frames(), settings.height(), settings.width(),
                att, obj.word(), 0);
        TrainingRun.ModelWriter writer = TrainingRun.modelWriter(config, params, text, trained,
                model.generationOrDefault().stepsTrained(), TrainingRun.priorClips(model), settings);
        Map<String, Double> maskMetrics = new LinkedHashMap<>();
        maskMetrics.put("topk", att.topk());
        maskMetrics.put("topp", att.topp());
        try (DeviceSession session = TrainingTasks.session(ranks.backend());
             TrainingTasks.Opened task = TrainingTasks.open(obj, student, teacher, text, data, settings, session)) {
            if (task.device() != null && !fullShard) {
                task.device().releaseTeacherHostCopy();   // on the device for good: only full sharding reads it again
            }
            long steps = TrainingRun.run(flags.out, settings, TrainingRun.withMetrics(task.task(), maskMetrics),
                    flags.resume, writer, err, ranks.comm());
            if (ranks.leader()) {
                spec.commandLine().getOut().println(flags.out.resolve(TrainingRun.MODEL) + " (" + steps + " steps)");
            }
        } finally {
            if (teacher != null) {
                teacher.parameters().values().forEach(Tensor::close);
            }
        }
    }

    private Start resumed() throws IOException {
        RunSettings saved = flags.resumed(spec, "finetune");
        return new Start(saved, InitModel.load(saved.init(), spec.commandLine().getErr()));
    }

    /** Checks the flags, then loads {@code --init} (its config and generation.json give the shape and clip size). */
    private Start fresh() throws IOException {
        if (init == null) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "Missing required option: '--init=MODEL_DIR' (the model directory to fine-tune; only --resume"
                            + " goes without it)");
        }
        TrainingObjective obj;
        try {
            obj = TrainingObjective.parse("--objective", objective);
        } catch (IllegalArgumentException e) {
            throw TrainingFlags.invalid(spec, "--objective", "'" + objective + "'", "distill or flow");
        }
        TrainingFlags.check(spec, obj != TrainingObjective.PRETRAIN, "--objective", "'" + objective + "'",
                "distill or flow (use sparge pretrain to pretrain)");
        MaskMode mode = SparseFlags.parseMode(spec, "--attention", attention,
                EnumSet.of(MaskMode.DENSE, MaskMode.TOPK, MaskMode.TOPP, MaskMode.HYBRID));
        double k = topk == null ? 0.03 : topk;
        double p = topp == null ? 0.2 : topp;
        TrainingFlags.check(spec, k > 0 && k <= 1, "--topk", k, "a fraction in (0, 1]");
        TrainingFlags.check(spec, p > 0 && p <= 1, "--topp", p, "a fraction in (0, 1]");
        if (targetSparsity != null) {
            TrainingFlags.check(spec, targetSparsity > 0 && targetSparsity < 1, "--target-sparsity", targetSparsity,
                    "a fraction in (0, 1)");
            TrainingFlags.check(spec, mode != MaskMode.DENSE, "--target-sparsity", targetSparsity,
                    "no value with --attention dense (nothing to calibrate)");
        }
        TrainingFlags.check(spec, lateTopk == null || lateTopk > 0 && lateTopk <= 1, "--late-topk", lateTopk,
                "a fraction in (0, 1]");
        TrainingFlags.check(spec, lateTopk == null || mode == MaskMode.TOPK || mode == MaskMode.HYBRID, "--late-topk",
                lateTopk, "none with --attention " + attention + " (no Top-k to change)");
        TrainingFlags.check(spec, lateNoiseLevel == null || lateTopk != null, "--late-noise-level", lateNoiseLevel,
                "none without --late-topk");
        double level = lateNoiseLevel == null ? WanAttention.DEFAULT_LATE_NOISE_LEVEL : lateNoiseLevel;
        TrainingFlags.check(spec, level >= 0 && level <= 1, "--late-noise-level", level, "a noise level in [0, 1]");
        TrainingFlags.check(spec, teacher == null || obj == TrainingObjective.DISTILL, "--teacher", "'" + teacher + "'",
                "none with --objective " + objective + " (only distillation has a teacher)");
        double guidance = distillGuidance == null ? 0 : distillGuidance;
        TrainingFlags.check(spec, guidance >= 0 && Double.isFinite(guidance), "--distill-guidance", guidance,
                "0 (off) or a finite guidance scale above 0");
        TrainingFlags.check(spec, guidance == 0 || obj == TrainingObjective.DISTILL, "--distill-guidance", guidance,
                "none with --objective " + objective + " (only distillation has a teacher)");
        ModelDirectory model = InitModel.load(init, spec.commandLine().getErr());
        try {
            WanConfig config = model.config();
            GenerationDefaults gen = model.generationOrDefault();
            RunSettings s = flags.settings(spec, "finetune", 1e-4, gen.frames(), gen.height(), gen.width());
            return new Start(s.withModel(config.dim(), config.numLayers(), config.numHeads(), config.ffnDim(),
                    config.textDim(), model.textEncoder().config().layers(), InitModel.recorded(init),
                    obj.word(),
                    mode.toString().toLowerCase(Locale.ROOT), k, p, targetSparsity)
                    .withDistillation(teacher == null ? null : InitModel.recorded(teacher), guidance)
                    .withLate(lateTopk == null ? null : new RunSettings.LateTopk(lateTopk, level))
                    .withAbsolutePosition(config.absolutePosition())   // recorded; the model's config rules
                    .withTextModulation(config.textModulation()), model);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /**
     * The dense teacher's weights: a copy of the student's start, or those of the run's {@code teacher} model, whose
     * DiT config and text encoder must equal the student's (the student's text features feed both).
     *
     * @param shareBlocks whether a teacher that is the student's start takes the student's very block tensors (only
     *     where the student's blocks are never updated in place: a fully sharded run that releases them)
     */
    private Map<String, Tensor> teacherWeights(RunSettings settings, ModelDirectory student, boolean shareBlocks)
            throws IOException {
        if (settings.teacher() == null) {
            Map<String, Tensor> c = new LinkedHashMap<>();
            student.weights().forEach((k, v) -> c.put(k, shareBlocks && WanGraph.blockOf(k) >= 0 ? v : v.copy()));
            return c;
        }
        ModelDirectory t = InitModel.load("--teacher", settings.teacher(), spec.commandLine().getErr());
        try {
            if (!t.config().equals(student.config())) {
                throw new IllegalArgumentException("--teacher: " + settings.teacher() + " has config " + t.config()
                        + ", expected --init's " + student.config());
            }
            Map<String, Tensor> mine = student.textEncoder().parameters();
            for (Map.Entry<String, Tensor> e : t.textEncoder().parameters().entrySet()) {
                Tensor other = mine.get(e.getKey());
                if (other == null || !Arrays.equals(other.toFloatArray(), e.getValue().toFloatArray())) {
                    throw new IllegalArgumentException("--teacher: " + settings.teacher() + "'s text encoder differs"
                            + " from --init's at " + e.getKey() + ", expected the same encoder (the student's text"
                            + " features feed the teacher too): distil from the model --init was fine-tuned from");
                }
            }
            // not copied: the run closes them when it ends (an f32 teacher stays in its copy-on-write mapping); its
            // text encoder, equal to the student's, is left to the collector
            return t.weights();
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
    }
}
