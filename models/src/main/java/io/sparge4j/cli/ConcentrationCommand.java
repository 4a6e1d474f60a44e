package io.sparge4j.cli;

import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.models.data.ClipMotion;
import io.sparge4j.models.data.ClipSpec;
import io.sparge4j.models.data.PromptRequest;
import io.sparge4j.models.pipeline.GenerationDefaults;
import io.sparge4j.models.pipeline.ModelDirectory;
import io.sparge4j.models.report.ConcentrationAnalysis;
import io.sparge4j.models.report.ConcentrationJson;
import io.sparge4j.models.report.Heatmap;
import io.sparge4j.models.report.PlotFonts;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanCheckpoint;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanWeights;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code sparge concentration}: the paper's Case 2 measure on a pixel-space model. Writes PREFIX.json, a layer x head
 * heatmap PREFIX-layers.png and one head's pooled map PREFIX-map.png.
 */
@Command(name = "concentration",
        description = {"Case 2 of SpargeAttention2: how concentrated a model's self-attention is. Runs the model on"
                + " procedural clips noised to a few levels (captions through its text encoder) and, per layer and head,"
                + " finds the sparsity needed to hold --mass of each query block's pooled attention (the mask builder's"
                + " block map): the fewest key blocks whose mass reaches it. Writes PREFIX.json, PREFIX-layers.png"
                + " (layer x head) and PREFIX-map.png (one head's pooled map)."})
