package io.sparge4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.engine.io.SafetensorsFile;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MaskCommandTest {
    // N = 300 is not a multiple of either block size: the last query block has 44 tokens, the last key block 12.
    private static final int B = 2;
    private static final int H = 3;
    private static final int N = 300;
    private static final int D = 16;
    private static final int BQ = 64;
    private static final int BKV = 32;

    @TempDir
    Path dir;

    private final float[] q = TestTensors.gaussian(11, B * H * N * D);
    private final float[] k = TestTensors.gaussian(12, B * H * N * D);

    private static byte[] maskBytes(Path file) throws Exception {
        try (SafetensorsFile f = SafetensorsFile.open(file); Tensor m = f.load("mask")) {
            assertEquals(DType.U8, m.dtype());
            assertArrayEquals(new int[] {B, H, 5, 10}, m.shape());
            byte[] out = new byte[(int) m.numel()];
            for (int i = 0; i < out.length; i++) {
                out[i] = (byte) m.getLong(i);
            }
            return out;
        }
    }

    private static byte[] asBytes(boolean[] kept) {
        byte[] out = new byte[kept.length];
        for (int i = 0; i < kept.length; i++) {
            out[i] = (byte) (kept[i] ? 1 : 0);
        }
        return out;
    }

    @Test
    void hybridMaskMatchesFloat64ReferenceAndSelectBlocks() throws Exception {
        Path qf = TestTensors.write(dir, "q.safetensors", "q", DType.F32, q, B, H, N, D);
        Path kf = TestTensors.write(dir, "k.safetensors", "k", DType.F32, k, B, H, N, D);
        Path out = dir.resolve("m.safetensors");
        CliRun r = CliRun.of("mask", "--q", qf.toString(), "--k", kf.toString(), "--mode", "hybrid", "--topk", "0.2",
                "--topp", "0.3", "--bq", "64", "--bkv", "32", "--out", out.toString());
        assertEquals(0, r.exit(), r.toString());
        byte[] got = maskBytes(out);
        boolean[] expected = Float64Attention.mask(q, k, B, H, N, D, BQ, BKV, true, 0.2, true, 0.3);
        assertArrayEquals(asBytes(expected), got);
        try (Tensor tq = Tensor.of(q, B, H, N, D); Tensor tk = Tensor.of(k, B, H, N, D)) {
            SparseAttention.Config c = SparseAttention.Config.defaults().withTopk(0.2).withTopp(0.3).withBlocks(BQ, BKV);
            try (Tensor m = SparseAttention.selectBlocks(tq, tk, c).mask().toTensor()) {
                for (int i = 0; i < got.length; i++) {
                    assertEquals(m.getLong(i), got[i], "mask element " + i);
                }
            }
        }

        JsonNode json = new ObjectMapper().readTree(r.out());
        assertEquals("hybrid", json.get("mode").asText());
        assertEquals(0.2, json.get("k").asDouble());
        assertEquals(0.3, json.get("p").asDouble());
        assertEquals(5, json.get("blocks").get("nq").asInt());
        assertEquals(10, json.get("blocks").get("nk").asInt());
        int kept = 0;
        for (boolean x : expected) {
            kept += x ? 1 : 0;
        }
        assertEquals(kept, json.get("blocks").get("kept").asInt());
        double total = 0;
        for (int h = 0; h < H; h++) {
            double head = 0;
            for (int b = 0; b < B; b++) {
                head += Float64Attention.sparsity(expected, b * H + h, N, BQ, BKV) / B;
            }
            assertEquals(head, json.get("sparsity_per_head").get(h).asDouble(), 1e-12, "head " + h);
            total += head / H;
        }
        assertEquals(total, json.get("sparsity").asDouble(), 1e-12);
        JsonNode perRow = json.get("kept_per_row");
        assertTrue(perRow.get("min").asInt() >= 2, "Top-k 0.2 of 10 blocks keeps at least 2: " + perRow);
        assertEquals((double) kept / (B * H * 5), perRow.get("mean").asDouble(), 1e-12);
        JsonNode mass = json.get("retained_mass");
        assertTrue(mass.get("min").asDouble() >= 0.3 - 1e-6, "Top-p 0.3 keeps at least 0.3 of each row: " + mass);
        assertTrue(mass.get("max").asDouble() <= 1 + 1e-6, mass.toString());
    }

    @Test
    void halfPrecisionInputsAndBnhdLayoutGiveTheSameMaskAsTheirF32BhndValues() throws Exception {
        float[] qh = TestTensors.rounded(DType.BF16, q);
        float[] kh = TestTensors.rounded(DType.F16, k);
        Path qf = TestTensors.write(dir, "q.safetensors", "q", DType.BF16, TestTensors.toBnhd(q, B, H, N, D), B, N, H, D);
        Path kf = TestTensors.write(dir, "k.safetensors", "k", DType.F16, TestTensors.toBnhd(k, B, H, N, D), B, N, H, D);
        Path out = dir.resolve("m.safetensors");
        CliRun r = CliRun.of("mask", "--q", qf.toString(), "--k", kf.toString(), "--mode", "topk", "--topk", "0.25",
                "--bq", "64", "--bkv", "32", "--layout", "bnhd", "--out", out.toString());
        assertEquals(0, r.exit(), r.toString());
        boolean[] expected = Float64Attention.mask(qh, kh, B, H, N, D, BQ, BKV, true, 0.25, false, 1);
        assertArrayEquals(asBytes(expected), maskBytes(out));
        JsonNode json = new ObjectMapper().readTree(r.out());
        assertTrue(json.get("p").isNull(), r.out());
        // Top-k alone keeps exactly ceil(0.25 * 10) = 3 blocks in every row.
        assertEquals(3, json.get("kept_per_row").get("min").asInt());
        assertEquals(3, json.get("kept_per_row").get("max").asInt());
    }

    @Test
    void missingTensorQIsAClearError() throws Exception {
        Path qf = TestTensors.write(dir, "q.safetensors", "query", DType.F32, q, B, H, N, D);
        Path kf = TestTensors.write(dir, "k.safetensors", "k", DType.F32, k, B, H, N, D);
        Path out = dir.resolve("m.safetensors");
        CliRun r = CliRun.of("mask", "--q", qf.toString(), "--k", kf.toString(), "--out", out.toString());
        assertEquals(1, r.exit(), r.toString());
        assertEquals("sparge: --q " + qf + ": no tensor named 'q' (it holds query), expected a tensor 'q' of shape"
                + " (B,H,N,d) in f32, f16 or bf16\n", r.err());
        assertFalse(Files.exists(out));
    }

    @Test
    void badValuesAreUsageErrorsNamingTheFlag() throws Exception {
        Path qf = TestTensors.write(dir, "q.safetensors", "q", DType.F32, q, B, H, N, D);
        Path kf = TestTensors.write(dir, "k.safetensors", "k", DType.F32, k, B, H, N, D);
        String out = dir.resolve("m.safetensors").toString();
        String[][] cases = {
            {"--topk", "0", "Invalid value for option '--topk': got 0.0, expected a fraction in (0, 1]"},
            {"--topk", "1.5", "Invalid value for option '--topk': got 1.5, expected a fraction in (0, 1]"},
            {"--topp", "-0.1", "Invalid value for option '--topp': got -0.1, expected a fraction in (0, 1]"},
            {"--bq", "0", "Invalid value for option '--bq': got 0, expected a block size from 1 to 1024"},
            {"--bkv", "-64", "Invalid value for option '--bkv': got -64, expected a block size from 1 to 1024"},
            {"--mode", "mask", "Invalid value for option '--mode': got 'mask', expected one of dense, topk, topp, hybrid"},
            {"--layout", "nhd", "Invalid value for option '--layout': got 'nhd', expected bhnd (B,H,N,d) or bnhd (B,N,H,d)"},
        };
        for (String[] c : cases) {
            CliRun r = CliRun.of("mask", "--q", qf.toString(), "--k", kf.toString(), "--out", out, c[0], c[1]);
            assertEquals(2, r.exit(), r.toString());
            assertTrue(r.err().startsWith("sparge: " + c[2] + "\n"), r.toString());
            assertTrue(r.err().contains("Run 'sparge mask --help' for usage."), r.toString());
        }
        assertFalse(Files.exists(Path.of(out)));
    }

    @Test
    void mismatchedShapesAndWrongRankAreClearErrors() throws Exception {
        Path qf = TestTensors.write(dir, "q.safetensors", "q", DType.F32, q, B, H, N, D);
        Path k8 = TestTensors.write(dir, "k8.safetensors", "k", DType.F32, Arrays.copyOf(k, B * H * N * 8), B, H, N, 8);
        Path k3 = TestTensors.write(dir, "k3.safetensors", "k", DType.F32, k, B * H, N, D);
        String out = dir.resolve("m.safetensors").toString();
        CliRun r = CliRun.of("mask", "--q", qf.toString(), "--k", k8.toString(), "--out", out);
        assertEquals(1, r.exit(), r.toString());
        assertEquals("sparge: k has shape [2, 3, 300, 8], expected [2, 3, 300, 16]: the same B, H and d as q"
                + " [2, 3, 300, 16] in (B,H,N,d)\n", r.err());
        r = CliRun.of("mask", "--q", qf.toString(), "--k", k3.toString(), "--out", out);
        assertEquals(1, r.exit(), r.toString());
        assertEquals("sparge: --k " + k3 + ": tensor 'k' has shape [6, 300, 16], expected 4 dimensions (B,H,N,d)\n",
                r.err());
        r = CliRun.of("mask", "--q", dir.resolve("absent.safetensors").toString(), "--k", qf.toString(), "--out", out);
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.err().contains("absent.safetensors: no such file"), r.toString());
    }

    @Test
    void denseModeKeepsEverything() throws Exception {
        Path qf = TestTensors.write(dir, "q.safetensors", "q", DType.F32, q, B, H, N, D);
        Path kf = TestTensors.write(dir, "k.safetensors", "k", DType.F32, k, B, H, N, D);
        Path out = dir.resolve("m.safetensors");
        CliRun r = CliRun.of("mask", "--q", qf.toString(), "--k", kf.toString(), "--mode", "dense", "--bq", "64",
                "--bkv", "32", "--out", out.toString());
        assertEquals(0, r.exit(), r.toString());
        for (byte x : maskBytes(out)) {
            assertEquals(1, x);
        }
        JsonNode json = new ObjectMapper().readTree(r.out());
        assertEquals(0.0, json.get("sparsity").asDouble(), 1e-12);
        assertTrue(json.get("retained_mass").isNull() && json.get("k").isNull(), r.out());
        assertEquals(MaskMode.DENSE.toString(), json.get("mode").asText());
    }
}
