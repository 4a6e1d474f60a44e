package io.sparge4j.cli;

import io.sparge4j.engine.gpu.DeviceSession;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.Captions;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.pipeline.GenerationDefaults;
import io.sparge4j.models.pipeline.ModelDirectory;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.text.TextEncoderConfig;
import io.sparge4j.models.text.WordTokenizer;
import io.sparge4j.models.train.TrainingObjective;
import io.sparge4j.models.train.WanGraph;
import io.sparge4j.models.train.WanInit;
import io.sparge4j.models.wan.AbsolutePosition;
import io.sparge4j.models.wan.TextModulation;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code sparge pretrain}: trains a small pixel-space Wan DiT and its text encoder from scratch on procedural clips
 * (flow matching, dense attention, caption dropout), writing checkpoints, a JSON-lines log and a model directory.
 */
@Command(name = "pretrain",
        description = {"Pretrains a small pixel-space Wan2.1 DiT (patch 1x2x2, dense attention) and a word-level text"
                + " encoder jointly on procedural clips of coloured shapes with the flow-matching loss. Writes"
                + " DIR/run.json, DIR/train.jsonl (one JSON object per step), DIR/checkpoints/ (exact --resume) and"
                + " DIR/model/ (a model directory: config.json, diffusion_pytorch_model.safetensors, text_encoder.*,"
                + " vocabulary.json, generation.json), rewritten at every checkpoint. Defaults: the tiny-demo recipe"
                + " (16 frames of 32x32 = 4096 tokens, dim 128, 4 layers, 2 heads of 64, ffn 512)."})
public final class PretrainCommand implements Callable<Integer> {
    /** Tokens per prompt (the DiT's text_len): a caption is at most 9 words and the end token. */
    static final int TEXT_LENGTH = 16;
    /** Wan's sinusoidal time-embedding width. */
    static final int FREQ_DIM = 256;

    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Mixin
    private TrainingFlags flags;

    @Option(names = "--dim", paramLabel = "N", description = "DiT width (default 128).")
    private Integer dim;

    @Option(names = "--layers", paramLabel = "N", description = "DiT blocks (default 4).")
    private Integer layers;

    @Option(names = "--heads", paramLabel = "N",
            description = "DiT attention heads (default 2; the GPU kernels need dim / heads = 64 or 128).")
    private Integer heads;

    @Option(names = "--ffn-dim", paramLabel = "N", description = "DiT feed-forward width (default 512).")
    private Integer ffnDim;

    @Option(names = "--text-width", paramLabel = "W",
            description = "Text encoder width, also the DiT's text_dim (default 64).")
    private Integer textWidth;

    @Option(names = "--text-layers", paramLabel = "L", description = "Text encoder layers (default 2).")
    private Integer textLayers;

    @Option(names = "--init", paramLabel = "MODEL_DIR|tiny-demo",
            description = "Continue pretraining a model directory (or tiny-demo) with a new schedule: the DiT and its"
                    + " text encoder are trained jointly from those weights; the shape comes from the model, so"
                    + " --dim, --layers, --heads, --ffn-dim, --text-width and --text-layers are refused.")
    private String init;

    @Option(names = "--fresh-text-encoder",
            description = "With --init: keep the model's DiT but start its text encoder afresh (the model's shape,"
                    + " seeded by --seed), e.g. when the encoder has merged words the DiT never learnt to read"
                    + " ('sparge caption-sensitivity' shows how far a word moves the text features).")
    private boolean freshTextEncoder;

    @Option(names = "--absolute-position", paramLabel = "none|sincos",
            description = "An experiment, not Wan2.1: add DiT's fixed sine-cosine position embedding over frames, rows"
                    + " and columns to the tokens after the patch embedding (sincos), or not (none, Wan's own"
                    + " architecture; the default, or the --init model's). Saved in the model's config.json.")
    private String absolutePosition;

    @Option(names = "--text-modulation", paramLabel = "none|pooled",
            description = "An experiment, not Wan2.1: also add the mean of the embedded caption rows to the time"
                    + " embedding, so that the caption modulates every block as a class label does in DiT (pooled),"
                    + " or not (none, Wan's own architecture: cross-attention only; the default, or the --init"
                    + " model's). No new parameters. Saved in the model's config.json.")
    private String textModulation;

