package io.sparge4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.engine.io.Safetensors;
import io.sparge4j.engine.io.SafetensorsFile;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AttentionCommandTest {
    // N = 200: blocks of 64 and 32 leave short last blocks (8 queries, 8 keys).
    private static final int B = 1;
    private static final int H = 2;
    private static final int N = 200;
    private static final int D = 16;
    private static final int BQ = 64;
    private static final int BKV = 32;
    private static final int NQ = 4;
    private static final int NK = 7;

    @TempDir
    Path dir;

    private final float[] q = TestTensors.gaussian(21, B * H * N * D);
    private final float[] k = TestTensors.gaussian(22, B * H * N * D);
    private final float[] v = TestTensors.gaussian(23, B * H * N * D);

    private String[] files(DType dtype) throws Exception {
        return new String[] {
            "--q", TestTensors.write(dir, "q.safetensors", "q", dtype, q, B, H, N, D).toString(),
            "--k", TestTensors.write(dir, "k.safetensors", "k", dtype, k, B, H, N, D).toString(),
            "--v", TestTensors.write(dir, "v.safetensors", "v", dtype, v, B, H, N, D).toString(),
        };
    }

    private CliRun run(String[] files, String... more) {
        String[] args = new String[1 + files.length + more.length];
        args[0] = "attention";
        System.arraycopy(files, 0, args, 1, files.length);
        System.arraycopy(more, 0, args, 1 + files.length, more.length);
        return CliRun.of(args);
    }

    /**
     * Checks o and lse in {@code out} against float64 masked attention. f32 kernels over at most 200 keys: outputs of
     * size ~1 agree to about 1e-6, so atol 2e-5 with rtol 1e-5 leaves room without hiding a wrong block.
     */
    private static void assertOutputs(Path out, float[] q, float[] k, float[] v, boolean[] kept) throws Exception {
        double[] lse = new double[B * H * N];
        double[] expected = Float64Attention.attention(q, k, v, kept, B, H, N, D, BQ, BKV, lse);
        try (SafetensorsFile f = SafetensorsFile.open(out); Tensor o = f.load("o"); Tensor l = f.load("lse")) {
            assertEquals(DType.F32, o.dtype());
            assertEquals(DType.F32, l.dtype());
            assertArrayEquals(new int[] {B, H, N, D}, o.shape());
            assertArrayEquals(new int[] {B, H, N}, l.shape());
            float[] got = o.toFloatArray();
            for (int i = 0; i < got.length; i++) {
                assertTrue(Math.abs(got[i] - expected[i]) <= 2e-5 + 1e-5 * Math.abs(expected[i]),
                        "o[" + i + "] = " + got[i] + ", expected " + expected[i]);
            }
            float[] gotLse = l.toFloatArray();
            for (int i = 0; i < gotLse.length; i++) {
                assertTrue(Math.abs(gotLse[i] - lse[i]) <= 2e-5 + 1e-5 * Math.abs(lse[i]),
                        "lse[" + i + "] = " + gotLse[i] + ", expected " + lse[i]);
            }
        }
    }

    @Test
    void hybridOutputMatchesFloat64MaskedAttention() throws Exception {
        Path out = dir.resolve("o.safetensors");
        CliRun r = run(files(DType.F32), "--mode", "hybrid", "--topk", "0.3", "--topp", "0.4", "--bq", "64", "--bkv",
                "32", "--out", out.toString());
        assertEquals(0, r.exit(), r.toString());
        boolean[] kept = Float64Attention.mask(q, k, B, H, N, D, BQ, BKV, true, 0.3, true, 0.4);
        assertOutputs(out, q, k, v, kept);
        JsonNode json = new ObjectMapper().readTree(r.out());
        assertEquals("hybrid", json.get("mode").asText());
        assertEquals("[1, 2, 200, 16]", json.get("shape").asText());
        double sparsity = (Float64Attention.sparsity(kept, 0, N, BQ, BKV) + Float64Attention.sparsity(kept, 1, N, BQ, BKV)) / 2;
        assertEquals(sparsity, json.get("sparsity").asDouble(), 1e-12);
        assertTrue(sparsity > 0.2, "the mask must drop blocks for this test to mean anything: " + sparsity);
        assertEquals(out.toString(), json.get("out").asText());
    }

    @Test
    void denseModeIsPlainAttentionAlsoFromBf16Inputs() throws Exception {
        Path out = dir.resolve("o.safetensors");
        CliRun r = run(files(DType.BF16), "--mode", "dense", "--bq", "64", "--bkv", "32", "--out", out.toString());
        assertEquals(0, r.exit(), r.toString());
        assertOutputs(out, TestTensors.rounded(DType.BF16, q), TestTensors.rounded(DType.BF16, k),
                TestTensors.rounded(DType.BF16, v), null);
        assertEquals(0.0, new ObjectMapper().readTree(r.out()).get("sparsity").asDouble(), 1e-12);
    }

    @Test
    void givenMaskInU8OrBoolIsUsedAsIs() throws Exception {
        SplittableRandom rng = new SplittableRandom(5);
        boolean[] kept = new boolean[B * H * NQ * NK];
        for (int r = 0; r < B * H * NQ; r++) {
            kept[r * NK + rng.nextInt(NK)] = true; // at least one block per row
            for (int j = 0; j < NK; j++) {
                kept[r * NK + j] |= rng.nextDouble() < 0.25;
            }
        }
        String[] files = files(DType.F32);
        for (DType dtype : new DType[] {DType.U8, DType.BOOL}) {
            Path maskFile = dir.resolve("mask-" + dtype + ".safetensors");
            try (Tensor m = Tensor.allocate(dtype, B, H, NQ, NK)) {
                for (int i = 0; i < kept.length; i++) {
                    m.setLong(i, kept[i] ? 1 : 0);
                }
                Safetensors.write(maskFile, Map.of("mask", m));
            }
            Path out = dir.resolve("o-" + dtype + ".safetensors");
            CliRun r = run(files, "--mode", "mask", "--mask", maskFile.toString(), "--bq", "64", "--bkv", "32",
                    "--out", out.toString());
            assertEquals(0, r.exit(), r.toString());
            assertOutputs(out, q, k, v, kept);
            JsonNode json = new ObjectMapper().readTree(r.out());
            assertEquals("mask", json.get("mode").asText());
            assertTrue(json.get("k").isNull() && json.get("p").isNull(), r.out());
        }
    }

    @Test
    void maskOfTheWrongSizeIsAClearError() throws Exception {
        Path maskFile = dir.resolve("mask.safetensors");
        try (Tensor m = Tensor.allocate(DType.U8, B, H, NQ - 1, NK)) {
            m.fill(1);
            Safetensors.write(maskFile, Map.of("mask", m));
        }
        Path out = dir.resolve("o.safetensors");
        CliRun r = run(files(DType.F32), "--mode", "mask", "--mask", maskFile.toString(), "--bq", "64", "--bkv", "32",
                "--out", out.toString());
        assertEquals(1, r.exit(), r.toString());
        assertEquals("sparge: --mask " + maskFile + ": tensor 'mask' has shape [1, 2, 3, 7], expected [1, 2, 4, 7]"
                + " (B,H,nq,nk) for B=1 H=2 Nq=200 Nk=200 with --bq 64 --bkv 32\n", r.err());
        assertFalse(Files.exists(out));
    }

    @Test
    void modeMaskNeedsAMaskAndAMaskNeedsModeMask() throws Exception {
        String[] files = files(DType.F32);
        String out = dir.resolve("o.safetensors").toString();
        CliRun r = run(files, "--mode", "mask", "--out", out);
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().startsWith("sparge: Missing option '--mask': --mode mask needs a block mask file"), r.err());
        r = run(files, "--mask", out, "--out", out);
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().startsWith("sparge: Option '--mask' is only used with --mode mask, got --mode hybrid"), r.err());
    }

    @Test
    void badFractionsAndBlocksAreUsageErrors() throws Exception {
        String[] files = files(DType.F32);
        String out = dir.resolve("o.safetensors").toString();
        CliRun r = run(files, "--topp", "1.01", "--out", out);
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().startsWith("sparge: Invalid value for option '--topp': got 1.01, expected a fraction in (0, 1]"),
                r.err());
        r = run(files, "--bq", "0", "--out", out);
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().startsWith("sparge: Invalid value for option '--bq': got 0, expected a block size"), r.err());
        r = run(files, "--scale", "-1", "--out", out);
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().startsWith("sparge: Invalid value for option '--scale': got -1.0"), r.err());
    }

    @Test
    void valuesOfAnotherShapeAreAClearError() throws Exception {
        String[] files = files(DType.F32);
        files[5] = TestTensors.write(dir, "v2.safetensors", "v", DType.F32, java.util.Arrays.copyOf(v, B * H * 100 * D),
                B, H, 100, D).toString();
        CliRun r = run(files, "--out", dir.resolve("o.safetensors").toString());
        assertEquals(1, r.exit(), r.toString());
        assertEquals("sparge: v has shape [1, 2, 100, 16], expected [1, 2, 200, 16], the shape of k\n", r.err());
    }
}