public final class ConcentrationCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Option(names = "--model", paramLabel = "DIR|tiny-random", required = true,
            description = "A pixel-space model directory (config.json, DiT safetensors, text_encoder.*, optional"
                    + " generation.json), or tiny-random.")
    private String model;

    @Option(names = "--samples", paramLabel = "N", defaultValue = "4",
            description = "Clips, each measured at every noise level (default ${DEFAULT-VALUE}).")
    private int samples;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "0", description = "Clip and noise seed (default 0).")
    private long seed;

    @Option(names = "--mass", paramLabel = "F", defaultValue = "0.6",
            description = "Fraction of each row's pooled mass to hold (default ${DEFAULT-VALUE}, the paper's).")
    private double mass;

    @Option(names = "--noise-levels", paramLabel = "T,...", split = ",", defaultValue = "0.3,0.6,0.9",
            description = "Flow-matching times t in (0, 1): x_t = (1 - t) x0 + t noise (default ${DEFAULT-VALUE}).")
    private List<Double> noiseLevels;

    @Option(names = "--frames", paramLabel = "N", description = "Clip frames (default: generation.json, else 16).")
    private Integer frames;

    @Option(names = "--height", paramLabel = "PX", description = "Clip height (default: generation.json, else 32).")
    private Integer height;

    @Option(names = "--width", paramLabel = "PX", description = "Clip width (default: generation.json, else 32).")
    private Integer width;

    @Mixin
    private ClipMotionFlags clipMotion;

    @Option(names = "--bq", paramLabel = "N",
            description = "Query block of the pooled map (default: generation.json's query_block, else 128).")
    private Integer queryBlock;

    @Option(names = "--bkv", paramLabel = "N",
            description = "Key block of the pooled map (default: generation.json's key_block, else 64).")
    private Integer keyBlock;

    @Option(names = "--forward", paramLabel = "full|hybrid", defaultValue = "full",
            description = "Attention of the measured forward: full (default; the same footing before and after"
                    + " fine-tuning) or hybrid (--topk, --topp).")
    private String forward;

    @Option(names = "--topk", paramLabel = "K", defaultValue = "0.03", description = "Top-k of --forward hybrid.")
    private double topk;

    @Option(names = "--topp", paramLabel = "P", defaultValue = "0.2", description = "Top-p of --forward hybrid.")
    private double topp;

    @Option(names = "--map-layer", paramLabel = "L", description = "Layer of PREFIX-map.png (default: the last).")
    private Integer mapLayer;

    @Option(names = "--map-head", paramLabel = "H", defaultValue = "0", description = "Head of PREFIX-map.png (default 0).")
    private int mapHead;

    @Option(names = "--out", paramLabel = "PREFIX", required = true,
            description = "Output prefix: PREFIX.json, PREFIX-layers.png, PREFIX-map.png (written atomically).")
    private Path out;

    /** Picocli creates it. */
    public ConcentrationCommand() {
    }

    @Override
    public Integer call() throws Exception {
        System.setProperty("java.awt.headless", "true");
        PlotFonts.require("sparge concentration");
        PrintWriter w = spec.commandLine().getOut();
        OutputPaths.existingParent("--out", out);
        ClipMotion motion = clipMotion.motion(spec);
        PromptRequest fixed = clipMotion.fixed(spec);
        boolean hybrid = switch (forward.toLowerCase(Locale.ROOT)) {
            case "full" -> false;
            case "hybrid" -> true;
            default -> throw new IllegalArgumentException("--forward: got '" + forward + "', expected full or hybrid");
        };
        // tiny-random has no generation.json: its defaults (16 x 32 x 32, 128 x 64 blocks) apply
        ModelDirectory dir = ModelSource.open("--model", model, w, WanWeights.Precision.F32);
        WanCheckpoint checkpoint = dir.checkpoint();
        try (dir) {
            WanConfig config = checkpoint.config();
            // flags win over generation.json (its defaults where the file or a key is absent)
            GenerationDefaults g = dir.generationOrDefault();
            int bq = queryBlock != null ? queryBlock : g.attention().queryBlock();
            int bkv = keyBlock != null ? keyBlock : g.attention().keyBlock();
            WanAttention attention = hybrid
                    ? new WanAttention(MaskMode.HYBRID, topk, topp, bq, bkv, 0, 0)
                    : ConcentrationAnalysis.fullForward(bq, bkv);
            ClipSpec clips = ClipSpec.of(frames != null ? frames : g.frames(), height != null ? height : g.height(),
                    width != null ? width : g.width()).withMotion(motion).withFixed(fixed);
            ConcentrationAnalysis.Settings settings = new ConcentrationAnalysis.Settings(samples, seed, mass,
                    noiseLevels, clips, attention, mapLayer != null ? mapLayer : config.numLayers() - 1, mapHead);
            if (dir.textEncoder() == null) {
                w.println("no text encoder in " + model + ": the model sees zero text features");
            }
            PrintWriter err = spec.commandLine().getErr();
            int inputs = samples * noiseLevels.size();
            int[] done = {0};
            ConcentrationAnalysis.Result result = ConcentrationAnalysis.run(config, checkpoint.weights(),
                    dir.textEncoder(), settings, sample -> {
                        err.printf(Locale.ROOT, "concentration %d/%d: clip %d t=%s \"%s\": %.4f%n", ++done[0], inputs,
                                sample.clip(), sample.noise(), sample.caption(), sample.mean());
                        err.flush();
                    });
            String base = out.getFileName().toString();
            Path json = out.resolveSibling(base + ".json");
            Path layers = out.resolveSibling(base + "-layers.png");
            Path map = out.resolveSibling(base + "-map.png");
            String pct = String.format(Locale.ROOT, "%.0f%%", 100 * mass);
            new Heatmap("sparsity to hold " + pct + " of pooled attention (mean "
                    + String.format(Locale.ROOT, "%.3f", result.meanSparsity()) + ")", "head", "layer",
                    result.layerHead()).withRange(0, 1).write(layers);
            new Heatmap("pooled block attention, layer " + settings.mapLayer() + " head " + settings.mapHead(),
                    "key block", "query block", result.map()).write(map);
            Map<String, String> pngs = new LinkedHashMap<>();
            pngs.put("layers", layers.getFileName().toString());
            pngs.put("map", map.getFileName().toString());
            ConcentrationJson.write(json, ConcentrationJson.toJson(result, model, pngs));
            w.printf(Locale.ROOT, "sparsity to hold %s of the pooled mass: mean %.4f over %d layers x %d heads,"
                            + " %d inputs (%d tokens, %d x %d blocks)%n", pct, result.meanSparsity(), config.numLayers(),
                    config.numHeads(), result.samples().size(), result.tokens(), result.queryBlocks(),
                    result.keyBlocks());
            double[] perLayer = result.layerMeans();
            for (int l = 0; l < perLayer.length; l++) {
                w.printf(Locale.ROOT, "  layer %d: %.4f%n", l, perLayer[l]);
            }
            w.println("wrote " + json);
            w.println("wrote " + layers);
            w.println("wrote " + map);
        }
        w.flush();
        return 0;
    }
}
