package io.sparge4j.cli;

import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.models.data.ClipMotion;
import io.sparge4j.models.data.ClipSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The flags {@code sparge pretrain} and {@code sparge finetune} share: the run's directory, where it runs, the
 * optimizer and schedule, the clips and the checkpoints. A value left out takes the command's default (the
 * tiny-demo recipe for pretraining); on {@code --resume} the run's saved settings rule instead.
 */
final class TrainingFlags {
    /** The largest --batch-size (a guard against a typo that would allocate hundreds of clips at once). */
    private static final int MAX_BATCH = 256;

    @Option(names = "--out", paramLabel = "DIR", required = true,
            description = "The run's directory: run.json, train.jsonl, checkpoints/, model/.")
    Path out;

    @Option(names = "--backend", paramLabel = "cpu|cuda|opencl", defaultValue = "cpu",
            description = "Where the DiT's forward and backward run (default ${DEFAULT-VALUE}; the optimizer and the"
                    + " text encoder stay on the CPU; emulator runs the device kernels on the CPU, for tests).")
    String backend;

    @Option(names = "--device", paramLabel = "D", description = "The GPU's index or name (default: the first).")
    String device;

    @Option(names = "--steps", paramLabel = "N",
            description = "Optimizer steps of the whole run (default 2000); with --resume, a larger value extends it.")
    Long steps;

    @Option(names = "--micro-batches", paramLabel = "M",
            description = "Micro-batches per step, their gradients accumulated (default 1).")
    Integer microBatches;

    @Option(names = "--batch-size", paramLabel = "B",
            description = "Clips per micro-batch, run as one batched pass on a GPU (default 1); a step sees B x M clips.")
    Integer batchSize;

    @Option(names = "--lr", paramLabel = "LR",
            description = "Peak learning rate (default 1e-3 for pretrain, 1e-4 for finetune).")
    Double lr;

    @Option(names = "--warmup", paramLabel = "N", description = "Linear warm-up steps (default 100).")
    Long warmup;

    @Option(names = "--min-lr-ratio", paramLabel = "R",
            description = "The cosine schedule's final rate as a fraction of --lr, in [0, 1] (default 0.1).")
    Double minLrRatio;

    @Option(names = "--weight-decay", paramLabel = "W", description = "AdamW weight decay (default 0.01).")
    Double weightDecay;

    @Option(names = "--max-grad-norm", paramLabel = "G",
            description = "Global gradient-norm clip, 0 for none (default 1.0).")
    Double maxGradNorm;

    @Option(names = "--seed", paramLabel = "S", description = "Seed of the initialisation, data and noise (default 0).")
    Long seed;

    @Option(names = "--frames", paramLabel = "F", description = "Clip frames (default 16; finetune: the model's).")
    Integer frames;

    @Option(names = "--height", paramLabel = "H", description = "Clip height in pixels (default 32).")
    Integer height;

    @Option(names = "--width", paramLabel = "W", description = "Clip width in pixels (default 32).")
    Integer width;

    @Option(names = "--caption-dropout", paramLabel = "P",
            description = "Probability of training on the empty prompt, for guidance (default 0.1).")
    Double captionDropout;

    @Option(names = "--timestep-shift", paramLabel = "S",
            description = "Shift of the training noise levels toward noise, 1 = uniform (default 1.0).")
    Double timestepShift;

    @Option(names = "--noise-band", paramLabel = "LOW,HIGH,SHARE",
            description = "Draw SHARE of the training noise levels uniformly from [LOW, HIGH) instead of the shifted"
                    + " uniform, to train more where a model is weak (e.g. 0.4,0.8,0.5; default none).")
    String noiseBand;

    @Mixin
    ClipMotionFlags clipMotion = new ClipMotionFlags();

    @Option(names = "--caption-attribute-dropout", paramLabel = "P",
            description = "Probability that a training caption leaves out the colour, and separately the direction"
                    + " (\"a circle moving left\", \"a red circle\"), so the other words must carry it (default 0).")
    Double captionAttributeDropout;

    @Option(names = "--text-encoder-lr-scale", paramLabel = "X",
            description = "pretrain: the text encoder's learning rate as a multiple of --lr (default 1). Below 1 the"
                    + " encoder keeps apart words that joint training merges before the DiT can use them (e.g. the"
                    + " direction); above 1 it merges them sooner.")
    Double textEncoderLrScale;

    @Option(names = "--scale-text-embedding",
            description = "pretrain, with --text-encoder-lr-scale: scale the DiT's text_embedding (the MLP between the"
                    + " encoder and the cross-attention) by it too, so that the whole text path learns at that rate.")
    boolean scaleTextEmbedding;

    @Option(names = "--checkpoint-every", paramLabel = "N",
            description = "Steps between checkpoints (and model/ rewrites) (default 100).")
    Long checkpointEvery;

    @Option(names = "--keep", paramLabel = "K", description = "Checkpoints kept on disk (default 3).")
    Integer keep;