    @Override
    public Integer call() throws Exception {
        BackendSelection backend = flags.backend(spec);
        RunSettings resumed = flags.resume ? flags.resumed(spec, "pretrain") : null;
        try (JobRanks ranks = JobRanks.open(SpargeCli.environment(spec), backend, flags.device)) {
            return call(ranks, resumed);
        }
    }

    private Integer call(JobRanks ranks, RunSettings resumed) throws Exception {
        PrintWriter err = spec.commandLine().getErr();
        String startFrom = resumed != null ? resumed.init() : init;
        if (resumed == null && init != null) {
            refuseShapeFlags();
        }
        TrainingFlags.check(spec, !freshTextEncoder || init != null || resumed != null, "--fresh-text-encoder",
                "given", "--init as well (without it the whole model starts afresh)");
        // the --init model is loaded once: it gives the settings of a new run and the weights of every run
        try (ModelDirectory start = startFrom == null ? null : InitModel.load(startFrom, err)) {
            RunSettings settings = resumed != null ? resumed
                    : start != null ? fromInit(start).withFreshTextEncoder(freshTextEncoder) : fresh();
            if (!flags.resume) {
                TrainingRun.checkFresh(flags.out);
            }
            if (ranks.leader()) {
                settings.save(flags.out);
            }
            train(settings, start, ranks, err);
        }
        return 0;
    }

    /** From the initialisation of the run's seed, or from {@code start} (--init), whose steps count on. */
    private void train(RunSettings settings, ModelDirectory start, JobRanks ranks, PrintWriter err)
            throws java.io.IOException {
        WanConfig config = (start == null ? config(settings) : start.config())
                .withAbsolutePosition(AbsolutePosition.parse(settings.absolutePosition()))
                .withTextModulation(TextModulation.parse(settings.textModulation()));
        // a resumed run restores the encoder from its checkpoint; the choice only sets the starting point
        TextEncoder text = start == null || settings.freshTextEncoder() ? textEncoder(settings, config)
                : start.textEncoder();
        Map<String, Tensor> params = start == null ? WanInit.pretraining(config, settings.seed()) : start.weights();
        long priorSteps = start == null ? 0 : start.generationOrDefault().stepsTrained();
        ClipGenerator data = TrainingRun.clips(settings);
        WanGraph student = new WanGraph(config, params, WanAttention.dense(), settings.checkpointBlocks());
        GenerationDefaults trained = new GenerationDefaults(settings.frames(), settings.height(), settings.width(),
                WanAttention.dense(), TrainingObjective.PRETRAIN.word(), 0);
        TrainingRun.ModelWriter writer = TrainingRun.modelWriter(config, params, text, trained, priorSteps,
                start == null ? Long.valueOf(0) : TrainingRun.priorClips(start), settings);
        try (DeviceSession session = TrainingTasks.session(ranks.backend())) {
            try (TrainingTasks.Opened task = TrainingTasks.open(TrainingObjective.PRETRAIN, student, null, text, data,
                    settings, session)) {
                long steps = TrainingRun.run(flags.out, settings, task.task(), flags.resume, writer, err,
                        ranks.comm());
                if (ranks.leader()) {
                    spec.commandLine().getOut().println(flags.out.resolve(TrainingRun.MODEL) + " (" + steps
                            + " steps)");
                }
            }
        }
    }

    /** Settings for a run from scratch: the tiny-demo recipe unless the shape flags say otherwise. */
    private RunSettings fresh() {
        RunSettings s = flags.settings(spec, "pretrain", 1e-3, 16, 32, 32);
        int d = dim == null ? 128 : dim;
        int l = layers == null ? 4 : layers;
        int h = heads == null ? 2 : heads;
        int f = ffnDim == null ? 4 * d : ffnDim;
        int tw = textWidth == null ? 64 : textWidth;
        int tl = textLayers == null ? 2 : textLayers;
        TrainingFlags.check(spec, d >= 1, "--dim", d, "a whole number of at least 1");
        TrainingFlags.check(spec, l >= 1, "--layers", l, "a whole number of at least 1");
        TrainingFlags.check(spec, h >= 1 && d % h == 0, "--heads", h, "a divisor of --dim " + d);
        TrainingFlags.check(spec, f >= 1, "--ffn-dim", f, "a whole number of at least 1");
        TrainingFlags.check(spec, tw >= 1, "--text-width", tw, "a whole number of at least 1");
        TrainingFlags.check(spec, tl >= 1, "--text-layers", tl, "a whole number of at least 1");
        return s.withModel(d, l, h, f, tw, tl, null, TrainingObjective.PRETRAIN.word(), "dense",
                WanAttention.dense().topk(), WanAttention.dense().topp(), null)
                .withAbsolutePosition(absolutePosition(AbsolutePosition.NONE, d))
                .withTextModulation(textModulation(TextModulation.NONE));
    }

