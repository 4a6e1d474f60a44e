package io.sparge4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.data.ClipMotion;
import io.sparge4j.models.data.ClipSpec;
import io.sparge4j.models.data.PromptRequest;
import io.sparge4j.models.eval.CaptionSensitivity;
import io.sparge4j.models.eval.CaptionSensitivity.Variant;
import io.sparge4j.models.eval.CaptionWordValue;
import io.sparge4j.models.pipeline.GenerationDefaults;
import io.sparge4j.models.pipeline.ModelDirectory;
import io.sparge4j.models.video.AtomicFiles;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanModel;
import io.sparge4j.models.wan.WanTransformer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code sparge caption-sensitivity}: whether a model reads each caption word, by the flow-matching loss of
 * procedural clips with the right caption against one word swapped ({@link CaptionSensitivity}). Faster and less
 * noisy than judging generated clips, and it separates the words: a model that ignores the direction shows ~0% for
 * it while its colour change is large.
 */
@Command(name = "caption-sensitivity",
        description = {"Does the model read each caption word? Noises N procedural clips to each --levels and measures"
                + " the flow-matching loss with the clip's caption, with its colour, shape or direction swapped (one"
                + " word), and with the empty caption; prints each variant's relative loss change per level. A word"
                + " the model ignores changes the loss by ~0%%. Then what each word could be worth: the loss drop at"
                + " noise 1 of a perfect model that knows it (class-mean clips). Dense attention."})
public final class CaptionSensitivityCommand implements Callable<Integer> {
    /** The DiT's text embedding's weights, read for the features its cross-attention sees. */
    private static final List<String> TEXT_EMBEDDING = List.of("text_embedding.0.weight", "text_embedding.0.bias",
            "text_embedding.2.weight", "text_embedding.2.bias");

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    /** Mixed into --seed for the clips' noise and swaps, so that they are not the clips' own draws. */
    private static final long NOISE_SEED_MIX = 0xCA97_10A5L;

    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Option(names = "--model", paramLabel = "DIR|tiny-demo", required = true,
            description = "The model directory (with a text encoder), or tiny-demo.")
    private String model;

    @Option(names = "--clips", paramLabel = "N", defaultValue = "24",
            description = "Procedural clips, each measured at every level with 5 captions (default ${DEFAULT-VALUE}).")
    private int clips;

