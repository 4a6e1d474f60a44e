package io.sparge4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@code sparge model-bench} on small sizes: the JSON's fields and their sanity, and the options' errors. */
class ModelBenchCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> CASE_FIELDS = List.of("bench", "config", "dim", "layers", "full_layers",
            "layers_cut", "heads", "tokens", "backend", "device", "precision", "mode", "topk", "topp", "sparsity",
            "forwards_per_step", "step_ms_median", "step_ms_min", "step_ms_all", "step_ms_cfg", "attention_ms_median",
            "attention_share", "peak_bytes", "peak_heap_bytes", "date", "java");

    /** tiny-4096's shapes at 2 frames of 32 x 32 px (512 tokens: 4 query blocks of 128, 8 key blocks of 64). */
    private static final String[] SMALL = {"model-bench", "--config", "tiny-4096", "--frames", "2", "--height", "32",
            "--width", "32", "--layers", "2", "--warmup", "0", "--reps", "2", "--topk", "0.1", "--topp", "0.1"};

    private static List<JsonNode> lines(CliRun r) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (String line : r.out().lines().toList()) {
            out.add(JSON.readTree(line));
        }
        return out;
    }

    /** SMALL with options replaced or added (picocli takes each option once). */
    private static String[] with(String[] base, String... more) {
        java.util.Map<String, String> options = new java.util.LinkedHashMap<>();
        for (int i = 1; i < base.length; i += 2) {
            options.put(base[i], base[i + 1]);
        }
        for (int i = 0; i < more.length; i += 2) {
            options.put(more[i], more[i + 1]);
        }
        List<String> all = new ArrayList<>(List.of(base[0]));
        options.forEach((k, v) -> {
            all.add(k);
            all.add(v);
        });
        return all.toArray(String[]::new);
    }

    private static void checkCase(JsonNode c, String backend, String mode, int reps) {
        checkCase(c, backend, "f32", mode, reps);
    }

    private static void checkCase(JsonNode c, String backend, String precision, String mode, int reps) {
        for (String f : CASE_FIELDS) {
            assertTrue(c.has(f), f + " missing: " + c);
        }
        assertEquals("wan-step", c.get("bench").asText());
        assertEquals("tiny-4096", c.get("config").asText());
        assertEquals(256, c.get("dim").asInt());
        assertEquals(4, c.get("heads").asInt());
        assertEquals(2, c.get("layers").asInt());
        assertEquals(8, c.get("full_layers").asInt());
        assertTrue(c.get("layers_cut").asBoolean(), c.toString());
        assertEquals(2 * 16 * 16, c.get("tokens").asInt());
        assertEquals(backend, c.get("backend").asText());
        assertFalse(c.get("device").asText().isBlank(), c.toString());
        assertEquals(precision, c.get("precision").asText());
        assertEquals(mode, c.get("mode").asText());
        assertEquals(1, c.get("forwards_per_step").asInt());
        assertEquals(reps, c.get("step_ms_all").size(), c.toString());
        assertEquals(2 * reps, c.get("attention_calls").asInt(), "2 layers x reps self-attention calls: " + c);
        double median = c.get("step_ms_median").asDouble();
        double min = c.get("step_ms_min").asDouble();
        assertTrue(min > 0 && min <= median, c.toString());
        assertEquals(2 * median, c.get("step_ms_cfg").asDouble(), 1e-9);
        double attention = c.get("attention_ms_median").asDouble();
        assertTrue(attention > 0 && attention < median, c.toString());
        double share = c.get("attention_share").asDouble();
        assertEquals(attention / median, share, 1e-9);
        assertTrue(share > 0 && share <= 1, c.toString());
        assertTrue(c.get("peak_bytes").asLong() > 0, c.toString());
        assertTrue(c.get("peak_heap_bytes").asLong() > 0, c.toString());
        double sparsity = c.get("sparsity").asDouble();
        if (mode.equals("dense")) {
            assertEquals(0.0, sparsity, "dense keeps every block: " + c);
            assertTrue(c.get("topk").isNull() && c.get("topp").isNull(), c.toString());
        } else {
            assertTrue(sparsity > 0 && sparsity < 1, c.toString());
            assertEquals(0.1, c.get("topk").asDouble());
        }
    }

    @Test
    void cpuDenseAndHybridGiveSaneLinesAndASpeedupLine() throws Exception {
        CliRun r = CliRun.of(SMALL);
        assertEquals(0, r.exit(), r.toString());
        List<JsonNode> lines = lines(r);
        assertEquals(3, lines.size(), r.out());
        checkCase(lines.get(0), "cpu", "dense", 2);
        checkCase(lines.get(1), "cpu", "hybrid", 2);
        assertTrue(lines.get(0).get("cross_attention_ms_median").asDouble() > 0, lines.get(0).toString());
        JsonNode s = lines.get(2);
        assertEquals("wan-step-speedup", s.get("bench").asText());
        assertEquals("cpu", s.get("backend").asText());
        assertEquals("hybrid", s.get("sparse_mode").asText());
        assertEquals(lines.get(0).get("attention_ms_median").asDouble() / lines.get(1).get("attention_ms_median")
                .asDouble(), s.get("attention_speedup").asDouble(), 1e-9);
        assertEquals(lines.get(0).get("step_ms_median").asDouble() / lines.get(1).get("step_ms_median").asDouble(),
                s.get("step_speedup").asDouble(), 1e-9);
    }

    @Test
    void targetSparsityBisectsPToReachIt() throws Exception {
        CliRun r = CliRun.of(with(SMALL, "--modes", "hybrid", "--reps", "1", "--target-sparsity", "0.6"));
        assertEquals(0, r.exit(), r.toString());
        List<JsonNode> lines = lines(r);
        assertEquals(1, lines.size(), "no dense case, no speedup line: " + r.out());
        JsonNode c = lines.getFirst();
        assertEquals(0.6, c.get("target_sparsity").asDouble());
        assertTrue(c.get("sparsity").asDouble() >= 0.6, c.toString());
        double p = c.get("topp").asDouble();
        assertTrue(p > 0 && p < 1 && p != 0.1, "p is the calibrated one: " + c);
    }

    @Test
    void badOptionsAreNamedWithTheValueAndTheExpectation() throws Exception {
        String[][] cases = {
                {"--config", "nope", "expected tiny-4096, wan-1.3b, wan-14b or a model directory"},
                {"--modes", "dense,sparse", "expected a comma list of dense, topk, topp, hybrid"},
                {"--modes", "dense,dense", "each mode once"},
                {"--topk", "0", "expected a fraction in (0, 1]"},
                {"--topp", "1.5", "expected a fraction in (0, 1]"},
                {"--target-sparsity", "1", "expected a fraction in (0, 1)"},
                {"--warmup", "-1", "expected 0 or more"},
                {"--reps", "0", "expected 1 or more"},
                {"--layers", "0", "expected 1 or more"},
                {"--height", "33", "expected a multiple of 2"},
                {"--backend", "metal", "expected cpu, cuda, opencl or emulator"},
                {"--precision", "bf16", "expected f32 with --backend cpu"},
                {"--precision", "f16", "expected f32 with --backend cpu"},
                {"--precision", "f64", "expected f32, bf16 or f16"},
        };
        for (String[] c : cases) {
            CliRun r = CliRun.of(with(SMALL, c[0], c[1]));
            assertEquals(2, r.exit(), r.toString());
            assertTrue(r.err().contains("'" + c[0] + "'") && r.err().contains(c[1]) && r.err().contains(c[2]),
                    String.join(" ", c) + " -> " + r.err());
            assertTrue(r.out().isEmpty(), r.toString());
        }
    }

    @Test
    void deviceBackendsRefuseHeadDimsTheirKernelsLack(@TempDir Path dir) throws Exception {
        // dim 96 / 3 heads = head dim 32: the CPU runs it, the device flash kernels do not
        Files.writeString(dir.resolve("config.json"), "{\"dim\": 96, \"ffn_dim\": 192, \"num_heads\": 3,"
                + " \"num_layers\": 1, \"in_dim\": 3, \"out_dim\": 3, \"text_dim\": 32, \"text_len\": 8,"
                + " \"freq_dim\": 32, \"pixel_space\": true}");
        CliRun r = CliRun.of(with(SMALL, "--config", dir.toString(), "--backend", "opencl"));
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().contains("'--config'") && r.err().contains("head dim 64 or 128"), r.err());
        r = CliRun.of(with(SMALL, "--config", dir.toString(), "--layers", "1"));
        assertEquals(0, r.exit(), r.toString());
        assertEquals(dir.getFileName().toString(), lines(r).getFirst().get("config").asText());
    }

    @Test
    void openClRunsTheSameBenchOnTheDevice() throws Exception {
        assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): --backend opencl"
                + " model-bench skipped");
        CliRun r = CliRun.of(with(SMALL, "--backend", "opencl", "--reps", "1"));
        assertEquals(0, r.exit(), r.toString());
        List<JsonNode> lines = lines(r);
        assertEquals(3, lines.size(), r.out());
        checkCase(lines.get(0), "opencl", "dense", 1);
        checkCase(lines.get(1), "opencl", "hybrid", 1);
        assertTrue(lines.get(0).get("cross_attention_ms_median").isNull(), "not timed on the device");
        assertEquals("device", lines.get(0).get("peak_memory").asText());
    }

    /** --precision f16 runs the whole model in f16 on a device backend (the emulator here) and says so. */
    @Test
    void f16RunsOnTheEmulator() throws Exception {
        CliRun r = CliRun.of(with(SMALL, "--backend", "emulator", "--precision", "f16", "--modes", "hybrid",
                "--reps", "1"));
        assertEquals(0, r.exit(), r.toString());
        List<JsonNode> lines = lines(r);
        assertEquals(1, lines.size(), r.out());
        checkCase(lines.getFirst(), "emulator", "f16", "hybrid", 1);
    }
}
