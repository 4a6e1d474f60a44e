package io.sparge4j.models.wan;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.engine.io.Safetensors;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WanWeightsTest {
    private static final WanConfig TINY = WanConfig.tiny(32, 4, 2, 4, false);
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void randomWeightsRoundTripBitExactly(@TempDir Path dir) throws IOException {
        Map<String, Tensor> w = WanWeights.randomInit(TINY, 11);
        WanWeights.save(dir, TINY, w);
        assertEquals(List.of("config.json", "model.safetensors"), listDir(dir), "no temporary files left");
        try (WanCheckpoint ck = WanWeights.load(dir, WanWeights.Precision.F32)) {
            assertEquals(TINY, ck.config());
            assertEquals(List.of(), ck.configDefaults());
            assertEquals(List.copyOf(WanParameters.expected(TINY).keySet()), List.copyOf(ck.weights().keySet()));
            assertBitEqual(w, ck.weights());
        }
    }

    @Test
    void randomInitIsSeededFiniteAndScaled() {
        Map<String, Tensor> a = WanWeights.randomInit(TINY, 5);
        Map<String, Tensor> b = WanWeights.randomInit(TINY, 5);
        Map<String, Tensor> c = WanWeights.randomInit(TINY, 6);
        assertBitEqual(a, b);
        for (Map.Entry<String, Tensor> e : a.entrySet()) {
            float[] v = e.getValue().toFloatArray();
            assertNotEquals(0, v.length);
            double max = 0;
            double distinct = 0;
            for (float x : v) {
                assertTrue(Float.isFinite(x), e.getKey());
                max = Math.max(max, Math.abs(x));
                distinct += x != v[0] ? 1 : 0;
            }
            assertTrue(distinct > 0, e.getKey() + " is constant");
            assertTrue(max <= 1.1 || e.getKey().endsWith("modulation") && max < 6 / Math.sqrt(TINY.dim()),
                    e.getKey() + " has |x| up to " + max);
            assertFalse(java.util.Arrays.equals(v, c.get(e.getKey()).toFloatArray()), e.getKey() + " ignores seed");
        }
    }

    /** Half-precision random weights are the f32 ones rounded (Tensor.to's rounding), drawn without an f32 copy. */
    @Test
    void randomInitInHalfPrecisionIsTheF32DrawRounded() {
        Map<String, Tensor> f32 = WanWeights.randomInit(TINY, 21);
        for (DType half : new DType[] {DType.BF16, DType.F16}) {
            Map<String, Tensor> h = WanWeights.randomInit(TINY, 21, half);
            assertEquals(List.copyOf(f32.keySet()), List.copyOf(h.keySet()), half + " names in order");
            for (Map.Entry<String, Tensor> e : f32.entrySet()) {
                Tensor got = h.get(e.getKey());
                assertEquals(half, got.dtype(), e.getKey());
                try (Tensor rounded = e.getValue().to(half)) {
                    assertArrayEquals(rounded.toFloatArray(), got.toFloatArray(), half + " " + e.getKey());
                }
                // and close to the f32 values: within half an ulp of the 8 (bf16) or 11 (f16) bit mantissa
                float[] want = e.getValue().toFloatArray();
                float[] have = got.toFloatArray();
                double rel = half == DType.BF16 ? 0x1p-8 : 0x1p-11;
                for (int i = 0; i < want.length; i++) {
                    assertTrue(Math.abs(have[i] - want[i]) <= rel * Math.abs(want[i]) + 1e-7, e.getKey() + "[" + i
                            + "] " + have[i] + " vs " + want[i]);
                }
            }
            h.values().forEach(Tensor::close);
        }
        f32.values().forEach(Tensor::close);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> WanWeights.randomInit(TINY, 1, DType.I32));
        assertTrue(e.getMessage().contains("dtype is i32") && e.getMessage().contains("bf16"), e.getMessage());
    }

    @Test
    void shardedCheckpointWithIndexLoads(@TempDir Path dir) throws IOException {
        Map<String, Tensor> w = WanWeights.randomInit(TINY, 12);
        Map<String, Tensor> first = new LinkedHashMap<>();
        Map<String, Tensor> second = new LinkedHashMap<>();
        Map<String, String> weightMap = new LinkedHashMap<>();
        int i = 0;
        for (Map.Entry<String, Tensor> e : w.entrySet()) {
            boolean one = i++ % 3 != 0;
            (one ? first : second).put(e.getKey(), e.getValue());
            weightMap.put(e.getKey(), one ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors");
        }
        Safetensors.write(dir.resolve("model-00001-of-00002.safetensors"), first);
        Safetensors.write(dir.resolve("model-00002-of-00002.safetensors"), second);
        writeIndex(dir.resolve("model.safetensors.index.json"), weightMap);
        Files.writeString(dir.resolve("config.json"), WanConfigReader.toJson(TINY));
        try (WanCheckpoint ck = WanWeights.load(dir, WanWeights.Precision.F32)) {
            assertBitEqual(w, ck.weights());
        }
        // F32_SHARED: the same values, f32 tensors in the files' copy-on-write mappings (writes stay in memory)
        try (WanCheckpoint ck = WanWeights.load(dir, WanWeights.Precision.F32_SHARED)) {
            assertBitEqual(w, ck.weights());
            Tensor q = ck.weights().get("blocks.0.self_attn.q.weight");
            q.setFloat(0, 42f);
            assertEquals(42f, q.getFloat(0));
        }
        try (WanCheckpoint ck = WanWeights.load(dir, WanWeights.Precision.F32)) {
            assertBitEqual(w, ck.weights());
        }
    }

    /** F32_SHARED widens a half-precision checkpoint as F32 does (only f32 tensors can be shared). */
    @Test
    void sharedLoadingWidensHalfPrecision(@TempDir Path dir) throws IOException {
        Map<String, Tensor> w = WanWeights.randomInit(TINY, 14);
        Map<String, Tensor> half = new LinkedHashMap<>();
        w.forEach((k, v) -> half.put(k, v.to(DType.BF16)));
        Safetensors.write(dir.resolve("diffusion_pytorch_model.safetensors"), half);
        Files.writeString(dir.resolve("config.json"), WanConfigReader.toJson(TINY));
        try (WanCheckpoint a = WanWeights.load(dir, WanWeights.Precision.F32);
             WanCheckpoint b = WanWeights.load(dir, WanWeights.Precision.F32_SHARED)) {
            assertEquals(DType.F32, b.weights().get("head.head.weight").dtype());
            assertBitEqual(a.weights(), b.weights());
        }
    }

    @Test
    void diffusersNamesAndConfigLoad(@TempDir Path dir) throws IOException {
        Map<String, Tensor> w = WanWeights.randomInit(TINY, 13);
        Map<String, String> names = new HashMap<>();
        for (int b = 0; b < TINY.numLayers(); b++) {
            WanNamesTest.diffusersToOriginal(b).forEach((d, o) -> names.put(o, d));
        }
        Map<String, Tensor> renamed = new LinkedHashMap<>();
        Map<String, String> weightMap = new LinkedHashMap<>();
        int i = 0;
        for (Map.Entry<String, Tensor> e : w.entrySet()) {
            String d = names.get(e.getKey());
            renamed.put(d, e.getValue());
            weightMap.put(d, "diffusion_pytorch_model-0000" + (1 + i++ % 2) + "-of-00002.safetensors");
        }
        assertEquals(w.size(), renamed.size());
        // diffusers' sharded layout: two shards and an index.
        for (int s = 1; s <= 2; s++) {
            String file = "diffusion_pytorch_model-0000" + s + "-of-00002.safetensors";
            Map<String, Tensor> shard = new LinkedHashMap<>();
            weightMap.forEach((n, f) -> {
                if (f.equals(file)) {
                    shard.put(n, renamed.get(n));
                }
            });
            Safetensors.write(dir.resolve(file), shard);
        }
        writeIndex(dir.resolve("diffusion_pytorch_model.safetensors.index.json"), weightMap);
        Files.writeString(dir.resolve("config.json"), """
                {"_class_name": "WanTransformer3DModel", "_diffusers_version": "0.33.0", "num_attention_heads": 4,
                 "attention_head_dim": 8, "in_channels": 4, "out_channels": 4, "text_dim": 32, "freq_dim": 32,
                 "ffn_dim": 64, "num_layers": 2, "patch_size": [1, 2, 2], "eps": 1e-06,
                 "qk_norm": "rms_norm_across_heads", "cross_attn_norm": true, "added_kv_proj_dim": null}
                """);
        try (WanCheckpoint ck = WanWeights.load(dir, WanWeights.Precision.F32)) {
            assertEquals(new WanConfig(32, 64, 4, 2, 4, 4, 32, 512, 32, List.of(1, 2, 2), 1e-6, true, true, false,
                    List.of(4, 8, 8)), ck.config());
            assertEquals(List.of("text_len=512", "pixel_space=false", "vae_stride=(4, 8, 8)"), ck.configDefaults());
            assertBitEqual(w, ck.weights());
        }
    }

    @Test
    void comfyPrefixedSingleFileLoads(@TempDir Path dir) throws IOException {
        Map<String, Tensor> w = WanWeights.randomInit(TINY, 14);
        Map<String, Tensor> prefixed = new LinkedHashMap<>();
        w.forEach((n, t) -> prefixed.put(WanNames.COMFY_PREFIX + n, t));
        Safetensors.write(dir.resolve("wan2.1_t2v_tiny.safetensors"), prefixed);
        assertBitEqual(w, WanWeights.loadWeights(dir, TINY, WanWeights.Precision.F32));
    }

    @Test
    void bf16CheckpointWidensToF32OrStaysBf16(@TempDir Path dir) throws IOException {
        Map<String, Tensor> half = new LinkedHashMap<>();
        WanWeights.randomInit(TINY, 15).forEach((n, t) -> half.put(n, t.to(DType.BF16)));
        WanWeights.save(dir, TINY, half);
        Map<String, Tensor> kept = WanWeights.load(dir, WanWeights.Precision.AS_STORED).weights();
        assertBitEqual(half, kept);
        Map<String, Tensor> wide = WanWeights.load(dir, WanWeights.Precision.F32).weights();
        for (Map.Entry<String, Tensor> e : half.entrySet()) {
            Tensor f = wide.get(e.getKey());
            assertEquals(DType.F32, f.dtype());
            assertArrayEquals(e.getValue().shape(), f.shape());
            for (long i = 0; i < f.numel(); i++) {
                // bf16 is the top half of an f32: widening appends 16 zero bits.
                short bits = e.getValue().segment().getAtIndex(ValueLayout.JAVA_SHORT, i);
                float expected = Float.intBitsToFloat(Short.toUnsignedInt(bits) << 16);
                assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(f.getFloat(i)), e.getKey());
            }
        }
    }

    @Test
    void f16CheckpointWidensExactly(@TempDir Path dir) throws IOException {
        Map<String, Tensor> half = new LinkedHashMap<>();
        WanWeights.randomInit(TINY, 16).forEach((n, t) -> half.put(n, t.to(DType.F16)));
        WanWeights.save(dir, TINY, half);
        Map<String, Tensor> kept = WanWeights.load(dir, WanWeights.Precision.AS_STORED).weights();
        assertEquals(DType.F16, kept.get("blocks.1.ffn.0.weight").dtype());
        assertBitEqual(half, kept);
        Map<String, Tensor> wide = WanWeights.load(dir, WanWeights.Precision.F32).weights();
        for (Map.Entry<String, Tensor> e : half.entrySet()) {
            for (long i = 0; i < e.getValue().numel(); i++) {
                short bits = e.getValue().segment().getAtIndex(ValueLayout.JAVA_SHORT, i);
                assertEquals(Float.float16ToFloat(bits), wide.get(e.getKey()).getFloat(i), 0f, e.getKey());
            }
        }
    }

    @Test
    void everyMissingUnexpectedAndMisshapedNameIsListedInOneError(@TempDir Path dir) throws IOException {
        Map<String, Tensor> w = new LinkedHashMap<>(WanWeights.randomInit(TINY, 17));
        w.remove("blocks.1.cross_attn.k.bias");
        w.remove("head.modulation");
        w.put("blocks.0.self_attn.k_img.weight", Tensor.zeros(32, 32));
        w.put("pos_embedding", Tensor.zeros(7));
        w.put("blocks.0.ffn.2.weight", Tensor.zeros(32, 63));
        w.put("patch_embedding.weight", Tensor.zeros(32, 3, 1, 2, 2));
        Safetensors.write(dir.resolve("model.safetensors"), w);
        CheckpointMismatchException e = assertThrows(CheckpointMismatchException.class,
                () -> WanWeights.loadWeights(dir, TINY, WanWeights.Precision.F32));
        assertEquals(List.of("blocks.1.cross_attn.k.bias [32]", "head.modulation [1, 2, 32]"), e.missing());
        assertEquals(List.of("blocks.0.ffn.2.weight expected [32, 64], got [32, 63]",
                "patch_embedding.weight expected [32, 4, 1, 2, 2], got [32, 3, 1, 2, 2]"), sorted(e.misshaped()));
        assertEquals(List.of("blocks.0.self_attn.k_img.weight [32, 32]", "pos_embedding [7]"),
                sorted(e.unexpected()));
        for (String line : concat(e.missing(), e.misshaped(), e.unexpected())) {
            assertTrue(e.getMessage().contains(line), line + " not in " + e.getMessage());
        }
        assertTrue(e.getMessage().contains("2 missing, 2 unexpected, 2 mis-shaped"), e.getMessage());
    }

    @Test
    void errorsUnderDiffusersNamesShowTheStoredName(@TempDir Path dir) throws IOException {
        Map<String, Tensor> w = new LinkedHashMap<>();
        WanWeights.randomInit(TINY, 18).forEach((n, t) -> w.put(WanNames.toDiffusers(n), t));
        w.put("blocks.0.attn1.to_q.weight", Tensor.zeros(32, 31));
        w.put("blocks.0.scale_shift_table", Tensor.zeros(1, 6, 32));
        w.put("blocks.0.modulation", Tensor.zeros(1, 6, 32)); // the same parameter under both spellings
        Safetensors.write(dir.resolve("diffusion_pytorch_model.safetensors"), w);
        CheckpointMismatchException e = assertThrows(CheckpointMismatchException.class,
                () -> WanWeights.loadWeights(dir, TINY, WanWeights.Precision.F32));
        assertEquals(List.of("blocks.0.self_attn.q.weight (stored as 'blocks.0.attn1.to_q.weight') expected"
                + " [32, 32], got [32, 31]"), e.misshaped());
        assertEquals(1, e.other().size(), e.other().toString());
        assertTrue(e.other().get(0).contains("both name blocks.0.modulation"), e.other().toString());
    }

    @Test
    void resavedDiffusersHeadIsExplained(@TempDir Path dir) throws IOException {
        Map<String, Tensor> w = new LinkedHashMap<>();
        WanWeights.randomInit(TINY, 23).forEach((n, t) -> w.put(WanNames.toDiffusers(n), t));
        w.remove("scale_shift_table");
        w.put("norm_out.linear.weight", Tensor.zeros(64, 32));
        w.put("norm_out.linear.bias", Tensor.zeros(64));
        Safetensors.write(dir.resolve("diffusion_pytorch_model.safetensors"), w);
        CheckpointMismatchException e = assertThrows(CheckpointMismatchException.class,
                () -> WanWeights.loadWeights(dir, TINY, WanWeights.Precision.F32));
        assertEquals(List.of("head.modulation [1, 2, 32]"), e.missing());
        assertEquals(List.of("norm_out.linear.bias [64]", "norm_out.linear.weight [64, 32]"), sorted(e.unexpected()));
        assertTrue(e.other().get(0).contains("scale_shift_table"), e.other().toString());
    }

    @Test
    void nonFloatTensorsAndIndexEntriesAbsentFromTheirShardAreReported(@TempDir Path dir) throws IOException {
        Map<String, Tensor> w = new LinkedHashMap<>(WanWeights.randomInit(TINY, 19));
        w.put("head.head.bias", Tensor.ofInts(new int[16], 16));
        Tensor gone = w.remove("blocks.0.norm3.bias");
        Safetensors.write(dir.resolve("a.safetensors"), w);
        Map<String, String> weightMap = new LinkedHashMap<>();
        w.keySet().forEach(n -> weightMap.put(n, "a.safetensors"));
        weightMap.put("blocks.0.norm3.bias", "a.safetensors");
        writeIndex(dir.resolve("a.safetensors.index.json"), weightMap);
        CheckpointMismatchException e = assertThrows(CheckpointMismatchException.class,
                () -> WanWeights.loadWeights(dir, TINY, WanWeights.Precision.F32));
        assertEquals(2, e.other().size(), e.other().toString());
        assertTrue(e.getMessage().contains("head.head.bias has dtype i32, expected f32, bf16 or f16"), e.getMessage());
        assertTrue(e.getMessage().contains("'blocks.0.norm3.bias' is listed in a.safetensors.index.json under"
                + " a.safetensors, but that file has no such tensor"), e.getMessage());
        assertEquals(List.of("blocks.0.norm3.bias " + java.util.Arrays.toString(gone.shape())), e.missing());
    }

    @Test
    void directoryProblemsAreNamed(@TempDir Path dir) throws IOException {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> WanWeights.loadWeights(dir, TINY, WanWeights.Precision.F32));
        assertTrue(e.getMessage().contains("no *.safetensors file"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> WanWeights.load(dir, WanWeights.Precision.F32));
        assertTrue(e.getMessage().contains("has no config.json"), e.getMessage());

        Safetensors.write(dir.resolve("a.safetensors"), Map.of("x", Tensor.zeros(1)));
        Safetensors.write(dir.resolve("b.safetensors"), Map.of("y", Tensor.zeros(1)));
        e = assertThrows(IllegalArgumentException.class,
                () -> WanWeights.loadWeights(dir, TINY, WanWeights.Precision.F32));
        assertTrue(e.getMessage().contains("found 2 safetensors files [a.safetensors, b.safetensors]"), e.getMessage());

        writeIndex(dir.resolve("m.safetensors.index.json"), Map.of("x", "a.safetensors", "z", "c.safetensors"));
        e = assertThrows(IllegalArgumentException.class,
                () -> WanWeights.loadWeights(dir, TINY, WanWeights.Precision.F32));
        assertTrue(e.getMessage().contains("shard 'c.safetensors' (for 'z') does not exist"), e.getMessage());

        writeIndex(dir.resolve("m.safetensors.index.json"), Map.of("x", "../a.safetensors"));
        e = assertThrows(IllegalArgumentException.class,
                () -> WanWeights.loadWeights(dir, TINY, WanWeights.Precision.F32));
        assertTrue(e.getMessage().contains("expected a file inside"), e.getMessage());
    }

    @Test
    void saveChecksFirstAndRefusesAmbiguousDirectories(@TempDir Path dir) throws IOException {
        Map<String, Tensor> w = new LinkedHashMap<>(WanWeights.randomInit(TINY, 20));
        w.remove("blocks.0.ffn.0.bias");
        Path target = dir.resolve("model");
        CheckpointMismatchException e = assertThrows(CheckpointMismatchException.class,
                () -> WanWeights.save(target, TINY, w));
        assertEquals(List.of("blocks.0.ffn.0.bias [64]"), e.missing());
        assertFalse(Files.exists(target), "nothing is written for mismatched weights");

        Files.createDirectories(target);
        Safetensors.write(target.resolve("old-00001-of-00002.safetensors"), Map.of("x", Tensor.zeros(1)));
        IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class,
                () -> WanWeights.save(target, TINY, WanWeights.randomInit(TINY, 20)));
        assertTrue(e2.getMessage().contains("already holds [old-00001-of-00002.safetensors]"), e2.getMessage());
    }

    @Test
    void savingAgainReplacesTheModel(@TempDir Path dir) throws IOException {
        WanWeights.save(dir, TINY, WanWeights.randomInit(TINY, 21));
        Map<String, Tensor> w = WanWeights.randomInit(TINY, 22);
        WanWeights.save(dir, TINY, w);
        assertBitEqual(w, WanWeights.load(dir, WanWeights.Precision.F32).weights());
        assertEquals(List.of("config.json", "model.safetensors"), listDir(dir));
    }

    // ---------------------------------------------------------------- helpers

    private static void assertBitEqual(Map<String, Tensor> expected, Map<String, Tensor> actual) {
        assertEquals(expected.keySet(), actual.keySet());
        for (Map.Entry<String, Tensor> e : expected.entrySet()) {
            Tensor a = actual.get(e.getKey());
            assertEquals(e.getValue().dtype(), a.dtype(), e.getKey());
            assertArrayEquals(e.getValue().shape(), a.shape(), e.getKey());
            assertEquals(-1, e.getValue().segment().mismatch(a.segment()), e.getKey() + " differs");
        }
    }

    private static void writeIndex(Path file, Map<String, String> weightMap) throws IOException {
        Map<String, Object> index = new LinkedHashMap<>();
        index.put("metadata", Map.of("total_size", 0));
        index.put("weight_map", weightMap);
        Files.writeString(file, JSON.writeValueAsString(index));
    }

    private static List<String> listDir(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static List<String> sorted(List<String> l) {
        return l.stream().sorted().toList();
    }

    @SafeVarargs
    private static List<String> concat(List<String>... lists) {
        List<String> out = new ArrayList<>();
        for (List<String> l : lists) {
            out.addAll(l);
        }
        return out;
    }
}