    @Option(names = "--resume", description = "Continue DIR's latest checkpoint exactly, with DIR's run.json"
            + " settings (only --steps, --backend and --device are read from this command line).")
    boolean resume;

    @Option(names = "--precision", paramLabel = "f32|bf16",
            description = "GPU forward GEMMs in f32 or bf16 with f32 accumulation (default f32).")
    String precision;

    @Option(names = "--sharding", paramLabel = "shard-grad-op|full-shard",
            description = "In a job of several GPUs (sparge launch): shard-grad-op (ZeRO-2, the default) shards the"
                    + " gradients and AdamW's moments and keeps the parameters whole on every rank; full-shard (ZeRO-3,"
                    + " FSDP's FULL_SHARD) shards the blocks' parameters too: each block is all-gathered just before it"
                    + " runs, the next one while it computes, and freed after, so a GPU holds the embeddings, the head"
                    + " and one block of the student (and of a distillation teacher).")
    String sharding;

    @Option(names = "--checkpoint-blocks",
            description = "Recompute each block's activations in the backward (less memory, same gradients).")
    boolean checkpointBlocks;

    /**
     * @return where the DiT runs, checked: null for the CPU's own training graph ({@code cpu}), else the device
     *     backend ({@code emulator}, {@code cuda}, {@code opencl}) and {@code --device}
     */
    BackendSelection backend(CommandSpec spec) {
        String b = backend.strip().toLowerCase(Locale.ROOT);
        if (!BackendSelection.NAMES.contains(b)) {
            throw invalid(spec, "--backend", "'" + backend + "'", "one of " + String.join(", ",
                    BackendSelection.NAMES));
        }
        // BackendSelection reads cpu as the emulator; here cpu means the CPU's WanGraph (far faster)
        return b.equals("cpu") ? null : new BackendSelection(b, device);
    }

    /**
     * The settings of the run in {@code --out} that {@code --resume} continues, extended to {@code --steps} when
     * given.
     *
     * @param spec the command, for usage errors
     * @param command pretrain or finetune: the command the run must have been started with
     * @return the saved settings
     * @throws IllegalArgumentException naming {@code --resume} when the run is another command's
     */
    RunSettings resumed(CommandSpec spec, String command) throws IOException {
        RunSettings saved = RunSettings.load(out);
        if (!saved.command().equals(command)) {
            throw new IllegalArgumentException("--resume: " + out + " is a " + saved.command() + " run, expected a "
                    + command + " run (use sparge " + saved.command() + " --resume)");
        }
        if (steps != null) {
            check(spec, steps >= 1, "--steps", steps, "a whole number of at least 1");
            saved = saved.withSteps(steps);
        }
        return saved;
    }

