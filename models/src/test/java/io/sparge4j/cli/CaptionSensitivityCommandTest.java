package io.sparge4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.models.pipeline.TinyModelDirs;
import io.sparge4j.models.wan.WanAttention;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code sparge caption-sensitivity} on a tiny random model directory (8 frames of 24x24; 2 clips at one level):
 * the printed line and the JSON's fields; bad flags exit 2 naming the flag and the value.
 */
class CaptionSensitivityCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] VARIANTS = {"colour", "shape", "direction", "empty"};

    @TempDir
    Path dir;

    @Test
    void writesTheLossesAndTheirChanges() throws Exception {
        long seed = new SplittableRandom().nextLong() & 0xffff;
        Path m = TinyModelDirs.write(dir.resolve("model"), seed, 8, 24, 24, WanAttention.defaults(), DType.F32);
        Path out = dir.resolve("f.json");
        CliRun r = CliRun.of("caption-sensitivity", "--model", m.toString(), "--clips", "2", "--levels", "0.9",
                "--value-clips", "40", "--out", out.toString());
        assertEquals(0, r.exit(), "model seed " + seed + ": " + r);
        assertTrue(r.out().lines().anyMatch(l -> l.matches("sigma 0\\.90: loss \\d+\\.\\d{5} \\| colour [+-]\\d+\\.\\d\\d%"
                + " \\| shape [+-]\\d+\\.\\d\\d% \\| direction [+-]\\d+\\.\\d\\d% \\| empty [+-]\\d+\\.\\d\\d%")), r.out());
        assertTrue(r.out().contains("wrote " + out), r.out());
        assertTrue(r.err().contains("clip 2/2"), "progress on stderr: " + r);

        JsonNode j = JSON.readTree(out.toFile());
        assertEquals(2, j.at("/settings/clips").asInt());
        assertEquals(0.9, j.at("/settings/levels/0").asDouble());
        assertEquals(8, j.at("/settings/frames").asInt());
        assertEquals(24, j.at("/settings/height").asInt());
        assertEquals("0.2,0.5", j.at("/settings/clip_speed").asText());
        assertEquals(1.0, j.at("/settings/clip_start_spread").asDouble());
        assertEquals("cpu", j.at("/settings/backend").asText());
        assertEquals(1, j.get("levels").size());
        JsonNode level = j.get("levels").get(0);
        assertEquals(0.9, level.get("noise_level").asDouble());
        double loss = level.get("loss").asDouble();
        assertTrue(loss > 0 && Double.isFinite(loss), level.toString());
        for (String v : VARIANTS) {
            double l = level.at("/losses/" + v).asDouble();
            double c = level.at("/relative_change/" + v).asDouble();
            assertTrue(level.at("/losses/" + v).isNumber() && l > 0 && Double.isFinite(l), v + ": " + level);
            assertTrue(level.at("/relative_change/" + v).isNumber() && Double.isFinite(c), v + ": " + level);
            assertEquals(l / loss - 1, c, 1e-12, v);
        }
        // the empty caption's zero features are 100% away from any caption's; the others' changes are finite, >= 0
        assertEquals(1.0, j.at("/text_feature_change/empty").asDouble(), 1e-12);
        for (String v : VARIANTS) {
            for (String key : new String[] {"/text_feature_change/", "/embedded_text_feature_change/"}) {
                JsonNode c = j.at(key + v);
                assertTrue(c.isNumber() && c.asDouble() >= 0 && Double.isFinite(c.asDouble()), key + v + ": " + j);
            }
        }
        assertTrue(r.out().lines().anyMatch(l -> l.matches("text features moved by the swap \\(relative L2\\):"
                + " \\| colour \\d+\\.\\d% \\| shape \\d+\\.\\d% \\| direction \\d+\\.\\d% \\| empty 100\\.0%")),
                r.out());
        // what the words are worth (CaptionWordValueTest checks the numbers): every drop below the variance
        JsonNode value = j.get("word_value_at_noise_1");
        assertEquals(40, value.get("clips").asInt());
        double variance = value.get("no_caption").asDouble();
        for (String f : new String[] {"colour", "shape_given_colour", "direction_given_colour",
            "random_direction_given_colour"}) {
            double v = value.get(f).asDouble();
            assertTrue(v > 0 && v < variance, f + ": " + value);
        }
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("what a word is worth at noise 1 (loss drop per element,"
                + " 40 clips): colour ")), r.out());
        assertEquals(2, j.get("captions").size());
        for (JsonNode c : j.get("captions")) {
            for (String f : new String[] {"right", "colour", "shape", "direction"}) {
                assertFalse(c.get(f).asText().isEmpty(), c.toString());
            }
        }
    }

    @Test
    void badValuesExitTwoNamingTheFlagAndValue() {
        CliRun clips = CliRun.of("caption-sensitivity", "--model", "tiny-random", "--clips", "0");
        assertEquals(2, clips.exit(), clips.toString());
        assertTrue(clips.err().contains("--clips") && clips.err().contains("got 0")
                && clips.err().contains("at least 1"), clips.err());
        CliRun valueClips = CliRun.of("caption-sensitivity", "--model", "tiny-random", "--value-clips", "1");
        assertEquals(2, valueClips.exit(), valueClips.toString());
        assertTrue(valueClips.err().contains("--value-clips") && valueClips.err().contains("1")
                && valueClips.err().contains("at least 2"), valueClips.err());
        CliRun levels = CliRun.of("caption-sensitivity", "--model", "tiny-random", "--levels", "0.9,1.5");
        assertEquals(2, levels.exit(), levels.toString());
        assertTrue(levels.err().contains("--levels") && levels.err().contains("1.5")
                && levels.err().contains("(0, 1]"), levels.err());
        CliRun speed = CliRun.of("caption-sensitivity", "--model", "tiny-random", "--clip-speed", "0.5");
        assertEquals(2, speed.exit(), speed.toString());
        assertTrue(speed.err().contains("--clip-speed") && speed.err().contains("'0.5'"), speed.err());
        CliRun noText = CliRun.of("caption-sensitivity", "--model", "tiny-random", "--clips", "1");
        assertEquals(2, noText.exit(), noText.toString());
        assertTrue(noText.err().contains("--model") && noText.err().contains("tiny-random")
                && noText.err().contains("text encoder"), noText.err());
        CliRun outDir = CliRun.of("caption-sensitivity", "--model", "tiny-random", "--out",
                dir.resolve("missing/f.json").toString());
        assertEquals(1, outDir.exit(), outDir.toString());
        assertTrue(outDir.err().contains("--out"), outDir.err());
        assertFalse(Files.exists(dir.resolve("missing")));
    }
}
