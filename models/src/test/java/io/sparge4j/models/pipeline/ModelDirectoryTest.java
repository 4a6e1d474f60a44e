package io.sparge4j.models.pipeline;

import io.sparge4j.engine.io.SafetensorsFile;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanWeights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Model directories: f32 round trip bit for bit, f16 and bf16 within their rounding (relative 2^-11 and 2^-8 of
 * each value, the formats' half-ulp), the text encoder loading from half precision, generation.json defaults, and
 * the errors (f16 overflow naming the tensor, a target that is not a model directory, tiny-demo not shipped).
 */
class ModelDirectoryTest {
    @TempDir
    Path tmp;

    @Test
    void f32RoundTripIsExactAndHasEveryFile() throws Exception {
        Path dir = TinyModelDirs.write(tmp.resolve("m"), 3);
        for (String f : BundledModel.FILES) {
            assertTrue(Files.isRegularFile(dir.resolve(f)), f);
        }
        Map<String, Tensor> expected = WanWeights.randomInit(TinyModelDirs.CONFIG, 3);
        TextEncoder enc = TinyModelDirs.encoder(4);
        try (ModelDirectory m = ModelDirectory.load(dir, WanWeights.Precision.AS_STORED)) {
            assertEquals(TinyModelDirs.CONFIG, m.config());
            assertEquals(expected.keySet(), m.weights().keySet());
            for (String name : expected.keySet()) {
                assertEquals(DType.F32, m.weights().get(name).dtype());
                assertArrayEquals(expected.get(name).toFloatArray(), m.weights().get(name).toFloatArray(), name);
            }
            assertNotNull(m.textEncoder());
            for (String name : enc.parameters().keySet()) {
                assertArrayEquals(enc.parameters().get(name).toFloatArray(),
                        m.textEncoder().parameters().get(name).toFloatArray(), name);
            }
            assertEquals(4, m.generation().frames());
            assertEquals(42, m.generation().stepsTrained());
            try (Tensor c = m.context("a red circle moving right", "--prompt");
                 Tensor e = m.context("", "--prompt")) {
                assertArrayEquals(new int[] {16, 32}, c.shape());
                assertTrue(maxAbs(c.toFloatArray()) > 0.1, "a prompt gives features");
                assertEquals(0.0, maxAbs(e.toFloatArray()), "the empty prompt gives zeros (caption dropout's input)");
            }
        } finally {
            expected.values().forEach(Tensor::close);
        }
    }

    @Test
    void halfPrecisionRoundTripsWithinRoundingAndTheEncoderLoads() throws Exception {
        Path f32 = TinyModelDirs.write(tmp.resolve("f32"), 5);
        for (DType dtype : List.of(DType.F16, DType.BF16)) {
            double rel = dtype == DType.F16 ? 0x1p-11 : 0x1p-8;
            Path half = tmp.resolve(dtype.toString());
            try (ModelDirectory m = ModelDirectory.load(f32, WanWeights.Precision.F32)) {
                ModelDirectory.save(half, m.config(), m.weights(), m.textEncoder(), m.generation(), dtype);
                try (SafetensorsFile dit = SafetensorsFile.open(half.resolve(ModelDirectory.DIT_FILE));
                     SafetensorsFile te = SafetensorsFile.open(half.resolve(TextEncoder.WEIGHTS_FILE))) {
                    assertEquals(dtype, dit.info("head.head.weight").dtype());
                    assertEquals(dtype, te.info("text_encoder.head.weight").dtype());
                }
                try (ModelDirectory h = ModelDirectory.load(half, WanWeights.Precision.F32)) {
                    Map<String, Tensor> all = new HashMap<>(m.weights());
                    all.putAll(m.textEncoder().parameters());
                    Map<String, Tensor> back = new HashMap<>(h.weights());
                    back.putAll(h.textEncoder().parameters());
                    assertEquals(all.keySet(), back.keySet());
                    for (String name : all.keySet()) {
                        float[] a = all.get(name).toFloatArray();
                        float[] b = back.get(name).toFloatArray();
                        for (int i = 0; i < a.length; i++) {
                            double tol = rel * Math.abs(a[i]) + (dtype == DType.F16 ? 0x1p-24 : 0);
                            assertTrue(Math.abs(a[i] - b[i]) <= tol, dtype + " " + name + "[" + i + "]: " + a[i]
                                    + " came back as " + b[i]);
                        }
                    }
                    assertEquals(m.generation(), h.generation());
                }
            }
        }
    }

    @Test
    void f16OverflowNamesTheTensorAndWritesNothing() throws Exception {
        Map<String, Tensor> w = WanWeights.randomInit(TinyModelDirs.CONFIG, 1);
        Map<String, Tensor> copy = new java.util.LinkedHashMap<>();
        w.forEach((k, v) -> copy.put(k, v.copy()));
        copy.get("blocks.1.ffn.0.weight").setFloat(7, 70000f);
        Path out = tmp.resolve("over");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelDirectory.save(out, TinyModelDirs.CONFIG, copy, null, null, DType.F16));
        assertTrue(e.getMessage().contains("blocks.1.ffn.0.weight") && e.getMessage().contains("70000"),
                e.getMessage());
        assertFalse(Files.exists(out));
        ModelDirectory.save(out, TinyModelDirs.CONFIG, copy, null, null, DType.BF16);   // bf16 holds it
        try (ModelDirectory m = ModelDirectory.load(out, WanWeights.Precision.F32)) {
            assertEquals(70000f, m.weights().get("blocks.1.ffn.0.weight").getFloat(7), 70000f * 0x1p-8);
            assertNull(m.textEncoder());
            assertNull(m.generation());
        }
        w.values().forEach(Tensor::close);
        copy.values().forEach(Tensor::close);
    }

    @Test
    void saveReplacesAModelDirectoryButNotOtherFiles() throws Exception {
        Path dir = TinyModelDirs.write(tmp.resolve("m"), 1);
        Files.writeString(dir.resolve("README.md"), "# my model");
        Files.createDirectories(dir.resolve("samples")).resolve("a.txt");
        Files.writeString(dir.resolve("samples/a.txt"), "clip");
        TinyModelDirs.write(dir, 2);   // the model replaced, the user's files kept
        assertEquals("# my model", Files.readString(dir.resolve("README.md")));
        assertEquals("clip", Files.readString(dir.resolve("samples/a.txt")));
        Map<String, Tensor> expected = WanWeights.randomInit(TinyModelDirs.CONFIG, 2);
        try (ModelDirectory m = ModelDirectory.load(dir, WanWeights.Precision.F32)) {
            assertArrayEquals(expected.get("head.head.weight").toFloatArray(),
                    m.weights().get("head.head.weight").toFloatArray());
        }
        expected.values().forEach(Tensor::close);
        Path other = Files.createDirectories(tmp.resolve("photos"));
        Files.writeString(other.resolve("cat.txt"), "meow");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TinyModelDirs.write(other, 1));
        assertTrue(e.getMessage().contains("not a model directory"), e.getMessage());
        assertEquals("meow", Files.readString(other.resolve("cat.txt")));
        try (var s = Files.list(tmp)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().startsWith(".")), "no temporary left");
        }
    }

    @Test
    void generationJsonFieldsAreOptional() throws Exception {
        Path f = tmp.resolve("generation.json");
        Files.writeString(f, "{\"frames\": 8, \"attention\": {\"mode\": \"DENSE\"}, \"steps_trained\": 7}");
        GenerationDefaults g = GenerationDefaults.read(f);
        assertEquals(8, g.frames());
        assertEquals(GenerationDefaults.DEFAULT.height(), g.height());
        assertEquals(WanAttention.defaults().withMode(io.sparge4j.engine.sparse.MaskMode.DENSE), g.attention());
        assertEquals(7, g.stepsTrained());
        assertNull(g.clipsTrained(), "no clips_trained: unknown");
        g.write(f);
        assertEquals(g, GenerationDefaults.read(f));
        GenerationDefaults counted = g.withTrained(9, 288L);
        counted.write(f);
        assertEquals(288L, GenerationDefaults.read(f).clipsTrained());
        assertNull(counted.withStepsTrained(3).clipsTrained(), "a new step count alone leaves the clips unknown");
        GenerationDefaults late = g.withAttention(g.attention().withMode(io.sparge4j.engine.sparse.MaskMode.HYBRID)
                .withLateTopk(0.15, 0.6));
        late.write(f);
        assertEquals(late, GenerationDefaults.read(f), "a late Top-k is stored");
        Files.writeString(f, "{\"attention\": {\"late_topk\": 0.3}}");
        assertEquals(WanAttention.defaults().withLateTopk(0.3, WanAttention.DEFAULT_LATE_NOISE_LEVEL),
                GenerationDefaults.read(f).attention(), "a late Top-k without its level takes the default level");
        Files.writeString(f, "{\"attention\": {\"late_topk\": 1.5}}");
        IllegalArgumentException k = assertThrows(IllegalArgumentException.class, () -> GenerationDefaults.read(f));
        assertTrue(k.getMessage().contains("lateTopk") && k.getMessage().contains("1.5"), k.getMessage());
        Files.writeString(f, "{\"clips_trained\": -4}");
        IllegalArgumentException clips = assertThrows(IllegalArgumentException.class, () -> GenerationDefaults.read(f));
        assertTrue(clips.getMessage().contains("clips_trained") && clips.getMessage().contains("-4"), clips.getMessage());
        Files.writeString(f, "{\"attention\": {\"mode\": \"sparse\"}}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GenerationDefaults.read(f));
        assertTrue(e.getMessage().contains("attention.mode") && e.getMessage().contains("sparse"), e.getMessage());
    }

    @Test
    void tinyDemoSaysHowToMakeItUntilItIsShipped() throws Exception {
        List<String> missing = BundledModel.TINY_DEMO.missingFiles();
        if (missing.isEmpty()) {
            try (ModelDirectory m = ModelDirectory.load(BundledModel.TINY_DEMO.extract(), WanWeights.Precision.F32)) {
                assertNotNull(m.textEncoder(), "tiny-demo ships its text encoder");
                assertNotNull(m.generation(), "tiny-demo ships generation.json");
            }
        } else {
            IllegalStateException e = assertThrows(IllegalStateException.class, BundledModel.TINY_DEMO::extract);
            assertTrue(e.getMessage().contains("sparge pretrain") && e.getMessage().contains("sparge export")
                    && e.getMessage().contains(missing.get(0)), e.getMessage());
        }
    }

    private static double maxAbs(float[] a) {
        double m = 0;
        for (float v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }
}
