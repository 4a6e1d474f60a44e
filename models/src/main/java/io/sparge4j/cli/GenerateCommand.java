package io.sparge4j.cli;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.Captions;
import io.sparge4j.models.data.PromptRequest;
import io.sparge4j.models.eval.ClipEvaluation;
import io.sparge4j.models.eval.ClipEvaluator;
import io.sparge4j.models.pipeline.GenerationDefaults;
import io.sparge4j.models.pipeline.ModelDirectory;
import io.sparge4j.models.pipeline.WanGenerator;
import io.sparge4j.models.sampling.StepListener;
import io.sparge4j.models.video.VideoOutput;
import io.sparge4j.models.video.VideoWriters;
import io.sparge4j.models.wan.DeviceWanModel;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.text.TextEncoder;
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

import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code sparge generate}: text-to-video with a Wan DiT and SpargeAttention2, on the CPU. */
@Command(name = "generate",
        description = {"Generates a video with a Wan2.1 DiT: seeded noise, classifier-free guidance, UniPC (or Euler) over"
                + " Wan's shifted flow-matching schedule, self-attention through SpargeAttention2. Writes .safetensors"
                + " (tensor 'video' (C,F,H,W)), and for pixel-space models also .gif, .mp4 or PNG frames (DIR)."})
public final class GenerateCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Option(names = "--model", paramLabel = "DIR|tiny-demo|tiny-random|random:PRESET", required = true,
            description = "A model directory (config.json and safetensors: Wan or diffusers names, or one written by"
                    + " 'sparge pretrain|finetune|export' with its text encoder and generation.json), tiny-demo: the"
                    + " trained tiny text-to-video model shipped in the jar, tiny-random: an untrained random-weight"
                    + " pixel-space model that runs the whole pipeline in seconds, or random:wan-1.3b|random:wan-14b"
                    + "|random:tiny-4096: that model's shapes and default video size with seeded random weights (f32,"
                    + " or bf16 with --weights stored), for timing the real model's cost where no checkpoint is at"
                    + " hand, e.g. under 'sparge launch --gpus N'.")
    private String model;

    @Option(names = "--prompt", paramLabel = "TEXT",
            description = "The prompt, through the model's text encoder (tiny-demo and models from 'sparge"
                    + " pretrain'); others take --text-embeddings.")
    private String prompt;

    @Option(names = "--text-embeddings", paramLabel = "FILE",
            description = "Text features (L, text_dim) as a safetensors tensor 'context' (e.g. Wan's umT5 output).")
    private Path textEmbeddings;

    @Option(names = "--negative-prompt", paramLabel = "TEXT",
            description = "The negative prompt (needs a text encoder; default: the empty prompt, the unconditional"
                    + " branch the model was trained on with caption dropout).")
    private String negativePrompt;

    @Option(names = "--negative-text-embeddings", paramLabel = "FILE",
            description = "Negative text features (same shape as the prompt's); zeros when none is given.")
    private Path negativeTextEmbeddings;

    @Option(names = "--frames", paramLabel = "N",
            description = "Video frames; latent models 4n+1 (default: generation.json's, else 81, pixel-space"
                    + " models 8).")
    private Integer frames;

    @Option(names = "--height", paramLabel = "PX", description = "Video height (default: generation.json's, else 480,"
            + " pixel-space models 32).")
    private Integer height;

    @Option(names = "--width", paramLabel = "PX", description = "Video width (default: generation.json's, else 832,"
            + " pixel-space models 32).")
    private Integer width;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "50", description = "Denoising steps (default 50).")
    private int steps;

    @Option(names = "--guidance", paramLabel = "G", defaultValue = "5.0",
            description = "Classifier-free guidance scale (default 5.0; 1 disables it).")
    private double guidance;

    @Option(names = "--shift", paramLabel = "S", defaultValue = "5.0", description = "Timestep shift (default 5.0).")
    private double shift;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0", description = "Noise seed (default 0).")
    private long seed;

    @Option(names = "--sampler", paramLabel = "unipc|euler", defaultValue = "unipc",
            description = "UniPC multistep (Wan's default) or Euler.")
    private String sampler;

    @Mixin
    private ModelBackendFlags backend;

    @Option(names = "--out", paramLabel = "FILE|DIR", required = true,
            description = "FILE.safetensors, FILE.gif, FILE.mp4 or a directory for PNG frames (written atomically).")
    private Path out;

    @Option(names = "--fps", paramLabel = "N", defaultValue = "8", description = "Frames per second (default 8).")
    private int fps;

    @Option(names = "--gpus", paramLabel = "N",
            description = "Split the sequence over N GPUs of this host (DeepSpeed-Ulysses; --backend cuda): runs this"
                    + " command as N ranks, as 'sparge launch --gpus N -- generate ...' does; the model's heads and its"
                    + " token count must divide by N.")
    private Integer gpus;

    @Option(names = "--compare-dense", description = "Also run dense attention with the same seed and report the speedup.")
    private boolean compareDense;

    @Mixin
    private WanAttentionFlags attention;

    /** Picocli creates it. */
    public GenerateCommand() {
    }

    @Override
    public Integer call() throws Exception {
        if (gpus != null && launchRanks()) {
            return LaunchCommand.launch(gpus, 0, rankArguments(), spec.commandLine().getOut(),
                    spec.commandLine().getErr());
        }
        PrintWriter w = spec.commandLine().getOut();
        backend.gemmPrecision();   // typos fail before the model loads
        backend.loadPrecision();
        attention.settings();
        if (prompt != null && textEmbeddings != null) {
            throw new IllegalArgumentException("--prompt and --text-embeddings: got both, expected one (the prompt"
                    + " goes through the model's text encoder; --text-embeddings gives the features directly)");
        }
        if (negativePrompt != null && negativeTextEmbeddings != null) {
            throw new IllegalArgumentException("--negative-prompt and --negative-text-embeddings: got both,"
                    + " expected one");
        }
        VideoOutput output = VideoOutput.of(out, fps);
        OutputPaths.existingParent("--out", out);   // before the model runs
        WanGenerator.SamplerKind kind = switch (sampler.toLowerCase(Locale.ROOT)) {
            case "unipc" -> WanGenerator.SamplerKind.UNIPC;
            case "euler" -> WanGenerator.SamplerKind.EULER;
            default -> throw new IllegalArgumentException("--sampler: got '" + sampler + "', expected unipc or euler");
        };
        try (ModelDirectory loaded = ModelSource.open("--model", model, w, backend.loadPrecision())) {
            WanConfig config = loaded.config();
            if ((prompt != null || negativePrompt != null) && loaded.textEncoder() == null) {
                throw new IllegalArgumentException((prompt != null ? "--prompt" : "--negative-prompt") + ": this model"
                        + " has no text encoder (" + TextEncoder.WEIGHTS_FILE + " in its directory); give text"
                        + " features with --text-embeddings FILE (and --negative-text-embeddings FILE), e.g. Wan's"
                        + " umT5 output as tensor 'context' (L, text_dim), or use a trained model such as tiny-demo");
            }
            if (output.format().isPictures() && !config.pixelSpace()) {
                throw new IllegalArgumentException("--out: " + out + " asks for pictures, but this is a latent model"
                        + " and no VAE decoder exists yet; write .safetensors (the latents) instead");
            }
            GenerationDefaults defaults = loaded.generation();
            WanAttention settings = AttentionDefaults.resolve(spec.commandLine().getParseResult(), attention,
                    defaults);
            int f = frames != null ? frames : defaults != null ? defaults.frames() : config.pixelSpace() ? 8 : 81;
            int h = height != null ? height : defaults != null ? defaults.height() : config.pixelSpace() ? 32 : 480;
            int wd = width != null ? width : defaults != null ? defaults.width() : config.pixelSpace() ? 32 : 832;
            WanGenerator.Settings run = new WanGenerator.Settings(f, h, wd, steps, guidance, shift, seed, kind);
            try (Tensor context = context(loaded, config, w);
                 Tensor negative = negative(loaded, config, w);
                 JobRanks ranks = JobRanks.open(SpargeCli.environment(spec), backend.selection(), backend.device)) {
                // a rank of a launched job: the sequence split over the ranks' GPUs; every rank samples, rank 0 writes
                try (WanTransformer base = ranks.comm() == null ? backend.open(config, loaded.weights(), settings)
                        : DeviceWanModel.open(ranks.backend(), config, loaded.weights(), settings,
                                backend.gemmPrecision())) {
                    WanTransformer wan = ranks.comm() == null ? base
                            : ((DeviceWanModel) base).withSequenceParallel(ranks.comm());
                    WanGenerator.Result result = run(wan, context, negative, run, "generate");
                    if (!ranks.leader()) {
                        result.video().close();
                        if (compareDense) {
                            run(wan.withAttention(WanAttention.dense()), context, negative, run, "dense").video()
                                    .close();
                        }
                        return 0;
                    }
                    ClipEvaluation judged = null;
                    try (Tensor video = result.video()) {
                        VideoWriters.write(video, config.pixelSpace(), output);
                        // (clips below the evaluator's minimum size go unjudged: too small to tell a shape or a motion)
                        PromptRequest asked = prompt == null ? PromptRequest.NONE : Captions.parse(prompt);
                        if (config.pixelSpace() && !asked.equals(PromptRequest.NONE)
                                && f >= ClipEvaluator.MIN_FRAMES && Math.min(h, wd) >= ClipEvaluator.MIN_SIDE) {
                            judged = new ClipEvaluator().evaluate(video, asked);
                        }
                    }
                    w.printf(Locale.ROOT, "wrote %s (%d frames of %dx%d, %s)%n", out, f, h, wd,
                            config.pixelSpace() ? "pixels" : "latents");
                    if (judged != null) {
                        // the evaluator of sparge eval, on this clip: does it show what the prompt asked for?
                        w.printf(Locale.ROOT, "evaluator: %s; %s%n", judged,
                                judged.allCorrect() ? "matches the prompt" : "does NOT match the prompt");
                    }
                    w.printf(Locale.ROOT, "attention %s%s: sparsity %.3f; self-attention %.2f s of %.2f s (%.0f%%)%n",
                            settings.mode().toString().toLowerCase(Locale.ROOT), settings.lateTopk() == 0 ? ""
                                    : String.format(Locale.ROOT, " (Top-k %.2f at noise levels <= %.2f)",
                                            settings.lateTopk(), settings.lateNoiseLevel()), result.sparsity(),
                            result.attentionNanos() / 1e9, result.totalNanos() / 1e9, 100 * result.attentionShare());
                    if (compareDense) {
                        WanGenerator.Result dense = run(wan.withAttention(WanAttention.dense()), context, negative,
                                run, "dense");
                        dense.video().close();
                        w.printf(Locale.ROOT, "dense: self-attention %.2f s of %.2f s; speedup: attention %.2fx,"
                                        + " end to end %.2fx%n", dense.attentionNanos() / 1e9, dense.totalNanos() / 1e9,
                                (double) dense.attentionNanos() / Math.max(1, result.attentionNanos()),
                                (double) dense.totalNanos() / Math.max(1, result.totalNanos()));
                    }
                }
            }
        }
        w.flush();
        return 0;
    }

    /**
     * @return whether this process must start the ranks of {@code --gpus N} (false: N is 1, or this is a rank
     *     already, of a job of N)
     * @throws IllegalArgumentException for a count out of range, without --backend cuda, or unlike the job's
     */
    private boolean launchRanks() {
        if (gpus < 1 || gpus > LaunchCommand.MAX_GPUS) {
            throw new IllegalArgumentException("--gpus: got " + gpus + ", expected 1 to " + LaunchCommand.MAX_GPUS);
        }
        String world = SpargeCli.environment(spec).get("WORLD_SIZE");
        boolean inJob = JobRanks.IN_PROCESS.get() != null || (world != null && !world.strip().equals("1"));
        if (inJob) {
            int size = JobRanks.IN_PROCESS.get() != null ? JobRanks.IN_PROCESS.get().worldSize()
                    : Integer.parseInt(world.strip());
            if (size != gpus) {
                throw new IllegalArgumentException("--gpus: got " + gpus + " in a job of WORLD_SIZE " + size
                        + ", expected " + size + " or no --gpus (the job's ranks are the GPUs)");
            }
            return false;
        }
        if (gpus == 1) {
            return false;
        }
        if (!"cuda".equalsIgnoreCase(backend.backend.strip())) {
            throw new IllegalArgumentException("--gpus: got " + gpus + " with --backend " + backend.backend
                    + ", expected --backend cuda (each rank drives one GPU and they exchange through NCCL)");
        }
        return true;
    }

    /** @return this command line from {@code generate} on, without {@code --gpus}, for every rank */
    private List<String> rankArguments() {
        List<String> given = spec.commandLine().getParseResult().originalArgs();   // the whole command line
        List<String> args = new ArrayList<>();
        for (int i = Math.max(0, given.indexOf(spec.name())); i < given.size(); i++) {
            String a = given.get(i);
            if (a.equals("--gpus")) {
                i++;   // and its value
            } else if (!a.startsWith("--gpus=")) {
                args.add(a);
            }
        }
        return args;
    }

    /** The conditional branch: the prompt through the text encoder, features from a file, or zeros. */
    private Tensor context(ModelDirectory loaded, WanConfig config, PrintWriter w) throws java.io.IOException {
        if (prompt != null) {
            return loaded.context(prompt, "--prompt");
        }
        if (textEmbeddings == null) {
            w.println("no text given: the model sees " + (loaded.textEncoder() != null ? "the empty prompt"
                    : "zero text features") + " (unconditional)");
            return loaded.textEncoder() != null ? loaded.context("", "--prompt")
                    : Tensor.zeros(config.textLen(), config.textDim());   // what zero-padding gives for no text
        }
        return text("--text-embeddings", textEmbeddings, config, w);
    }

    /**
     * The unconditional branch of classifier-free guidance: with a text encoder, the negative prompt or else the
     * EMPTY prompt, as the model saw it under caption dropout; without one, features from a file or null (zeros).
     */
    private Tensor negative(ModelDirectory loaded, WanConfig config, PrintWriter w) throws java.io.IOException {
        if (negativeTextEmbeddings != null) {
            return text("--negative-text-embeddings", negativeTextEmbeddings, config, w);
        }
        if (loaded.textEncoder() != null) {
            return loaded.context(negativePrompt == null ? "" : negativePrompt, "--negative-prompt");
        }
        return null;
    }

    /** One sampling run with a progress bar on stderr: steps, time per step, and the attention share so far. */
    private static WanGenerator.Result run(WanTransformer wan, Tensor context, Tensor negative,
            WanGenerator.Settings run, String task) {
        PrintStream err = System.err;
        try (ProgressBar bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(run.steps())
                .setConsumer(new ConsoleProgressBarConsumer(err)).build()) {
            long[] total = new long[1];
            StepListener listener = (step, steps, timestep, nanos) -> {
                total[0] += nanos;
                bar.stepTo(step + 1);
                bar.setExtraMessage(String.format(Locale.ROOT, "%.2f s/step, attention %.0f%%", nanos / 1e9,
                        100.0 * wan.stats().attentionNanos() / Math.max(1, total[0])));
            };
            return new WanGenerator(wan).generate(context, negative, run, listener);
        }
    }

    /** Text features from a file, or zero rows (unconditional) when none is given. */
    private static Tensor text(String option, Path file, WanConfig config, PrintWriter w) throws java.io.IOException {
        if (file == null) {
            return Tensor.zeros(config.textLen(), config.textDim());   // what zero-padding gives for no text
        }
        Tensor t = TensorFiles.loadFloat(option, file, "context", 2, "(L, text_dim)");
        if (t.dim(1) != config.textDim() || t.dim(0) > config.textLen()) {
            String shape = t.dim(0) + " x " + t.dim(1);
            t.close();
            throw new IllegalArgumentException(option + " " + file + ": tensor is " + shape + ", expected (L, "
                    + config.textDim() + ") with L <= text_len " + config.textLen());
        }
        return t;
    }
}