    @Option(names = "--levels", paramLabel = "S", split = ",", defaultValue = "0.95,0.8,0.6,0.4",
            description = "Noise levels s in (0, 1]: x_t = (1 - s) x0 + s noise (default ${DEFAULT-VALUE}).")
    private List<Double> levels;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "1",
            description = "Seed of the clips, their noise and the swapped colours and shapes (default"
                    + " ${DEFAULT-VALUE}).")
    private long seed;

    @Mixin
    private ClipMotionFlags clipMotion;

    @Option(names = "--value-clips", paramLabel = "N", defaultValue = "2000",
            description = "Also measure what each word is worth to a perfect model at noise 1, from the class-mean"
                    + " clips of N clips of the same motion (0: skip; default ${DEFAULT-VALUE}).")
    private int valueClips;

    @Option(names = "--out", paramLabel = "FILE.json", description = "Also write the numbers and settings as JSON"
            + " (atomic).")
    private Path out;

    @Mixin
    private ModelBackendFlags backend;

    /** Picocli creates it. */
    public CaptionSensitivityCommand() {
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter w = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        TrainingFlags.check(spec, clips >= 1, "--clips", clips, "a whole number of at least 1");
        double[] s = new double[levels.size()];
        for (int i = 0; i < s.length; i++) {
            double l = levels.get(i);
            TrainingFlags.check(spec, l > 0 && l <= 1, "--levels", l, "noise levels in (0, 1], e.g. 0.95,0.8,0.6,0.4");
            s[i] = l;
        }
        TrainingFlags.check(spec, valueClips == 0 || valueClips >= 2, "--value-clips", valueClips,
                "0 (skip) or at least 2");
        ClipMotion motion = clipMotion.motion(spec);
        PromptRequest fixed = clipMotion.fixed(spec);
        backend.gemmPrecision();
        if (out != null) {
            OutputPaths.existingParent("--out", out);
        }
        try (ModelDirectory dir = ModelSource.open("--model", model, w, backend.loadPrecision())) {
            if (dir.textEncoder() == null) {
                throw TrainingFlags.invalid(spec, "--model", "'" + model + "' (no text encoder)", "a model directory"
                        + " with a text encoder, written by 'sparge pretrain|finetune|export', or tiny-demo");
            }
            GenerationDefaults g = dir.generationOrDefault();
            ClipSpec clipSpec = ClipSpec.of(g.frames(), g.height(), g.width()).withMotion(motion).withFixed(fixed);
            ClipGenerator data = new ClipGenerator(seed, clipSpec);
            CaptionSensitivity.Result result;
            String where;
            try (WanTransformer transformer = backend.open(dir.config(), dir.weights(), WanAttention.dense())) {
                where = transformer.backend();
                result = CaptionSensitivity.measure(transformer::forward, caption -> dir.context(caption, "--model"),
                        data, clips, s, seed ^ NOISE_SEED_MIX, done -> {
                            err.printf(Locale.ROOT, "caption-sensitivity: clip %d/%d%n", done, clips);
                            err.flush();
                        });
            }
            for (CaptionSensitivity.Level l : result.levels()) {
                StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "sigma %s: loss %.5f",
                        levelText(l.level()), l.loss()));
                for (Variant v : Variant.values()) {
                    line.append(String.format(Locale.ROOT, " | %s %+.2f%%", v.word(), 100 * l.change(v)));
                }
                w.println(line);
            }
            List<Double> embedded = embeddedTextChanges(dir, result.captions());
            w.println(changes("text features moved by the swap (relative L2):", result.textChanges()));
            w.println(changes("after the DiT's text_embedding (what its cross-attention reads):", embedded));
            CaptionWordValue.Result value = valueClips == 0 ? null
                    : CaptionWordValue.measure(new ClipGenerator(seed, clipSpec), valueClips, seed ^ NOISE_SEED_MIX);
            if (value != null) {
                w.printf(Locale.ROOT, "what a word is worth at noise 1 (loss drop per element, %d clips): colour %.5f |"
                        + " shape %.5f | direction %.5f | a random direction %.5f (sampling inflation) | of %.5f"
                        + " with no caption%n", value.clips(), value.colour(), value.shapeGivenColour(),
                        value.directionGivenColour(), value.randomDirectionGivenColour(), value.variance());
            }
            if (out != null) {
                Map<String, Object> report = report(result, embedded, value, g, clipSpec, where);
                AtomicFiles.write(out, tmp -> JSON.writeValue(tmp.toFile(), report));
                w.println("wrote " + out);
            }
        }
        w.flush();
        return 0;
    }

    /**
     * How far each swap moves the text features after the DiT's own text_embedding, its f32 copy of the four
     * weights made here if they are stored narrower.
     */
    private static List<Double> embeddedTextChanges(ModelDirectory dir, List<CaptionSensitivity.ClipCaptions> caps) {
        Map<String, Tensor> f32 = new HashMap<>();
        List<Tensor> copies = new ArrayList<>();
        try {
            for (String name : TEXT_EMBEDDING) {
                Tensor t = dir.weights().get(name);
                if (t != null && t.dtype() != DType.F32) {
                    t = t.to(DType.F32);
                    copies.add(t);
                }
                f32.put(name, t);
            }
            return CaptionSensitivity.textChanges(caption -> {
                try (Tensor c = dir.context(caption, "--model")) {
                    return WanModel.embedText(dir.config(), f32, c);
                }
            }, caps);
        } finally {
            copies.forEach(Tensor::close);
        }
    }

    /** One line: the label, then each variant's change in percent. */
    private static String changes(String label, List<Double> changes) {
        StringBuilder line = new StringBuilder(label);
        for (Variant v : Variant.values()) {
            line.append(String.format(Locale.ROOT, " | %s %.1f%%", v.word(), 100 * changes.get(v.ordinal())));
        }
        return line.toString();
    }

    private Map<String, Object> report(CaptionSensitivity.Result result, List<Double> embedded,
            CaptionWordValue.Result value, GenerationDefaults g, ClipSpec clipSpec, String where) {
        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("model", model);
        settings.put("clips", clips);
        settings.put("levels", levels);
        settings.put("seed", seed);
        settings.put("frames", g.frames());
        settings.put("height", g.height());
        settings.put("width", g.width());
        settings.putAll(clipSpec.motion().settings());
        settings.put("clip_fixed", clipMotion.clipFixed);
        settings.put("background_caption_probability", clipSpec.backgroundCaptionProbability());
        settings.put("attention", "dense");
        settings.put("backend", where);
        List<Map<String, Object>> rows = new ArrayList<>();
        for (CaptionSensitivity.Level l : result.levels()) {
            Map<String, Object> losses = new LinkedHashMap<>();
            Map<String, Object> changes = new LinkedHashMap<>();
            for (Variant v : Variant.values()) {
                losses.put(v.word(), l.loss(v));
                changes.put(v.word(), l.change(v));
            }
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("noise_level", l.level());
            row.put("timestep", l.timestep());
            row.put("loss", l.loss());
            row.put("losses", losses);
            row.put("relative_change", changes);
            rows.add(row);
        }
        List<Map<String, Object>> caps = new ArrayList<>();
        for (CaptionSensitivity.ClipCaptions c : result.captions()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("clip", c.index());
            m.put("right", c.right());
            m.put("colour", c.colour());
            m.put("shape", c.shape());
            m.put("direction", c.direction());
            caps.add(m);
        }
        Map<String, Object> textChanges = new LinkedHashMap<>();
        Map<String, Object> embeddedChanges = new LinkedHashMap<>();
        for (Variant v : Variant.values()) {
            textChanges.put(v.word(), result.textChange(v));
            embeddedChanges.put(v.word(), embedded.get(v.ordinal()));
        }
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("settings", settings);
        report.put("text_feature_change", textChanges);
        report.put("embedded_text_feature_change", embeddedChanges);
        report.put("levels", rows);
        if (value != null) {
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("clips", value.clips());
            v.put("no_caption", value.variance());
            v.put("colour", value.colour());
            v.put("shape_given_colour", value.shapeGivenColour());
            v.put("direction_given_colour", value.directionGivenColour());
            v.put("random_direction_given_colour", value.randomDirectionGivenColour());
            report.put("word_value_at_noise_1", v);
        }
        report.put("captions", caps);
        return report;
    }

    /** Two decimals, or all the digits a level needs ("0.95", "0.40", "0.925"). */
    private static String levelText(double level) {
        String two = String.format(Locale.ROOT, "%.2f", level);
        return Double.parseDouble(two) == level ? two : Double.toString(level);
    }
}
