package io.sparge4j.models.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.models.video.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Assembles RESULTS.md for issue 7's experiment from a directory of runs: evaluation JSONs named by variant
 * ({@link #VARIANTS}), sweep evaluations named {@code sweep-METHOD-SPARSITY.json}, and concentration JSONs (any file
 * whose {@code kind} is {@value ConcentrationJson#KIND}). Writes the Table-6-style table, the quality-vs-sparsity
 * plots, the concentration table with heatmaps on a shared colour scale, and an empty, clearly marked "Reading"
 * section for people to fill: the report states numbers, never conclusions. A Reading that people wrote into an
 * earlier RESULTS.md is kept when the numbers are regenerated.
 */
public final class ResultsReport {
    /** The six variants of the experiment: file name (without .json) and table label, in table order. */
    public static final Map<String, String> VARIANTS = variants();
    /** Sweep methods with a label of their own; others are labelled by their file name part. */
    public static final Map<String, String> SWEEP_LABELS = Map.of(
            "hybrid-distill", "hybrid, distilled", "training-free", "training-free hybrid",
            "training-free-hybrid", "training-free hybrid");

    /**
     * A table column: heading, metric aliases, decimals, and whether higher is better (for the heading's arrow).
     */
    record Column(String heading, List<String> aliases, int decimals, Boolean higherBetter, String label) {
        Column(String heading, List<String> aliases, int decimals, Boolean higherBetter) {
            this(heading, aliases, decimals, higherBetter, heading);
        }
    }

    static final List<Column> COLUMNS = List.of(
            new Column("colour", List.of("colour_rate", "colour_match_rate", "colour_match", "colour_accuracy",
                    "colour_correct_rate"), 3, true, "colour match rate"),
            new Column("shape", List.of("shape_rate", "shape_match_rate", "shape_match", "shape_accuracy",
                    "shape_correct_rate"), 3, true, "shape match rate"),
            new Column("direction", List.of("direction_rate", "direction_match_rate", "direction_match",
                    "direction_accuracy", "direction_correct_rate"), 3, true, "direction match rate"),
            new Column("all correct", List.of("all_correct_rate", "all_correct"), 3, true, "all-correct rate"),
            new Column("smoothness", List.of("smoothness", "motion_smoothness"), 3, null),
            new Column("edge sharpness", List.of("edge_sharpness", "sharpness"), 3, true),
            new Column("background noise", List.of("background_noise"), 4, false),
            new Column("PSNR sparse vs dense (dB)", List.of("psnr_db_mean", "psnr_sparse_dense", "psnr_sparse_vs_dense",
                    "psnr_vs_dense", "psnr_db", "psnr", "mean_psnr"), 2, true),
            new Column("velocity error vs teacher", List.of("velocity_error", "velocity_error_vs_teacher",
                    "velocity_mse", "velocity_rel_error", "velocity_relative_error"), 5, false),
            // the error of the velocities sampling combines at guidance 5: what the clips show (sparge eval, later)
            new Column("guided velocity error vs teacher", List.of("velocity_relative_error_guided"), 5, false));

    /** What an unwritten Reading section holds; a Reading without it was written by people and is kept. */
    static final String READING_PLACEHOLDER = "<!-- READING: TO BE WRITTEN BY A PERSON. Nothing in this section was"
            + " generated. Compare the table, plots and heatmaps above with the paper's claims, say where they agree"
            + " and where they do not, and how large the differences are against run-to-run noise. -->\n\n"
            + "**TO BE WRITTEN** — not filled in by the report generator.\n\n";
    private static final Pattern SWEEP = Pattern.compile("^sweep-(.+)-(0?\\.\\d+|1(?:\\.0+)?)$");
    private static final ObjectMapper MAPPER = new ObjectMapper();

    /**
     * What was written.
     *
     * @param markdown the RESULTS.md file
     * @param pictures every PNG written
     * @param variantsFound variants that had a file
     * @param sweepPoints sweep files read
     * @param concentrations concentration files read
     */
    public record Written(Path markdown, List<Path> pictures, List<String> variantsFound, int sweepPoints,
            int concentrations) {
    }

    private ResultsReport() {
    }

    /**
     * @param markdown an earlier RESULTS.md, or a path with no file
     * @return its Reading section's text (up to "## Inputs") when people wrote it, else null: regenerating the numbers
     *     keeps the reading
     */
    static String writtenReading(Path markdown) throws IOException {
        if (!Files.isRegularFile(markdown)) {
            return null;
        }
        String old = Files.readString(markdown, StandardCharsets.UTF_8);
        int start = old.indexOf("\n## Reading\n");
        if (start < 0) {
            return null;
        }
        start += "\n## Reading\n".length();
        int end = old.indexOf("\n## Inputs\n", start);
        String text = (end < 0 ? old.substring(start) : old.substring(start, end + 1)).strip();
        if (text.isEmpty() || text.contains("**TO BE WRITTEN**")) {
            return null;
        }
        return text + "\n\n";
    }

    private static Map<String, String> variants() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("full", "full attention");
        m.put("training-free-hybrid", "training-free hybrid");
        m.put("topk-distill", "Top-k only, distilled");
        m.put("topp-distill", "Top-p only, distilled");
        m.put("hybrid-distill", "hybrid, distilled (SpargeAttention2)");
        m.put("hybrid-flow", "hybrid, flow-matching loss");
        // beyond the paper's six: the teacher's classifier-free-guided velocity as the target (finetune
        // --distill-guidance), since sampling runs guided
        m.put("hybrid-guided-distill", "hybrid, guided distillation (CFG velocity)");
        return java.util.Collections.unmodifiableMap(m);
    }

    /**
     * @param runs the directory of JSON files
     * @param markdown the RESULTS.md to write (atomically)
     * @param plots where the PNGs go (created if missing)
     * @return what was written
     * @throws IOException if a file cannot be read or written
     * @throws IllegalArgumentException when the directory holds no usable JSON, naming what was expected
     */
    public static Written write(Path runs, Path markdown, Path plots) throws IOException {
        if (runs == null || !Files.isDirectory(runs)) {
            throw new IllegalArgumentException("--runs: got '" + runs + "', expected a directory of eval JSON files");
        }
        Map<String, ExperimentRow> variants = new LinkedHashMap<>();
        Map<String, List<ExperimentRow>> sweeps = new TreeMap<>();
        List<ConcentrationJson.Summary> concentrations = new ArrayList<>();
        List<String> ignored = new ArrayList<>();
        for (Path file : jsonFiles(runs)) {
            String name = file.getFileName().toString().replaceFirst("\\.json$", "");
            if (isConcentration(file)) {
                concentrations.add(ConcentrationJson.read(file));
                continue;
            }
            Matcher sweep = SWEEP.matcher(name);
            if (sweep.matches()) {
                sweeps.computeIfAbsent(sweep.group(1), k -> new ArrayList<>()).add(EvalJsonReader.read(file));
            } else if (VARIANTS.containsKey(name)) {
                variants.put(name, EvalJsonReader.read(file));
            } else {
                ignored.add(file.getFileName().toString());
            }
        }
        if (variants.isEmpty() && sweeps.isEmpty() && concentrations.isEmpty()) {
            throw new IllegalArgumentException("--runs: " + runs + " holds no usable JSON, expected eval files named "
                    + VARIANTS.keySet() + " (.json), sweep-METHOD-SPARSITY.json, or concentration JSONs");
        }
        sweeps.values().forEach(list -> list.sort(Comparator.comparingDouble(ExperimentRow::nominalSparsity)));
        Files.createDirectories(plots);
        Path base = markdown.toAbsolutePath().getParent();
        List<Path> pictures = new ArrayList<>();
        StringBuilder md = new StringBuilder();
        md.append("# Issue 7 results: trainable sparse attention in miniature\n\n");
        md.append("Generated by `sparge report` from the JSON files in `").append(rel(base, runs)).append("`. ")
                .append("Numbers only: the reading is in the last section, written by people.\n\n");
        table(md, variants);
        sweepSection(md, sweeps, plots, base, pictures);
        concentrationSection(md, concentrations, plots, base, pictures);
        md.append("## Paper claims to compare against (SpargeAttention2, Wan2.1 1.3B ablations)\n\n");
        md.append("- Top-k only nearly matches hybrid; Top-p only collapses.\n");
        md.append("- The same mask without fine-tuning (training-free) collapses.\n");
        md.append("- Fine-tuning with the diffusion (flow-matching) loss instead of velocity distillation is worse"
                + " than distillation.\n");
        md.append("- Case 2: after sparse fine-tuning, attention is more concentrated (a higher sparsity holds 60% of"
                + " the pooled mass).\n\n");
        md.append("## Reading\n\n");
        String written = writtenReading(markdown);
        if (written != null) {
            md.append(written);
        } else {
            md.append(READING_PLACEHOLDER);
        }
        md.append("## Inputs\n\n");
        for (ExperimentRow r : variants.values()) {
            md.append("- `").append(rel(base, r.source())).append("`\n");
        }
        sweeps.values().forEach(list -> list.forEach(r -> md.append("- `").append(rel(base, r.source())).append("`\n")));
        concentrations.forEach(c -> md.append("- `").append(rel(base, c.file())).append("`\n"));
        if (!ignored.isEmpty()) {
            md.append("\nIgnored (names not in the experiment): ").append(String.join(", ", ignored)).append('\n');
        }
        AtomicFiles.write(markdown, tmp -> Files.writeString(tmp, md.toString(), StandardCharsets.UTF_8));
        return new Written(markdown, List.copyOf(pictures), List.copyOf(variants.keySet()),
                sweeps.values().stream().mapToInt(List::size).sum(), concentrations.size());
    }

    private static List<Path> jsonFiles(Path runs) throws IOException {
        try (Stream<Path> s = Files.list(runs)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".json") && Files.isRegularFile(p))
                    .filter(p -> !p.getFileName().toString().startsWith("."))
                    .sorted().toList();
        }
    }

    private static boolean isConcentration(Path file) {
        try {
            return ConcentrationJson.KIND.equals(MAPPER.readTree(file.toFile()).path("kind").asText());
        } catch (IOException e) {
            return false;   // EvalJsonReader reports the file properly
        }
    }

    private static void table(StringBuilder md, Map<String, ExperimentRow> variants) {
        md.append("## The experiment (our Table 6)\n\n");
        md.append("Same steps and seeds for every fine-tuned variant; target sparsity 0.95. Rates are over the clips"
                + " whose prompt names the attribute; ↑ higher is better, ↓ lower is better; — not reported by the"
                + " evaluation.\n\n");
        md.append("| # | variant | sparsity |");
        for (Column c : COLUMNS) {
            md.append(' ').append(c.heading()).append(c.higherBetter() == null ? "" : c.higherBetter() ? " ↑" : " ↓")
                    .append(" |");
        }
        md.append("\n|---|---|---|");
        md.append("---|".repeat(COLUMNS.size())).append('\n');
        int i = 1;
        for (Map.Entry<String, String> v : VARIANTS.entrySet()) {
            ExperimentRow r = variants.get(v.getKey());
            md.append("| ").append(i++).append(" | ").append(v.getValue()).append(" | ");
            if (r == null) {
                md.append("not run |").append(" |".repeat(COLUMNS.size())).append('\n');
                continue;
            }
            md.append(fmt(r.sparsity(), 3)).append(" |");
            metricCells(md, r);
        }
        md.append('\n');
    }

    /** Ends a table row with one cell a column: the row's metric, or — where the evaluation has none. */
    private static void metricCells(StringBuilder md, ExperimentRow r) {
        for (Column c : COLUMNS) {
            md.append(' ').append(r.metric(c.aliases()).map(x -> fmt(x, c.decimals())).orElse("—")).append(" |");
        }
        md.append('\n');
    }

    private static void sweepSection(StringBuilder md, Map<String, List<ExperimentRow>> sweeps, Path plots,
            Path base, List<Path> pictures) throws IOException {
        md.append("## Quality against sparsity\n\n");
        if (sweeps.isEmpty()) {
            md.append("No sweep files (sweep-METHOD-SPARSITY.json) were found.\n\n");
            return;
        }
        md.append("Each point is one evaluation; x is the sparsity the evaluation measured (the nominal one from the"
                + " file name when it reports none).\n\n");
        md.append("| method | nominal sparsity | measured sparsity |");
        for (Column c : COLUMNS) {
            md.append(' ').append(c.heading()).append(" |");
        }
        md.append("\n|---|---|---|").append("---|".repeat(COLUMNS.size())).append('\n');
        for (Map.Entry<String, List<ExperimentRow>> e : sweeps.entrySet()) {
            for (ExperimentRow r : e.getValue()) {
                md.append("| ").append(sweepLabel(e.getKey())).append(" | ").append(fmt(r.nominalSparsity(), 2))
                        .append(" | ").append(r.sparsity() == r.nominalSparsity() ? "—" : fmt(r.sparsity(), 3))
                        .append(" |");
                metricCells(md, r);
            }
        }
        md.append('\n');
        for (Column c : COLUMNS) {
            List<LinePlot.Series> series = new ArrayList<>();
            int dropped = 0;
            for (Map.Entry<String, List<ExperimentRow>> e : sweeps.entrySet()) {
                List<double[]> points = new ArrayList<>();
                for (ExperimentRow r : e.getValue()) {
                    Optional<Double> y = r.metric(c.aliases());
                    if (y.isPresent() && Double.isFinite(r.sparsity())) {
                        points.add(new double[] {r.sparsity(), y.get()});
                    } else {
                        dropped++;
                    }
                }
                if (!points.isEmpty()) {
                    series.add(new LinePlot.Series(sweepLabel(e.getKey()),
                            points.stream().mapToDouble(p -> p[0]).toArray(),
                            points.stream().mapToDouble(p -> p[1]).toArray()));
                }
            }
            if (series.isEmpty()) {
                continue;
            }
            String slug = c.heading().toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "-").replaceAll("-$", "");
            Path png = plots.resolve("quality-" + slug + ".png");
            new LinePlot(c.label() + " against sparsity", "attention sparsity", c.label(), series).write(png);
            pictures.add(png);
            md.append("![").append(c.label()).append(" against sparsity](").append(rel(base, png)).append(")");
            if (dropped > 0) {
                md.append(" (").append(dropped).append(" point").append(dropped > 1 ? "s" : "")
                        .append(" without this metric left out)");
            }
            md.append("\n\n");
        }
    }

    private static void concentrationSection(StringBuilder md, List<ConcentrationJson.Summary> all, Path plots,
            Path base, List<Path> pictures) throws IOException {
        md.append("## Case 2: attention concentration\n\n");
        if (all.isEmpty()) {
            md.append("No concentration files were found.\n\n");
            return;
        }
        md.append("Sparsity needed to hold the given fraction of each query block's pooled attention (higher = more"
                + " concentrated), averaged over layers, heads, query blocks and inputs. The layer x head heatmaps"
                + " below share one colour scale.\n\n");
        double lo = Double.POSITIVE_INFINITY;
        double hi = Double.NEGATIVE_INFINITY;
        for (ConcentrationJson.Summary s : all) {
            for (double[] row : s.layerHead()) {
                for (double v : row) {
                    lo = Math.min(lo, v);
                    hi = Math.max(hi, v);
                }
            }
        }
        if (!(hi > lo)) {
            hi = lo + 0.01;
        }
        // A file named *before* is the reference the others are compared with (experiment7.sh names it so).
        ConcentrationJson.Summary before = all.stream()
                .filter(c -> c.file().getFileName().toString().contains("before")).findFirst().orElse(null);
        md.append("| file | model | mass | mean sparsity | change vs before | per layer | layer x head | pooled map |\n");
        md.append("|---|---|---|---|---|---|---|---|\n");
        for (ConcentrationJson.Summary s : all) {
            String name = s.file().getFileName().toString().replaceFirst("\\.json$", "");
            Path png = plots.resolve(name + "-layers.png");
            new Heatmap(name + ": sparsity for " + fmt(100 * s.mass(), 0) + "% of pooled mass", "head", "layer",
                    s.layerHead()).withRange(lo, hi).write(png);
            pictures.add(png);
            StringBuilder layers = new StringBuilder();
            for (double[] row : s.layerHead()) {
                layers.append(layers.isEmpty() ? "" : ", ")
                        .append(fmt(java.util.Arrays.stream(row).average().orElse(Double.NaN), 3));
            }
            String map = s.mapPng() == null ? "—"
                    : "[map](" + rel(base, s.file().toAbsolutePath().resolveSibling(s.mapPng())) + ")";
            md.append("| `").append(name).append("` | ").append(s.model()).append(" | ").append(fmt(s.mass(), 2))
                    .append(" | ").append(fmt(s.meanSparsity(), 4)).append(" | ")
                    .append(before == null || before == s ? "—"
                            : String.format(Locale.ROOT, "%+.4f", s.meanSparsity() - before.meanSparsity()))
                    .append(" | ").append(layers).append(" | ![")
                    .append(name).append("](").append(rel(base, png)).append(") | ").append(map).append(" |\n");
        }
        md.append('\n');
    }

    static String sweepLabel(String method) {
        return SWEEP_LABELS.getOrDefault(method, method);
    }

    static String fmt(double v, int decimals) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%." + decimals + "f", v) : "—";
    }

    /** A path relative to the markdown's directory, with forward slashes, for links. */
    static String rel(Path base, Path target) {
        Path t = target.toAbsolutePath().normalize();
        Path b = base.toAbsolutePath().normalize();
        return (t.startsWith(b) || t.getRoot().equals(b.getRoot()) ? b.relativize(t) : t).toString()
                .replace('\\', '/');
    }
}
