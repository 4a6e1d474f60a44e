package io.sparge4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MaskAnalysisCommandTest {
    @TempDir
    Path dir;

    @Test
    void jsonHasBothCasesThreeRulesAndThePaperNumbersAndPngsDecode() throws Exception {
        Path png = dir.resolve("png");
        CliRun r = CliRun.of("mask-analysis", "--json", "--tokens", "1024", "--seed", "3", "--png", png.toString());
        assertEquals(0, r.exit(), r.toString());
        JsonNode root = new ObjectMapper().readTree(r.out());
        assertEquals(1024, root.get("tokens").asInt());
        assertEquals(0.875, root.get("target_sparsity").asDouble());
        assertTrue(root.get("equal_sparsity").asText().startsWith("equal sparsity: every rule keeps 2 of 16 key blocks"),
                root.get("equal_sparsity").asText());
        JsonNode cases = root.get("cases");
        assertEquals(2, cases.size());
        double[][] paper = {{0.4150, 0.3726, 0.3707}, {0.1664, 0.2160, 0.1671}};
        String[] names = {"flat", "sink"};
        for (int c = 0; c < 2; c++) {
            JsonNode kase = cases.get(c);
            assertEquals(names[c], kase.get("case").asText());
            JsonNode rows = kase.get("rows");
            assertEquals(3, rows.size());
            String[] rules = {"topk", "topp", "hybrid"};
            double[] errors = new double[3];
            for (int i = 0; i < 3; i++) {
                JsonNode row = rows.get(i);
                assertEquals(rules[i], row.get("rule").asText());
                assertEquals(paper[c][i], row.get("paper_relative_l1").asDouble());
                // Equal sparsity: 2 of 16 blocks per row; calibration lands within a block of it.
                assertEquals(0.875, row.get("sparsity").asDouble(), 1.0 / 16, row.toString());
                errors[i] = row.get("relative_l1").asDouble();
                assertTrue(errors[i] > 0 && errors[i] < 1, row.toString());
            }
            assertTrue(rows.get(0).get("p").isNull() && rows.get(1).get("k").isNull(), rows.toString());
            String better = errors[0] <= errors[1] ? "topk" : "topp";
            assertEquals(better, kase.get("better_single_rule").asText());
            double gap = (errors[2] - Math.min(errors[0], errors[1])) / Math.min(errors[0], errors[1]);
            assertEquals(gap, kase.get("hybrid_gap").asDouble(), 1e-12);
            assertEquals(gap <= 0.1, kase.get("hybrid_close").asBoolean());
        }
        List<String> files = new java.util.ArrayList<>();
        root.get("png").forEach(f -> files.add(f.asText()));
        assertEquals(List.of(png.resolve("flat-pooled.png").toString(), png.resolve("flat-masks.png").toString(),
                png.resolve("sink-pooled.png").toString(), png.resolve("sink-masks.png").toString()), files);
        for (String name : new String[] {"flat", "sink"}) {
            BufferedImage pooled = ImageIO.read(png.resolve(name + "-pooled.png").toFile());
            BufferedImage masks = ImageIO.read(png.resolve(name + "-masks.png").toFile());
            assertNotNull(pooled, name);
            assertNotNull(masks, name);
            // 16 key blocks x 8 query blocks at 16 pixels a block; three mask panels side by side.
            assertEquals(256, pooled.getWidth());
            assertEquals(128, pooled.getHeight());
            assertTrue(masks.getWidth() > 3 * pooled.getWidth() && masks.getHeight() == pooled.getHeight(),
                    masks.getWidth() + "x" + masks.getHeight());
        }
    }

    @Test
    void tableShowsRulesPaperNumbersAndAVerdictPerCase() {
        CliRun r = CliRun.of("mask-analysis", "--tokens", "512", "--bkv", "32");
        assertEquals(0, r.exit(), r.toString());
        String text = r.out();
        assertTrue(text.contains("equal sparsity: every rule keeps 2 of 16 key blocks per row"), text);
        for (String n : new String[] {"0.4150", "0.3726", "0.3707", "0.1664", "0.2160", "0.1671"}) {
            assertTrue(text.contains(n), n + " in\n" + text);
        }
        assertTrue(text.matches("(?s).*\nflat: hybrid is [+-]\\d+\\.\\d% from the better single rule \\(top[kp]\\): (close|NOT close).*"),
                text);
        assertTrue(text.matches("(?s).*\nsink: hybrid is [+-]\\d+\\.\\d% from the better single rule.*"), text);
    }

    @Test
    void tokensMustBeAMultipleOfTheBlocks() {
        CliRun r = CliRun.of("mask-analysis", "--tokens", "1000");
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().startsWith("sparge: Invalid value for option '--tokens': got 1000, expected a positive multiple"
                + " of --bq 128 and --bkv 64"), r.err());
        r = CliRun.of("mask-analysis", "--tokens", "512");
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().startsWith("sparge: Invalid value for option '--tokens': got 512, expected at least 9 key"
                + " blocks, i.e. --tokens >= 576 with --bkv 64"), r.err());
        r = CliRun.of("mask-analysis", "--target-sparsity", "1");
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().startsWith("sparge: Invalid value for option '--target-sparsity': got 1.0"), r.err());
    }
}
