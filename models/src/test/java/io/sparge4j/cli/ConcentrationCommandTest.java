package io.sparge4j.cli;

import io.sparge4j.models.report.ConcentrationAnalysisTest;
import io.sparge4j.models.report.ConcentrationJson;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConcentrationCommandTest {
    @TempDir
    Path dir;

    @Test
    void readsATrainingOutputDirectoryAndWritesJsonAndHeatmaps() throws IOException {
        Path model = Files.createDirectories(dir.resolve("model"));
        ConcentrationAnalysisTest.writeTinyModel(model, 9);
        // the training commands' layout: generation.json gives the video size (8 x 24 x 24) and blocks (64 x 32)
        Path prefix = dir.resolve("out/conc");
        Files.createDirectories(prefix.getParent());
        CliRun run = CliRun.of("concentration", "--model", model.toString(), "--samples", "1", "--noise-levels",
                "0.5", "--clip-speed", "0.4,0.6", "--clip-start", "trailing", "--out", prefix.toString());
        assertEquals(0, run.exit(), run.toString());
        assertTrue(run.out().contains("1152 tokens, 18 x 36 blocks"), run.toString());
        assertTrue(run.err().contains("concentration 1/1: clip 0 t=0.5"), "progress on stderr: " + run);
        ConcentrationJson.Summary s = ConcentrationJson.read(dir.resolve("out/conc.json"));
        String json = Files.readString(dir.resolve("out/conc.json"));
        assertTrue(json.contains("\"clip_start\" : \"trailing\""), "the clips' motion is recorded: " + json);
        assertEquals(2, s.layerHead().length);
        assertEquals(0.6, s.mass());
        assertTrue(s.meanSparsity() > 0 && s.meanSparsity() < 1, String.valueOf(s.meanSparsity()));
        for (String png : new String[] {s.layersPng(), s.mapPng()}) {
            BufferedImage img = ImageIO.read(dir.resolve("out").resolve(png).toFile());
            assertNotNull(img, png);
            assertTrue(img.getWidth() > 100 && img.getHeight() > 100, png);
        }
    }

    @Test
    void badFlagsFailWithTheirName() {
        CliRun mass = CliRun.of("concentration", "--model", "tiny-random", "--mass", "1.5", "--out",
                dir.resolve("c").toString());
        assertEquals(1, mass.exit(), mass.toString());
        assertTrue(mass.err().contains("mass is 1.5"), mass.toString());
        CliRun forward = CliRun.of("concentration", "--model", "tiny-random", "--forward", "sparse", "--out",
                dir.resolve("c").toString());
        assertTrue(forward.err().contains("--forward: got 'sparse'"), forward.toString());
        CliRun start = CliRun.of("concentration", "--model", "tiny-random", "--clip-start", "left", "--out",
                dir.resolve("c").toString());
        assertTrue(start.err().contains("--clip-start") && start.err().contains("'left'"), start.toString());
        CliRun missing = CliRun.of("concentration", "--model", dir.resolve("nope").toString(), "--out",
                dir.resolve("c").toString());
        assertTrue(missing.err().contains("expected a model directory"), missing.toString());
    }
}