    /** With --init the shape comes from the model: the shape flags would contradict it. */
    private void refuseShapeFlags() {
        String[] names = {"--dim", "--layers", "--heads", "--ffn-dim", "--text-width", "--text-layers"};
        Integer[] values = {dim, layers, heads, ffnDim, textWidth, textLayers};
        for (int i = 0; i < names.length; i++) {
            TrainingFlags.check(spec, values[i] == null, names[i], values[i],
                    "no value with --init (the shape comes from " + init + ")");
        }
    }

    /** Settings for a new run from --init: the model's shape and clip size. */
    private RunSettings fromInit(ModelDirectory model) {
        WanConfig c = model.config();
        TrainingFlags.check(spec, c.pixelSpace() && c.inDim() == 3 && c.outDim() == 3, "--init", "'" + init + "'",
                "a pixel-space RGB model (\"pixel_space\": true, in_dim and out_dim 3) like sparge pretrain makes");
        GenerationDefaults gen = model.generationOrDefault();
        RunSettings s = flags.settings(spec, "pretrain", 1e-3, gen.frames(), gen.height(), gen.width());
        return s.withModel(c.dim(), c.numLayers(), c.numHeads(), c.ffnDim(), model.textEncoder().config().width(),
                model.textEncoder().config().layers(), InitModel.recorded(init), TrainingObjective.PRETRAIN.word(),
                "dense", WanAttention.dense().topk(), WanAttention.dense().topp(), null)
                .withAbsolutePosition(absolutePosition(c.absolutePosition(), c.dim()))
                .withTextModulation(textModulation(c.textModulation()));
    }

    /** @return --absolute-position, checked against the DiT's width, or {@code otherwise} when it is not given */
    private AbsolutePosition absolutePosition(AbsolutePosition otherwise, int width) {
        if (absolutePosition == null) {
            return otherwise;
        }
        AbsolutePosition p = AbsolutePosition.find(absolutePosition).orElse(null);
        TrainingFlags.check(spec, p != null, "--absolute-position", "'" + absolutePosition + "'", "none or sincos");
        String bad = p.unsupportedWidth(width);
        TrainingFlags.check(spec, bad == null, "--absolute-position", absolutePosition, bad);
        return p;
    }

    /** @return --text-modulation, or {@code otherwise} when it is not given */
    private TextModulation textModulation(TextModulation otherwise) {
        if (textModulation == null) {
            return otherwise;
        }
        TextModulation m = TextModulation.find(textModulation).orElse(null);
        TrainingFlags.check(spec, m != null, "--text-modulation", "'" + textModulation + "'", "none or pooled");
        return m;
    }

    /** The DiT: pixel space (3 channels), patch (1, 2, 2), text features from the encoder. */
    static WanConfig config(RunSettings s) {
        return new WanConfig(s.dim(), s.ffnDim(), s.heads(), s.layers(), 3, 3, s.textWidth(), TEXT_LENGTH, FREQ_DIM,
                List.of(1, 2, 2), 1e-6, true, true, true, List.of(1, 1, 1),
                AbsolutePosition.parse(s.absolutePosition()), TextModulation.parse(s.textModulation()));
    }

    /** A fresh text encoder over the captions' words, heads of 32 (at least one), MLP 4 x width. */
    static TextEncoder textEncoder(RunSettings s, WanConfig config) {
        WordTokenizer tokenizer = new WordTokenizer(Captions.vocabulary());
        int w = s.textWidth();
        int heads = Math.max(1, w / 32);
        while (w % heads != 0) {
            heads--;
        }
        TextEncoderConfig c = new TextEncoderConfig(tokenizer.vocabSize(), w, s.textLayers(), heads, 4 * w,
                config.textLen(), config.textDim());
        return TextEncoder.initialize(c, tokenizer, s.seed() + 1);
    }
}