    /**
     * Checks the flags given and fills the defaults.
     *
     * @param spec the command, for usage errors
     * @param command pretrain or finetune
     * @param defaultLr the command's default learning rate
     * @param defaultFrames the default clip frames (finetune: the model's)
     * @param defaultHeight the default clip height
     * @param defaultWidth the default clip width
     * @return the run's settings without the model part ({@code dim} ... {@code targetSparsity} zero or null)
     */
    RunSettings settings(CommandSpec spec, String command, double defaultLr, int defaultFrames, int defaultHeight,
            int defaultWidth) {
        long s = orDefault(steps, 2000L);
        check(spec, s >= 1, "--steps", s, "a whole number of at least 1");
        int m = orDefault(microBatches, 1);
        check(spec, m >= 1, "--micro-batches", m, "a whole number of at least 1");
        int b = orDefault(batchSize, 1);
        check(spec, b >= 1 && b <= MAX_BATCH, "--batch-size", b, "a whole number from 1 to " + MAX_BATCH);
        double rate = orDefault(lr, defaultLr);
        check(spec, rate > 0 && Double.isFinite(rate), "--lr", rate, "a finite number above 0");
        long w = orDefault(warmup, 100L);
        check(spec, w >= 0, "--warmup", w, "a whole number of at least 0");
        double ratio = orDefault(minLrRatio, 0.1);
        check(spec, ratio >= 0 && ratio <= 1, "--min-lr-ratio", ratio, "a fraction in [0, 1]");
        double wd = orDefault(weightDecay, 0.01);
        check(spec, wd >= 0 && Double.isFinite(wd), "--weight-decay", wd, "a finite number of at least 0");
        double clip = orDefault(maxGradNorm, 1.0);
        check(spec, clip >= 0 && Double.isFinite(clip), "--max-grad-norm", clip, "a finite number >= 0 (0: no clip)");
        int f = orDefault(frames, defaultFrames);
        check(spec, f >= ClipSpec.MIN_FRAMES && f <= ClipSpec.MAX_FRAMES, "--frames", f, "a whole number from "
                + ClipSpec.MIN_FRAMES + " to " + ClipSpec.MAX_FRAMES);
        int h = side(spec, "--height", orDefault(height, defaultHeight));
        int wd2 = side(spec, "--width", orDefault(width, defaultWidth));
        double drop = orDefault(captionDropout, 0.1);
        check(spec, drop >= 0 && drop <= 1, "--caption-dropout", drop, "a probability in [0, 1]");
        double shift = orDefault(timestepShift, 1.0);
        check(spec, shift > 0 && Double.isFinite(shift), "--timestep-shift", shift, "a finite number above 0");
        RunSettings.NoiseBand band = noiseBand(spec, noiseBand);
        ClipMotion motion = clipMotion.motion(spec);
        clipMotion.fixed(spec);   // checked here; run.json keeps the words
        double attributeDrop = orDefault(captionAttributeDropout, 0.0);
        check(spec, attributeDrop >= 0 && attributeDrop < 1, "--caption-attribute-dropout", attributeDrop,
                "a probability in [0, 1)");
        double textScale = orDefault(textEncoderLrScale, 1.0);
        check(spec, textScale > 0 && Double.isFinite(textScale), "--text-encoder-lr-scale", textScale,
                "a finite number above 0");
        if (textScale != 1.0 && !command.equals("pretrain")) {
            throw invalid(spec, "--text-encoder-lr-scale", String.valueOf(textScale), "1 in " + command
                    + ", which keeps the text encoder frozen (pretrain trains it)");
        }
        if (scaleTextEmbedding && (!command.equals("pretrain") || textScale == 1.0)) {
            throw invalid(spec, "--scale-text-embedding", "given", "pretrain with a --text-encoder-lr-scale other than"
                    + " 1 (it scales the DiT's text_embedding by that too)");
        }
        long every = orDefault(checkpointEvery, 100L);
        check(spec, every >= 1, "--checkpoint-every", every, "a whole number of at least 1");
        int k = orDefault(keep, 3);
        check(spec, k >= 1, "--keep", k, "a whole number of at least 1");
        String p = precision == null ? "f32" : precision.strip().toLowerCase(Locale.ROOT);
        // f16 runs inference only: training has no loss scaling, so small gradients would underflow in f16
        if (ModelBackendFlags.precisionNamed(p).isEmpty() || p.equals("f16")) {
            throw invalid(spec, "--precision", "'" + precision + "'", "f32 or bf16 (training has no f16: without"
                    + " loss scaling its small gradients would underflow)");
        }
        String shard = sharding == null ? RunSettings.SHARD_GRAD_OP : sharding.strip().toLowerCase(Locale.ROOT);
        if (!shard.equals(RunSettings.SHARD_GRAD_OP) && !shard.equals(RunSettings.FULL_SHARD)) {
            throw invalid(spec, "--sharding", "'" + sharding + "'", RunSettings.SHARD_GRAD_OP + " or "
                    + RunSettings.FULL_SHARD);
        }
        return new RunSettings(command, s, m, b, rate, w, ratio, wd, clip, orDefault(seed, 0L), f, h, wd2, drop, shift,
                every, k, p, checkpointBlocks, 0, 0, 0, 0, 0, 0, null, null, null, 0, 0, null, motion, attributeDrop,
                textScale, null, 0, shard, null, false, scaleTextEmbedding, null, clipMotion.clipFixed, null, band);
    }

    /** @return the parsed {@code --noise-band}, or null when not given */
    private static RunSettings.NoiseBand noiseBand(CommandSpec spec, String text) {
        if (text == null) {
            return null;
        }
        String expected = "LOW,HIGH,SHARE with 0 <= LOW < HIGH <= 1 and SHARE in (0, 1], e.g. 0.4,0.8,0.5";
        String[] parts = text.split(",");
        if (parts.length != 3) {
            throw invalid(spec, "--noise-band", "'" + text + "'", expected);
        }
        double[] v = new double[3];
        try {
            for (int i = 0; i < 3; i++) {
                v[i] = Double.parseDouble(parts[i].strip());
            }
        } catch (NumberFormatException e) {
            throw invalid(spec, "--noise-band", "'" + text + "'", expected);
        }
        if (!(v[0] >= 0 && v[0] < v[1] && v[1] <= 1 && v[2] > 0 && v[2] <= 1)) {
            throw invalid(spec, "--noise-band", "'" + text + "'", expected);
        }
        return new RunSettings.NoiseBand(v[0], v[1], v[2]);
    }

    /** @return a clip side, checked: even (the patch is 2 x 2) and within the clip generator's range */
    private static int side(CommandSpec spec, String option, int value) {
        check(spec, value >= ClipSpec.MIN_SIDE && value <= ClipSpec.MAX_SIDE && value % 2 == 0, option, value,
                "an even number from " + ClipSpec.MIN_SIDE + " to " + ClipSpec.MAX_SIDE + " (the patch is 2 x 2)");
        return value;
    }

    private static <T> T orDefault(T value, T fallback) {
        return value == null ? fallback : value;
    }

    static void check(CommandSpec spec, boolean ok, String option, Object got, String expected) {
        if (!ok) {
            throw invalid(spec, option, String.valueOf(got), expected);
        }
    }

    static ParameterException invalid(CommandSpec spec, String option, String got, String expected) {
        return SparseFlags.invalid(spec, option, got, expected);
    }
}
