package io.sparge4j.models.report;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ResultsReportTest {
    @TempDir
    Path dir;

    private static final double[] SWEEP = {0.80, 0.90, 0.95, 0.97};

    /** An eval JSON in the shape sparge eval writes: per-prompt rows, then a summary. */
    static String eval(double sparsity, double colour, double psnr, double velocity) {
        return String.format(Locale.ROOT, """
                {"model": "m", "sampling": {"noise_seed": 77}, "prompts": [{"prompt": "a red circle moving left", "colour_rate": 0.0, "sparsity": 0.5}],
                 "summary": {"clips": 8, "colour_rate": %s, "shape_rate": 0.5, "direction_rate": null,
                             "all_correct_rate": 0.25, "smoothness": 0.9, "edge_sharpness": 0.31,
                             "background_noise": 0.012, "sparsity": %s},
                 "psnr_sparse_dense": %s, "velocity_error": %s}
                """, colour, sparsity, psnr, velocity);
    }

    @Test
    void writesTheTablePlotsAndConcentrationFromSyntheticRuns() throws IOException {
        SplittableRandom rng = new SplittableRandom(5);
        Path runs = Files.createDirectories(dir.resolve("runs"));
        String[] variants = {"full", "training-free-hybrid", "topk-distill", "hybrid-distill", "hybrid-flow",
            "hybrid-guided-distill"};
        double[] colours = new double[variants.length];
        for (int i = 0; i < variants.length; i++) {
            colours[i] = Math.round(1000 * rng.nextDouble()) / 1000.0;
            Files.writeString(runs.resolve(variants[i] + ".json"), eval(i == 0 ? 0 : 0.95, colours[i],
                    20 + i, 0.001 * (i + 1)));
        }
        // An older layout: numbers at the top level and a nested group; the sparsity under another key.
        Files.writeString(runs.resolve("topp-distill.json"),
                "{\"color_match\": 0.125, \"quality\": {\"edge_sharpness\": 0.2}, \"mean_sparsity\": 0.951}");
        double[][] ys = new double[2][SWEEP.length];
        String[] methods = {"hybrid-distill", "training-free"};
        for (int m = 0; m < 2; m++) {
            for (int i = 0; i < SWEEP.length; i++) {
                ys[m][i] = m == 0 ? 0.8 + 0.1 * rng.nextDouble() : 0.5 * rng.nextDouble();
                Files.writeString(runs.resolve(String.format(Locale.ROOT, "sweep-%s-%.2f.json", methods[m], SWEEP[i])),
                        eval(SWEEP[i] + 0.001 * m, ys[m][i], 18, 0.002));
            }
        }
        Files.writeString(runs.resolve("concentration-before.json"), concentration("pretrained", 0.52,
                new double[][] {{0.5, 0.54}, {0.51, 0.53}}));
        Files.writeString(runs.resolve("concentration-after.json"), concentration("hybrid-distill", 0.61,
                new double[][] {{0.6, 0.64}, {0.58, 0.62}}));
        Files.writeString(runs.resolve("notes.json"), "{\"x\": 1}");

        Path md = dir.resolve("RESULTS.md");
        ResultsReport.Written w = ResultsReport.write(runs, md, dir.resolve("plots"));
        String text = Files.readString(md);
        assertEquals(8, w.sweepPoints());
        assertEquals(2, w.concentrations());
        assertEquals(7, w.variantsFound().size());
        // Table 6 rows, in order, with the numbers of each file.
        assertTrue(text.contains("| 1 | full attention | 0.000 | " + fmt(colours[0])
                + " | 0.500 | — | 0.250 | 0.900 | 0.310 | 0.0120 | 20.00 | 0.00100 | — |\n"), text);
        assertTrue(text.contains("| 5 | hybrid, distilled (SpargeAttention2) | 0.950 | " + fmt(colours[3])), text);
        assertTrue(text.contains("| 6 | hybrid, flow-matching loss | 0.950 | " + fmt(colours[4])), text);
        assertTrue(text.contains("| 7 | hybrid, guided distillation (CFG velocity) | 0.950 | " + fmt(colours[5])),
                text);
        assertTrue(text.contains("| 4 | Top-p only, distilled | 0.951 | 0.125 | — | — | — | — | 0.200 |"), text);
        assertTrue(text.contains("24.00 | 0.00500 |"), "PSNR and velocity error from the top level: " + text);
        assertTrue(text.indexOf("| 1 |") < text.indexOf("| 2 |") && text.indexOf("| 5 |") < text.indexOf("| 6 |"));
        // The reading is left to people, clearly marked, and nothing is concluded.
        assertTrue(text.contains("## Reading") && text.contains("TO BE WRITTEN"), text);
        assertTrue(text.contains("Ignored (names not in the experiment): notes.json"), text);
        // Every linked picture exists.
        Matcher links = Pattern.compile("\\]\\(([^)]+\\.png)\\)").matcher(text);
        int linked = 0;
        while (links.find()) {
            assertTrue(Files.isRegularFile(dir.resolve(links.group(1))) || links.group(1).endsWith("-map.png"),
                    "link " + links.group(1));
            linked++;
        }
        assertTrue(linked >= 4, "plots and heatmaps are linked: " + linked);
        // The colour plot is the sweep's data: redraw it from the numbers and compare pixel for pixel.
        Path colourPng = dir.resolve("plots/quality-colour.png");
        BufferedImage got = ImageIO.read(colourPng.toFile());
        LinePlot expected = new LinePlot("colour match rate against sparsity", "attention sparsity", "colour match rate", List.of(
                new LinePlot.Series("hybrid, distilled", SWEEP.clone(), ys[0]),
                new LinePlot.Series("training-free hybrid", shifted(SWEEP, 0.001), ys[1])));
        BufferedImage want = expected.render();
        assertEquals(want.getWidth(), got.getWidth());
        for (int y = 0; y < want.getHeight(); y++) {
            for (int x = 0; x < want.getWidth(); x++) {
                assertEquals(want.getRGB(x, y), got.getRGB(x, y), "pixel " + x + "," + y);
            }
        }
        for (int i = 0; i < SWEEP.length; i++) {
            var p = expected.pixel(SWEEP[i], ys[0][i]);
            assertEquals(LinePlot.colour(0), got.getRGB(p.x, p.y) & 0xffffff);
        }
        // Concentration: both files, one colour scale from 0.50 to 0.64.
        assertTrue(text.contains("| `concentration-after` | hybrid-distill | 0.60 | 0.6100 | +0.0900 | 0.620, 0.600 |"), text);
        BufferedImage before = ImageIO.read(dir.resolve("plots/concentration-before-layers.png").toFile());
        Heatmap scale = new Heatmap("t", "head", "layer", new double[][] {{0.5, 0.54}, {0.51, 0.53}})
                .withRange(0.5, 0.64);
        var cell = scale.cell(0, 0);
        assertEquals(ColourMap.rgb(0), before.getRGB(cell.x + 1, cell.y + 1) & 0xffffff, "the lowest value of all");
        assertFalse(text.contains("NaN"), text);
    }

    private static double[] shifted(double[] x, double d) {
        double[] out = x.clone();
        for (int i = 0; i < out.length; i++) {
            out[i] += d;
        }
        return out;
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%.3f", v);
    }

    static String concentration(String model, double mean, double[][] layerHead) {
        StringBuilder lh = new StringBuilder("[");
        for (int l = 0; l < layerHead.length; l++) {
            lh.append(l == 0 ? "" : ",").append(java.util.Arrays.toString(layerHead[l]));
        }
        lh.append(']');
        return String.format(Locale.ROOT, """
                {"kind": "sparge-concentration", "model": "%s", "mass": 0.6, "mean_sparsity": %s,
                 "layer_head_sparsity": %s, "png": {"layers": "x-layers.png", "map": "x-map.png"}}
                """, model, mean, lh);
    }

    @Test
    void refusesAnEmptyDirectoryAndBrokenJson() throws IOException {
        Path runs = Files.createDirectories(dir.resolve("runs"));
        var empty = assertThrows(IllegalArgumentException.class,
                () -> ResultsReport.write(runs, dir.resolve("R.md"), dir.resolve("p")));
        assertTrue(empty.getMessage().contains("no usable JSON") && empty.getMessage().contains("hybrid-distill"),
                empty.getMessage());
        Files.writeString(runs.resolve("full.json"), "{\"summary\": ");
        var broken = assertThrows(IllegalArgumentException.class,
                () -> ResultsReport.write(runs, dir.resolve("R.md"), dir.resolve("p")));
        assertTrue(broken.getMessage().contains("full.json") && broken.getMessage().contains("not valid JSON"),
                broken.getMessage());
        Files.writeString(runs.resolve("full.json"), "[1, 2]");
        var array = assertThrows(IllegalArgumentException.class,
                () -> ResultsReport.write(runs, dir.resolve("R.md"), dir.resolve("p")));
        assertTrue(array.getMessage().contains("expected a JSON object"), array.getMessage());
        assertFalse(Files.exists(dir.resolve("R.md")), "nothing written on failure");
    }

    @Test
    void evalReaderTakesTheSummaryFirstAndTheNominalSparsityFromTheName() throws IOException {
        Path f = dir.resolve("sweep-training-free-0.90.json");
        Files.writeString(f, "{\"summary\": {\"colour_rate\": 0.5}}");
        ExperimentRow r = EvalJsonReader.read(f);
        assertEquals(0.90, r.sparsity());
        assertEquals(0.90, r.nominalSparsity());
        assertEquals(0.5, r.metric(List.of("colour_rate")).orElseThrow());
        assertTrue(r.metric(List.of("velocity_error")).isEmpty());
        Files.writeString(f, eval(0.912, 0.25, 21, 0.003));
        r = EvalJsonReader.read(f);
        assertEquals(0.912, r.sparsity(), "the measured sparsity, not the per-prompt one");
        assertEquals(0.25, r.metric(List.of("color_rate")).orElseThrow(), "colour spelled either way");
        assertTrue(r.metric(List.of("colour")).isEmpty(), "no loose matching");
        assertTrue(r.metric(List.of("direction_rate")).isEmpty(), "null is missing");
    }

    @Test
    void readsSpargeEvalsOwnLayoutTheModelsRatesNotTheTeachers() throws IOException {
        // The layout EvalCommand writes: per-prompt rows (each with its own sparsity), the model's rates under
        // summary.sparse, the dense teacher's under summary.dense, then the means.
        Path f = dir.resolve("hybrid-distill.json");
        Files.writeString(f, """
                {"settings": {"attention": {"mode": "hybrid", "topk": 0.03}, "target_sparsity": 0.95, "seed": 1},
                 "rows": [{"prompt": "a red circle moving left", "sparsity": 0.961, "psnr_db": 12.0},
                          {"prompt": "a blue square moving up", "sparsity": 0.943, "psnr_db": 16.0}],
                 "velocity_error": [{"noise_level": 0.5, "relative_error": 0.07}],
                 "summary": {"sparse": {"clips": 2, "colour_rate": 0.5, "shape_rate": 1.0, "direction_rate": 0.0,
                                        "all_correct_rate": 0.0, "smoothness": 0.7, "edge_sharpness": 0.3,
                                        "background_noise": 0.05},
                             "dense": {"clips": 2, "colour_rate": 1.0, "shape_rate": 0.5, "direction_rate": 1.0,
                                       "all_correct_rate": 0.5, "smoothness": 0.9, "edge_sharpness": 0.4,
                                       "background_noise": 0.01},
                             "psnr_db_mean": 14.0, "identical_clips": 0, "sparsity_mean": 0.952,
                             "velocity_relative_error": 0.07, "velocity_relative_error_guided": 0.2}}
                """);
        ExperimentRow r = EvalJsonReader.read(f);
        assertEquals(0.952, r.sparsity(), "the mean over prompts, not the first prompt's 0.961");
        assertEquals(0.5, r.metric(ResultsReport.COLUMNS.get(0).aliases()).orElseThrow(), "the model's colour rate");
        assertEquals(1.0, r.metric(ResultsReport.COLUMNS.get(1).aliases()).orElseThrow(), "the model's shape rate");
        assertEquals(0.0, r.metric(ResultsReport.COLUMNS.get(2).aliases()).orElseThrow(), "the model's direction");
        Path md = dir.resolve("R.md");
        ResultsReport.write(dir, md, dir.resolve("p"));
        assertTrue(Files.readString(md).contains("| 5 | hybrid, distilled (SpargeAttention2) | 0.952 | 0.500 | 1.000 |"
                + " 0.000 | 0.000 | 0.700 | 0.300 | 0.0500 | 14.00 | 0.07000 | 0.20000 |"), Files.readString(md));
    }

    @Test
    void regeneratingKeepsAWrittenReadingAndOnlyThat() throws IOException {
        Path runs = Files.createDirectories(dir.resolve("runs"));
        Files.writeString(runs.resolve("full.json"), eval(0, 0.5, 20, 0.001));
        Path md = dir.resolve("RESULTS.md");
        ResultsReport.write(runs, md, dir.resolve("plots"));
        assertTrue(Files.readString(md).contains("**TO BE WRITTEN**"));
        String reading = "Distillation cuts the velocity error 3x; we disagree on Top-p.\n\n- a list item";
        Files.writeString(md, Files.readString(md).replace(ResultsReport.READING_PLACEHOLDER, reading + "\n\n"));
        Files.writeString(runs.resolve("full.json"), eval(0, 0.75, 20, 0.001));
        ResultsReport.write(runs, md, dir.resolve("plots"));
        String text = Files.readString(md);
        assertTrue(text.contains("## Reading\n\n" + reading + "\n\n## Inputs"), text);
        assertTrue(text.contains("| 1 | full attention | 0.000 | 0.750 |"), "the numbers are new: " + text);
        assertFalse(text.contains("TO BE WRITTEN"), text);
    }
}
