package io.sparge4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.execution.DeviceCatalog;
import io.sparge4j.engine.io.SafetensorsFile;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class AttentionBenchCommandTest {
    private static final List<String> FIELDS = List.of("backend", "dtype", "shape", "mode", "k", "p", "sparsity",
            "dense_fwd_ms", "sparse_fwd_ms", "fwd_speedup", "dense_bwd_ms", "sparse_bwd_ms", "bwd_speedup", "mask_ms",
            "max_rel_err");
    /** GPU runs also time the mask's kernels one by one. */
    private static final List<String> GPU_FIELDS = java.util.stream.Stream.concat(FIELDS.stream(),
            java.util.stream.Stream.of("mask_parts_ms")).toList();

    @Test
    void jsonIsOneLineWithExactlyTheIssuesFields() throws Exception {
        CliRun r = CliRun.of("attention-bench", "--backend", "cpu", "--shape", "1,2,384,32", "--mode", "hybrid",
                "--topk", "0.1", "--topp", "0.3", "--warmup", "0", "--reps", "1", "--json");
        assertEquals(0, r.exit(), r.toString());
        assertEquals(1, r.out().lines().count(), r.out());
        JsonNode node = new ObjectMapper().readTree(r.out());
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        assertEquals(FIELDS, names);
        assertEquals("cpu", node.get("backend").asText());
        assertEquals("f32", node.get("dtype").asText());
        assertEquals("1,2,384,32", node.get("shape").asText());
        assertEquals("hybrid", node.get("mode").asText());
        assertEquals(0.1, node.get("k").asDouble());
        assertEquals(0.3, node.get("p").asDouble());
        for (String f : FIELDS.subList(4, FIELDS.size())) {
            assertTrue(node.get(f).isNumber(), f + ": " + r.out());
        }
        double sparsity = node.get("sparsity").asDouble();
        assertTrue(sparsity >= 0 && sparsity <= 1, r.out());
        assertTrue(node.get("max_rel_err").asDouble() < 1e-4, r.out());
        assertEquals(node.get("dense_fwd_ms").asDouble() / node.get("sparse_fwd_ms").asDouble(),
                node.get("fwd_speedup").asDouble(), 1e-9);
    }

    @Test
    void targetSparsityCalibratesPAndQuickTableIsReadable() throws Exception {
        CliRun r = CliRun.of("attention-bench", "--quick", "--shape", "1,2,2048,64", "--target-sparsity", "0.9",
                "--json");
        assertEquals(0, r.exit(), r.toString());
        JsonNode node = new ObjectMapper().readTree(r.out());
        assertEquals(0.03, node.get("k").asDouble());
        assertEquals(0.9, node.get("sparsity").asDouble(), 0.005);
        assertTrue(node.get("calibration_note") == null, r.out());

        r = CliRun.of("attention-bench", "--quick");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().startsWith("attention-bench: backend cpu, dtype f32, shape 1,2,512,64 (B,H,N,d), mode hybrid"),
                r.out());
        assertTrue(r.out().contains("\nforward ") && r.out().contains("\nbackward ") && r.out().contains("\nmask "),
                r.out());
    }

    @Test
    void unreachableTargetSaysSoInJsonAndOnStderr() throws Exception {
        CliRun r = CliRun.of("attention-bench", "--quick", "--topk", "0.5", "--target-sparsity", "0.9", "--json");
        assertEquals(0, r.exit(), r.toString());
        JsonNode node = new ObjectMapper().readTree(r.out());
        assertTrue(node.get("calibration_note").asText().contains("out of reach"), r.out());
        assertTrue(r.err().startsWith("sparge: target sparsity 0.9000 is out of reach"), r.err());
    }

    @Test
    void openClQuickRunPrintsTheSameFields() throws Exception {
        assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): GPU bench skipped");
        CliRun r = CliRun.of("attention-bench", "--backend", "opencl", "--quick", "--json");
        assertEquals(0, r.exit(), r.toString());
        JsonNode node = new ObjectMapper().readTree(r.out());
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        assertEquals(GPU_FIELDS, names, r.out());
        assertTrue(node.get("backend").asText().startsWith("opencl ("), r.out());
        double sparsity = node.get("sparsity").asDouble();
        assertTrue(sparsity > 0 && sparsity < 1, r.out());
        assertTrue(node.get("max_rel_err").asDouble() < 1e-4, r.out());
    }

    @Test
    void openClBf16QuickRunPrintsTheSameFieldsForwardAndBackward() throws Exception {
        assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): GPU bench skipped");
        CliRun r = CliRun.of("attention-bench", "--backend", "opencl", "--quick", "--dtype", "bf16", "--json");
        assertEquals(0, r.exit(), r.toString());
        JsonNode node = new ObjectMapper().readTree(r.out());
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        assertEquals(GPU_FIELDS, names, r.out());
        assertEquals("bf16", node.get("dtype").asText());
        assertTrue(node.get("dense_bwd_ms").asDouble() > 0 && node.get("sparse_bwd_ms").asDouble() > 0, r.out());
        assertTrue(node.get("dense_fwd_ms").asDouble() > 0 && node.get("sparse_fwd_ms").asDouble() > 0, r.out());
        // bf16 P (unit roundoff 2^-8) on inputs of unit scale: a few 1e-3 relative at most (see GpuAttentionBenchTest
        // for the derived bound)
        assertTrue(node.get("max_rel_err").asDouble() < 3e-2, r.out());
    }

    @Test
    void cudaWithoutAGpuIsBadUsageSayingWhy() {
        assumeTrue(DeviceCatalog.cudaDevices().isEmpty(), "this machine has a CUDA device, so cuda can be opened");
        CliRun r = CliRun.of("attention-bench", "--backend", "cuda", "--quick", "--json");
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().startsWith("sparge: Invalid value for option '--backend': cuda cannot be opened: "),
                r.toString());
        assertEquals("", r.out());
    }

    @TempDir
    Path dir;

    /**
     * Reads the --write-mask file back and checks it against the run's JSON: u8, shape (1,2,4,8) for the quick shape
     * 1,2,512,64 with 128 x 64 blocks, only 0 and 1, the same metadata as {@code sparge mask}, and a fraction of
     * dropped blocks equal to the JSON sparsity (blocks are all full here, so block and pair fractions agree; 1e-12).
     */
    private static void assertMaskMatches(Path file, JsonNode node) throws Exception {
        try (SafetensorsFile f = SafetensorsFile.open(file); Tensor m = f.load("mask")) {
            assertEquals(DType.U8, m.dtype());
            assertArrayEquals(new int[] {1, 2, 512 / 128, 512 / 64}, m.shape());
            long kept = 0;
            for (long i = 0; i < m.numel(); i++) {
                long x = m.getLong(i);
                assertTrue(x == 0 || x == 1, "mask[" + i + "] = " + x);
                kept += x;
            }
            double dropped = 1 - (double) kept / m.numel();
            assertEquals(node.get("sparsity").asDouble(), dropped, 1e-12, node.toString());
            assertTrue(kept > 0 && kept < m.numel(), "a hybrid quick mask keeps some blocks and drops others: " + kept);
            Map<String, String> meta = f.metadata();
            assertEquals(Set.of("format", "mode", "topk", "topp", "bq", "bkv"), meta.keySet(), meta.toString());
            assertEquals("sparge4j block mask (B,H,nq,nk), 1 = kept", meta.get("format"));
            assertEquals("hybrid", meta.get("mode"));
            assertEquals(node.get("k").asDouble(), Double.parseDouble(meta.get("topk")));
            assertEquals(node.get("p").asDouble(), Double.parseDouble(meta.get("topp")));
            assertEquals("128", meta.get("bq"));
            assertEquals("64", meta.get("bkv"));
        }
    }

    @Test
    void writeMaskOnTheCpuWritesTheMaskTheRunUsed() throws Exception {
        Path file = dir.resolve("mask.safetensors");
        CliRun r = CliRun.of("attention-bench", "--quick", "--target-sparsity", "0.6", "--write-mask",
                file.toString(), "--json");
        assertEquals(0, r.exit(), r.toString());
        JsonNode node = new ObjectMapper().readTree(r.out());
        assertMaskMatches(file, node);
    }

    @Test
    void writeMaskOnOpenClWritesTheDevicesMask() throws Exception {
        assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): GPU bench skipped");
        Path file = dir.resolve("mask-opencl.safetensors");
        CliRun r = CliRun.of("attention-bench", "--backend", "opencl", "--quick", "--write-mask", file.toString(),
                "--json");
        assertEquals(0, r.exit(), r.toString());
        JsonNode node = new ObjectMapper().readTree(r.out());
        assertMaskMatches(file, node);
    }

    @Test
    void writeMaskIntoAMissingDirectoryFailsFirstNamingTheOption() {
        Path file = dir.resolve("no-such-dir").resolve("mask.safetensors");
        CliRun r = CliRun.of("attention-bench", "--quick", "--write-mask", file.toString(), "--json");
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.err().startsWith("sparge: --write-mask: cannot write " + file + ": directory "), r.toString());
        assertTrue(r.err().contains("does not exist"), r.toString());
        assertEquals("", r.out());
        assertFalse(Files.exists(file));
    }

    private static void assertUsage(String expectedStart, String... args) {
        CliRun r = CliRun.of(args);
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().startsWith("sparge: " + expectedStart), r.toString());
        assertEquals("", r.out());
    }

    @Test
    void badArgumentsAreUsageErrorsWithClearMessages() {
        assertUsage("Invalid value for option '--shape': got 'cpu-xl', expected cpu-s, wan13b-480p, wan14b-720p or"
                + " B,H,N,d", "attention-bench", "--shape", "cpu-xl", "--json");
        assertUsage("Invalid value for option '--shape': got '1,4,4096'", "attention-bench", "--shape", "1,4,4096");
        assertUsage("Invalid value for option '--backend': got 'metal', expected cpu, cuda or opencl",
                "attention-bench", "--backend", "metal");
        assertUsage("Invalid value for option '--backend': got 'emulator', expected cpu, cuda or opencl",
                "attention-bench", "--backend", "emulator");
        // GPU-only limits are checked before any device is opened, so these hold with or without a GPU.
        assertUsage("Invalid value for option '--bkv': got 32, expected 64 on the GPU", "attention-bench",
                "--backend", "cuda", "--quick", "--bkv", "32");
        assertUsage("Invalid value for option '--topk': got 0.0, expected a fraction in (0, 1]", "attention-bench",
                "--quick", "--topk", "0");
        assertUsage("Invalid value for option '--topp': got 2.0, expected a fraction in (0, 1]", "attention-bench",
                "--quick", "--topp", "2");
        assertUsage("Invalid value for option '--bq': got 0, expected a block size", "attention-bench", "--quick",
                "--bq", "0");
        assertUsage("Invalid value for option '--mode': got 'mask', expected one of dense, topk, topp, hybrid",
                "attention-bench", "--quick", "--mode", "mask");
        assertUsage("Invalid value for option '--target-sparsity': calibrates p with k fixed", "attention-bench",
                "--quick", "--mode", "topk", "--target-sparsity", "0.9");
        assertUsage("Invalid value for option '--dtype': got i32, expected f32, bf16 or f16", "attention-bench",
                "--quick", "--dtype", "i32");
        assertUsage("Invalid value for option '--dtype': got 'f64', expected one of", "attention-bench", "--quick",
                "--dtype", "f64");
        assertUsage("Invalid value for option '--reps': got 0", "attention-bench", "--quick", "--reps", "0");
    }
}
