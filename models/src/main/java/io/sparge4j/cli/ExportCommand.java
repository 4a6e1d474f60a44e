package io.sparge4j.cli;

import io.sparge4j.engine.io.SafetensorsFile;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.pipeline.GenerationDefaults;
import io.sparge4j.models.pipeline.ModelDirectory;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.text.TextEncoderConfig;
import io.sparge4j.models.text.TextEncoderParameters;
import io.sparge4j.models.text.WordTokenizer;
import io.sparge4j.models.train.TrainingCheckpoint;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanConfigReader;
import io.sparge4j.models.wan.WanWeights;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code sparge export}: a model directory ({@link ModelDirectory}) from a training checkpoint, or a model directory
 * re-saved in another dtype. A training checkpoint holds only tensors (the DiT's and, when pretraining, the text
 * encoder's {@code text_encoder.*}); the config, the encoder's config and vocabulary (and its weights when the run
 * froze it) come from a model directory: {@code --config-from}, by default the run's own {@code model/} next to its
 * {@code checkpoints/}.
 */
@Command(name = "export",
        description = {"Writes a model directory (config.json, diffusion_pytorch_model.safetensors, the text encoder,"
                + " generation.json) from a training checkpoint or another model directory, in f32, f16 or bf16,"
                + " atomically. --attention/--topk/--topp/--bq/--bkv replace generation.json's attention."})
public final class ExportCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Option(names = "--checkpoint", paramLabel = "CKPT_DIR|MODEL_DIR", required = true,
            description = "A training checkpoint (a run's checkpoints/ root, whose 'latest' is taken, or one"
                    + " step-NNNNNN directory), or a model directory to re-save.")
    private Path checkpoint;

    @Option(names = "--out", paramLabel = "MODEL_DIR", required = true,
            description = "The model directory to write (new, empty, or a model directory whose model files to"
                    + " replace; its other files are kept).")
    private Path out;

    @Option(names = "--dtype", paramLabel = "f16|bf16|f32", defaultValue = "f16",
            description = "Element type of the weights written (default ${DEFAULT-VALUE}); f16 refuses values beyond"
                    + " 65504, naming the tensor.")
    private String dtype;

    @Option(names = "--generation-json", paramLabel = "FILE",
            description = "generation.json to write (default: the source's, with steps_trained from the checkpoint).")
    private Path generationJson;

    @Option(names = "--config-from", paramLabel = "MODEL_DIR",
            description = "For a training checkpoint: the model directory whose config.json, text encoder config and"
                    + " vocabulary describe it (default: the run's model/ next to its checkpoints/).")
    private Path configFrom;

    @Mixin
    private WanAttentionFlags attention;

    /** Picocli creates it. */
    public ExportCommand() {
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter w = spec.commandLine().getOut();
        DType target = switch (dtype.toLowerCase(Locale.ROOT)) {
            case "f16" -> DType.F16;
            case "bf16" -> DType.BF16;
            case "f32" -> DType.F32;
            default -> throw new IllegalArgumentException("--dtype: got '" + dtype + "', expected f16, bf16 or f32");
        };
        attention.settings();   // a typo fails before anything is read
        for (String sampling : new String[] {"--dense-layers", "--dense-steps"}) {
            if (spec.commandLine().getParseResult().hasMatchedOption(sampling)) {
                throw new IllegalArgumentException(sampling + ": export stores the attention's mode, k, p, block"
                        + " sizes and late Top-k in generation.json, not " + sampling
                        + "; pass it to generate or eval instead");
            }
        }
        GenerationDefaults generationOverride = generationJson == null ? null : GenerationDefaults.read(generationJson);
        if (!Files.isDirectory(checkpoint)) {
            throw new IllegalArgumentException("--checkpoint: got '" + checkpoint + "', expected a training checkpoint"
                    + " directory or a model directory");
        }
        if (ModelDirectory.isModelDirectory(checkpoint)) {
            try (ModelDirectory m = ModelDirectory.load(checkpoint, WanWeights.Precision.F32)) {
                GenerationDefaults g = generationOverride != null ? generationOverride : m.generation();
                ModelDirectory.save(out, m.config(), m.weights(), m.textEncoder(), withTypedAttention(g), target);
            }
            w.printf(Locale.ROOT, "wrote %s (%s) from the model directory %s%n", out, target, checkpoint);
        } else {
            fromTrainingCheckpoint(target, generationOverride, w);
        }
        w.flush();
        return 0;
    }

    private void fromTrainingCheckpoint(DType target, GenerationDefaults override, PrintWriter w) throws IOException {
        TrainingCheckpoint ckpt = TrainingCheckpoint.open(checkpoint);
        Path source = configFrom != null ? configFrom : defaultConfigSource();
        if (!ModelDirectory.isModelDirectory(source)) {
            throw new IllegalArgumentException("--config-from: " + source + " has no config.json, expected the run's"
                    + " model directory (written by 'sparge pretrain|finetune' next to checkpoints/) to describe "
                    + ckpt.directory());
        }
        WanConfig config = WanConfigReader.read(source.resolve(WanWeights.CONFIG_FILE)).config();
        Map<String, Tensor> dit = new LinkedHashMap<>();
        Map<String, Tensor> text = new LinkedHashMap<>();
        TextEncoder encoder = null;
        try {
            Path file = ckpt.directory().resolve(TrainingCheckpoint.PARAMETERS);
            try (SafetensorsFile params = SafetensorsFile.open(file)) {
                for (String name : params.names()) {
                    Map<String, Tensor> part = name.startsWith(TextEncoderParameters.PREFIX) ? text : dit;
                    part.put(name, params.load(name, DType.F32));
                }
            }
            if (!text.isEmpty()) {
                TextEncoderConfig tc = TextEncoderConfig.load(source.resolve(TextEncoder.CONFIG_FILE));
                WordTokenizer tokenizer = WordTokenizer.load(source.resolve(TextEncoder.VOCABULARY_FILE));
                encoder = new TextEncoder(tc, tokenizer, text);
            } else if (Files.isRegularFile(source.resolve(TextEncoder.WEIGHTS_FILE))) {
                encoder = TextEncoder.load(source);   // frozen during fine-tuning: the source's own
            }
            Path gen = source.resolve(ModelDirectory.GENERATION_FILE);
            GenerationDefaults g = override != null ? override : Files.isRegularFile(gen)
                    ? GenerationDefaults.read(gen) : GenerationDefaults.DEFAULT;
            g = withTypedAttention(g.withStepsTrained(ckpt.state().step()));
            ModelDirectory.save(out, config, orderedLike(config, dit), encoder, g, target);
        } finally {
            dit.values().forEach(Tensor::close);
            text.values().forEach(Tensor::close);
            if (encoder != null && encoder.parameters() != text) {
                encoder.parameters().values().forEach(Tensor::close);
            }
        }
        w.printf(Locale.ROOT, "wrote %s (%s) from %s (step %d), config from %s%n", out, target, ckpt.directory(),
                ckpt.state().step(), source);
    }

    /**
     * generation.json's attention with the attention flags typed here winning (e.g. a dense-pretrained model shipped
     * to generate with hybrid attention); unchanged when none is typed.
     */
    private GenerationDefaults withTypedAttention(GenerationDefaults g) {
        if (g == null) {
            boolean typed = spec.commandLine().getParseResult().matchedOptions().stream()
                    .anyMatch(o -> o.longestName()
                            .matches("--(attention|topk|topp|bq|bkv|late-topk|late-noise-level)"));
            return typed ? withTypedAttention(GenerationDefaults.DEFAULT) : null;
        }
        return g.withAttention(AttentionDefaults.resolve(spec.commandLine().getParseResult(), attention, g)
                .withDenseLayers(0).withDenseSteps(0));
    }

    /** The run's model/ directory: a checkpoint root is RUN/checkpoints, a step directory RUN/checkpoints/step-N. */
    private Path defaultConfigSource() {
        Path abs = checkpoint.toAbsolutePath().normalize();
        Path root = Files.isRegularFile(abs.resolve(TrainingCheckpoint.LATEST)) ? abs : abs.getParent();
        Path run = root == null ? null : root.getParent();
        if (run == null) {
            throw new IllegalArgumentException("--config-from: not given, and " + checkpoint + " is not inside a run"
                    + " directory with a model/ next to its checkpoints; give --config-from MODEL_DIR");
        }
        return run.resolve("model");
    }

    /** The DiT's tensors in WanParameters order (the saved file then reads like any other export). */
    private static Map<String, Tensor> orderedLike(WanConfig config, Map<String, Tensor> dit) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (String name : io.sparge4j.models.wan.WanParameters.expected(config).keySet()) {
            if (dit.containsKey(name)) {
                out.put(name, dit.get(name));
            }
        }
        dit.forEach(out::putIfAbsent);   // extras stay, so WanWeights.check names them
        return out;
    }
}
