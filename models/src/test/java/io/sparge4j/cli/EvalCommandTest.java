package io.sparge4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.models.pipeline.TinyModelDirs;
import io.sparge4j.models.wan.WanAttention;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code sparge eval} on a tiny random model directory (8 frames of 24x24, 1152 tokens; 2 prompts, 2 steps): the
 * JSON's rows and summary; dense against its own dense teacher gives identical clips and zero velocity error, which
 * hybrid attention does not; --target-sparsity reaches its target; --samples writes GIFs; OpenCL (PoCL) agrees with
 * the CPU.
 */
class EvalCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private Path model(WanAttention attention) throws Exception {
        return TinyModelDirs.write(dir.resolve("model"), 21, 8, 24, 24, attention, DType.F32);
    }

    @Test
    void hybridAgainstTheDenseTeacher() throws Exception {
        Path m = model(WanAttention.defaults().withTopk(0.2).withTopp(0.3).withBlocks(64, 64));
        Path out = dir.resolve("eval.json");
        Path samples = dir.resolve("samples");
        CliRun r = CliRun.of("eval", "--model", m.toString(), "--prompts", "2", "--steps", "2",
                "--velocity-samples", "2", "--samples", samples.toString(), "--out", out.toString());
        assertEquals(0, r.exit(), r.toString());
        JsonNode j = JSON.readTree(out.toFile());
        assertEquals("hybrid", j.at("/settings/attention/mode").asText(), "generation.json's attention");
        assertEquals(8, j.at("/settings/frames").asInt());
        assertEquals(2, j.get("rows").size());
        for (JsonNode row : j.get("rows")) {
            assertTrue(row.get("sparsity").asDouble() > 0.1, row.toString());
            assertTrue(row.get("psnr_db").isNumber(), "sparse and dense differ: " + row);
            assertTrue(row.at("/sparse/requested_colour").isTextual(), row.toString());
            assertTrue(row.at("/dense/smoothness").isNumber() || row.at("/dense/smoothness").isNull());
        }
        assertEquals(2, j.get("velocity_error").size());
        double v = j.at("/summary/velocity_relative_error").asDouble();
        assertTrue(v > 0 && Double.isFinite(v), "a sparse student differs from its dense teacher: " + v);
        double guided = j.at("/summary/velocity_relative_error_guided").asDouble();
        assertTrue(guided > 0 && Double.isFinite(guided) && guided != v, "the guided error is its own: " + guided);
        assertTrue(j.at("/velocity_error/0/guided_relative_error").isNumber());
        assertEquals(2, j.at("/summary/sparse/clips").asInt());
        assertTrue(j.at("/summary/sparsity_mean").asDouble() > 0.1);
        assertEquals(4, Files.list(samples).filter(p -> p.toString().endsWith(".gif")).count());
        assertTrue(r.out().contains("velocity_relative_error"), r.out());
        assertLogMatchesReport(dir.resolve("eval.jsonl"), j);
    }

    /**
     * The log (a line per prompt, then per velocity sample) says what the report says: the same prompts, sparsities,
     * PSNRs, verdicts and velocity errors, exactly (both are written from the same values), with positive times.
     */
    private static void assertLogMatchesReport(Path log, JsonNode report) throws Exception {
        List<JsonNode> lines = new ArrayList<>();
        for (String line : Files.readAllLines(log)) {
            lines.add(JSON.readTree(line));
        }
        JsonNode rows = report.get("rows");
        JsonNode velocity = report.get("velocity_error");
        assertEquals(rows.size() + velocity.size(), lines.size(), lines.toString());
        int correct = 0;
        for (int i = 0; i < rows.size(); i++) {
            JsonNode line = lines.get(i);
            JsonNode row = rows.get(i);
            assertEquals(i, line.get("prompt_index").asInt());
            assertEquals(rows.size(), line.get("prompts").asInt());
            assertEquals(row.get("prompt"), line.get("prompt"));
            assertEquals(row.get("seed"), line.get("seed"));
            assertEquals(row.get("sparsity").asDouble(), line.get("sparsity").asDouble());
            assertEquals(row.get("psnr_db"), line.get("psnr_db"));
            assertEquals(row.at("/sparse/all_correct"), line.get("sparse_all_correct"));
            assertEquals(row.at("/dense/all_correct"), line.get("dense_all_correct"));
            correct += row.at("/sparse/all_correct").asBoolean() ? 1 : 0;
            assertEquals((double) correct / (i + 1), line.get("sparse_all_correct_rate_so_far").asDouble(), 1e-12);
            assertTrue(line.get("sparse_seconds").asDouble() > 0 && line.get("dense_seconds").asDouble() > 0, line
                    .toString());
            assertTrue(line.get("tokens_per_s").asDouble() > 0, line.toString());
        }
        for (int k = 0; k < velocity.size(); k++) {
            JsonNode line = lines.get(rows.size() + k);
            assertEquals(k, line.get("velocity_sample").asInt());
            assertEquals(velocity.get(k).get("relative_error"), line.get("relative_error"));
            assertEquals(velocity.get(k).get("guided_relative_error"), line.get("guided_relative_error"));
            assertEquals(velocity.get(k).get("noise_level"), line.get("noise_level"));
        }
    }

    @Test
    void theLogGoesWhereToldAndIsRefusedOnTheReport() throws Exception {
        Path m = model(WanAttention.defaults().withBlocks(64, 64));
        Path out = dir.resolve("dense-report");
        Path log = dir.resolve("progress.jsonl");
        CliRun r = CliRun.of("eval", "--model", m.toString(), "--attention", "dense", "--prompts", "1", "--steps",
                "1", "--velocity-samples", "1", "--out", out.toString(), "--log", log.toString());
        assertEquals(0, r.exit(), r.toString());
        assertLogMatchesReport(log, JSON.readTree(out.toFile()));
        assertTrue(!Files.exists(dir.resolve("dense-report.jsonl")), "no default log beside an explicit one");

        Path missing = dir.resolve("no-such-dir").resolve("log.jsonl");
        CliRun bad = CliRun.of("eval", "--model", m.toString(), "--attention", "dense", "--prompts", "1",
                "--steps", "1", "--out", dir.resolve("b.json").toString(), "--log", missing.toString());
        assertEquals(1, bad.exit(), bad.toString());
        assertTrue(bad.err().contains("--log: " + missing) && bad.err().contains("does not exist"), bad.err());
        Path same = dir.resolve("same.json");
        CliRun clash = CliRun.of("eval", "--model", m.toString(), "--attention", "dense", "--prompts", "1",
                "--steps", "1", "--out", same.toString(), "--log", same.toString());
        assertEquals(1, clash.exit(), clash.toString());
        assertTrue(clash.err().contains("--log: " + same + " is the --out report"), clash.err());
        assertTrue(!Files.exists(same) && !Files.exists(dir.resolve("b.json")), "nothing written");
    }

    @Test
    void theDefaultLogSitsBesideTheReport() {
        assertEquals(Path.of("runs", "a.jsonl"), EvalCommand.defaultLog(Path.of("runs", "a.json")));
        assertEquals(Path.of("runs", "a.txt.jsonl"), EvalCommand.defaultLog(Path.of("runs", "a.txt")));
        assertEquals(Path.of("b.jsonl"), EvalCommand.defaultLog(Path.of("b")));
    }

    @Test
    void denseAgainstItselfIsExactAndTargetSparsityIsReached() throws Exception {
        Path m = model(WanAttention.defaults().withBlocks(64, 64));
        Path out = dir.resolve("dense.json");
        CliRun r = CliRun.of("eval", "--model", m.toString(), "--attention", "dense", "--prompts", "1", "--steps",
                "2", "--velocity-samples", "1", "--out", out.toString());
        assertEquals(0, r.exit(), r.toString());
        JsonNode j = JSON.readTree(out.toFile());
        assertEquals(1, j.at("/summary/identical_clips").asInt());
        assertTrue(j.at("/rows/0/psnr_db").isNull());
        assertEquals(0.0, j.at("/summary/velocity_relative_error").asDouble());
        assertEquals(0.0, j.at("/summary/velocity_relative_error_guided").asDouble());
        assertEquals(0.0, j.at("/summary/sparsity_mean").asDouble());

        Path cal = dir.resolve("cal.json");
        CliRun c = CliRun.of("eval", "--model", m.toString(), "--attention", "topp", "--target-sparsity", "0.6",
                "--prompts", "1", "--steps", "1", "--velocity-samples", "1", "--out", cal.toString());
        assertEquals(0, c.exit(), c.toString());
        JsonNode k = JSON.readTree(cal.toFile());
        assertTrue(k.at("/settings/attention/topp").asDouble() < 1, k.toString());
        assertEquals(0.6, k.at("/settings/target_sparsity").asDouble());
        assertTrue(k.at("/rows/0/sparsity").asDouble() > 0.3, "calibrated on a noisy clip, near its target: " + k);
    }

    @Test
    void errorsNameTheFlag() throws Exception {
        CliRun r = CliRun.of("eval", "--model", "tiny-random", "--out", dir.resolve("x.json").toString());
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("text encoder"), r.err());
        CliRun t = CliRun.of("eval", "--model", "tiny-random", "--target-sparsity", "1.5", "--out",
                dir.resolve("x.json").toString());
        assertEquals(1, t.exit());
        assertTrue(t.err().contains("--target-sparsity") && t.err().contains("1.5"), t.err());
    }

    /** A bad --velocity-samples fails before any clip is generated (it failed after all of them) and writes nothing. */
    @Test
    void badVelocitySamplesFailBeforeTheWork() throws Exception {
        Path m = model(WanAttention.defaults().withBlocks(64, 64));
        Path out = dir.resolve("v.json");
        Path samples = dir.resolve("v-samples");
        CliRun r = CliRun.of("eval", "--model", m.toString(), "--attention", "dense", "--prompts", "1", "--steps",
                "1", "--velocity-samples", "0", "--samples", samples.toString(), "--out", out.toString());
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.err().contains("--velocity-samples: got 0, expected at least 1"), r.err());
        assertTrue(!Files.exists(out) && !Files.exists(samples), "nothing written, no sample generated");
    }

    /** The same evaluation on PoCL and on the CPU: sparsity and velocity error within f32 rounding's reach. */
    @Test
    void openClAgreesWithTheCpu() throws Exception {
        assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): eval --backend"
                + " opencl skipped");
        Path m = model(WanAttention.defaults().withMode(MaskMode.HYBRID).withTopk(0.3).withTopp(0.5));
        JsonNode[] runs = new JsonNode[2];
        String[] backends = {"cpu", "opencl"};
        for (int i = 0; i < 2; i++) {
            Path out = dir.resolve(backends[i] + ".json");
            CliRun r = CliRun.of("eval", "--model", m.toString(), "--backend", backends[i], "--prompts", "1",
                    "--steps", "1", "--velocity-samples", "1", "--out", out.toString());
            assertEquals(0, r.exit(), r.toString());
            runs[i] = JSON.readTree(out.toFile());
        }
        assertEquals("opencl", runs[1].at("/settings/backend").asText());
        assertEquals(runs[0].at("/summary/sparsity_mean").asDouble(), runs[1].at("/summary/sparsity_mean").asDouble(),
                0.02, "the same masks up to ties");
        double a = runs[0].at("/summary/velocity_relative_error").asDouble();
        double b = runs[1].at("/summary/velocity_relative_error").asDouble();
        assertTrue(Math.abs(a - b) <= 0.05 * a + 1e-4, "velocity error cpu " + a + ", opencl " + b);
    }
}
