package io.sparge4j.models.text;

import io.sparge4j.engine.io.Safetensors;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.sparge4j.models.text.TextEncoderFixtures.TINY;
import static io.sparge4j.models.text.TextEncoderFixtures.TOKENIZER;
import static io.sparge4j.models.text.TextEncoderFixtures.randomEncoder;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TextEncoderTest {
    /** A full prompt, a short one, the empty prompt, one with an unknown word, one truncated. */
    static final List<String> PROMPTS = List.of("a red circle moving left", "Blue square!", "",
            "a purple circle", "a green triangle moving right and then left");

    /** Forward: f32 against float64, max abs error at most this times the largest reference magnitude. */
    static final double FORWARD_TOLERANCE = 1e-5;
    /**
     * Gradients: per parameter tensor, max |analytic f32 - float64 central difference| at most this times the
     * tensor's largest reference gradient magnitude.
     */
    static final double GRADIENT_TOLERANCE = 2e-5;
    /** The key bias's gradient (exactly zero) at most this times the largest gradient of any parameter. */
    static final double KEY_BIAS_TOLERANCE = 1e-6;

    @Test
    void forwardMatchesFloat64Reference() {
        TextEncoder enc = randomEncoder(TINY, 11);
        List<Tokens> tokens = enc.tokenize(PROMPTS);
        double[] ref = new TextEncoderReference(TINY, enc.parameters()).features(tokens);
        try (Tensor got = enc.encode(PROMPTS)) {
            assertArrayEquals(new int[] {PROMPTS.size(), TINY.maxLength(), TINY.textDim()}, got.shape());
            assertClose(ref, got.toFloatArray(), FORWARD_TOLERANCE, "features");
        }
    }

    @Test
    void gradientsOfEveryParameterMatchFloat64FiniteDifferences() {
        TextEncoder enc = randomEncoder(TINY, 12);
        List<Tokens> tokens = enc.tokenize(PROMPTS);
        float[] dF = TextEncoderFixtures.random(13, PROMPTS.size() * TINY.maxLength() * TINY.textDim());
        double[] dFd = new double[dF.length];
        for (int i = 0; i < dF.length; i++) {
            dFd[i] = dF[i];
        }
        Map<String, double[]> ref = new TextEncoderReference(TINY, enc.parameters()).numericGradients(tokens, dFd,
                1e-5);
        Map<String, Tensor> got;
        try (TextEncoderPass pass = enc.forwardTokens(tokens);
             Tensor d = Tensor.of(dF, PROMPTS.size(), TINY.maxLength(), TINY.textDim())) {
            got = pass.backward(d);
        }
        assertEquals(new ArrayList<>(enc.parameters().keySet()), new ArrayList<>(got.keySet()));
        double globalScale = 0;
        for (double[] g : ref.values()) {
            for (double v : g) {
                globalScale = Math.max(globalScale, Math.abs(v));
            }
        }
        for (Map.Entry<String, Tensor> e : got.entrySet()) {
            String name = e.getKey();
            assertArrayEquals(enc.parameters().get(name).shape(), e.getValue().shape(), name);
            if (name.endsWith("attn.k.bias")) {
                // Exactly zero in exact arithmetic: a key bias adds q.b to every score of a query, which the
                // softmax ignores. The reference gives ~1e-10; the f32 backward must give rounding noise only.
                assertSmall(e.getValue().toFloatArray(), KEY_BIAS_TOLERANCE * globalScale, name);
            } else {
                assertClose(ref.get(name), e.getValue().toFloatArray(), GRADIENT_TOLERANCE, name);
            }
        }
        // token rows used by no prompt (e.g. "square" is used, "<pad>" never is) get exactly zero
        float[] dTok = got.get(TextEncoderParameters.PREFIX + "token_embedding.weight").toFloatArray();
        for (int j = 0; j < TINY.width(); j++) {
            assertEquals(0f, dTok[WordTokenizer.PAD * TINY.width() + j]);
        }
    }

    @Test
    void paddingRowsAreZeroAndPaddingDoesNotReachRealRows() {
        TextEncoder enc = randomEncoder(TINY, 21);
        List<Tokens> tokens = enc.tokenize(PROMPTS);
        try (Tensor batch = enc.encode(PROMPTS)) {
            float[] all = batch.toFloatArray();
            int rows = TINY.maxLength() * TINY.textDim();
            for (int b = 0; b < PROMPTS.size(); b++) {
                int len = tokens.get(b).length();
                for (int i = len * TINY.textDim(); i < rows; i++) {
                    assertEquals(0f, all[b * rows + i], "prompt " + b + " padding element " + i);
                }
                // alone, or with other ids in its padded slots, a prompt's real rows are bit-identical
                int[] noisy = tokens.get(b).ids();
                for (int i = len; i < noisy.length; i++) {
                    noisy[i] = 3 + i % TOKENIZER.words().size();
                }
                Tokens garbage = new Tokens(noisy, len, false);
                try (Tensor alone = enc.encode(List.of(PROMPTS.get(b)));
                     Tensor withGarbage = enc.encodeTokens(List.of(garbage))) {
                    float[] expected = Arrays.copyOfRange(all, b * rows, (b + 1) * rows);
                    assertArrayEquals(expected, alone.toFloatArray(), "prompt " + b + " alone");
                    assertArrayEquals(expected, withGarbage.toFloatArray(), "prompt " + b + " with noisy padding");
                }
            }
        }
    }

    @Test
    void gradientsIgnorePaddingRowsAndEmptyPromptsContributeNothing() {
        TextEncoder enc = randomEncoder(TINY, 31);
        List<Tokens> tokens = enc.tokenize(PROMPTS);
        int n = PROMPTS.size() * TINY.maxLength() * TINY.textDim();
        float[] dF = TextEncoderFixtures.random(32, n);
        float[] dFRealOnly = dF.clone();
        int rows = TINY.maxLength() * TINY.textDim();
        for (int b = 0; b < PROMPTS.size(); b++) {
            for (int i = tokens.get(b).length() * TINY.textDim(); i < rows; i++) {
                dFRealOnly[b * rows + i] = 0f;
            }
        }
        Map<String, Tensor> full = backward(enc, tokens, dF);
        Map<String, Tensor> realOnly = backward(enc, tokens, dFRealOnly);
        for (String name : full.keySet()) {
            assertArrayEquals(realOnly.get(name).toFloatArray(), full.get(name).toFloatArray(), name);
        }
        Map<String, Tensor> empty = backward(enc, enc.tokenize(List.of("", " ,. ")),
                TextEncoderFixtures.random(33, 2 * rows));
        for (Map.Entry<String, Tensor> e : empty.entrySet()) {
            assertArrayEquals(new float[(int) e.getValue().numel()], e.getValue().toFloatArray(), e.getKey());
        }
        try (Tensor zeros = enc.encode(List.of(""))) {
            assertArrayEquals(new float[rows], zeros.toFloatArray());
        }
    }

    @Test
    void batchGradientIsTheSumOfPerPromptGradients() {
        TextEncoder enc = randomEncoder(TINY, 41);
        List<Tokens> tokens = enc.tokenize(PROMPTS);
        int rows = TINY.maxLength() * TINY.textDim();
        float[] dF = TextEncoderFixtures.random(42, PROMPTS.size() * rows);
        Map<String, Tensor> batch = backward(enc, tokens, dF);
        Map<String, double[]> sum = new LinkedHashMap<>();
        for (int b = 0; b < PROMPTS.size(); b++) {
            float[] one = Arrays.copyOfRange(dF, b * rows, (b + 1) * rows);
            backward(enc, List.of(tokens.get(b)), one).forEach((name, g) -> {
                double[] acc = sum.computeIfAbsent(name, k -> new double[(int) g.numel()]);
                float[] v = g.toFloatArray();
                for (int i = 0; i < v.length; i++) {
                    acc[i] += v[i];
                }
            });
        }
        for (String name : batch.keySet()) {
            assertClose(sum.get(name), batch.get(name).toFloatArray(), 1e-6, name);
        }
    }

    @Test
    void inferenceEncodeEqualsTrainingForwardAndIsDeterministic() {
        TextEncoder enc = randomEncoder(TINY, 51);
        try (Tensor a = enc.encode(PROMPTS); Tensor b = enc.encode(PROMPTS);
             TextEncoderPass pass = enc.forward(PROMPTS)) {
            assertArrayEquals(a.toFloatArray(), b.toFloatArray());
            assertArrayEquals(a.toFloatArray(), pass.features().toFloatArray());
        }
    }

    @Test
    void initialisationIsSeededAndAsDocumented() {
        TextEncoderConfig big = new TextEncoderConfig(TOKENIZER.vocabSize(), 64, 3, 4, 128, 8, 32);
        Map<String, Tensor> a = TextEncoderParameters.initialize(big, 7);
        Map<String, Tensor> b = TextEncoderParameters.initialize(big, 7);
        Map<String, Tensor> c = TextEncoderParameters.initialize(big, 8);
        String p = TextEncoderParameters.PREFIX;
        for (String name : a.keySet()) {
            assertArrayEquals(a.get(name).toFloatArray(), b.get(name).toFloatArray(), name);
            if (name.endsWith(".bias")) {
                assertArrayEquals(new float[(int) a.get(name).numel()], a.get(name).toFloatArray(), name);
            } else if (name.contains(".norm")) {
                for (float v : a.get(name).toFloatArray()) {
                    assertEquals(1f, v, name);
                }
            } else {
                assertFalse(Arrays.equals(a.get(name).toFloatArray(), c.get(name).toFloatArray()), name);
            }
        }
        // standard deviations within 10% (each sample holds >= 4096 draws: sampling error about 2%)
        assertStd(0.02, a.get(TextEncoderParameters.layer(1, "attn.q.weight")));
        assertStd(0.02, a.get(TextEncoderParameters.layer(0, "ffn.0.weight")));
        assertStd(0.02 / Math.sqrt(6), a.get(TextEncoderParameters.layer(2, "attn.o.weight")));
        assertStd(0.02 / Math.sqrt(6), a.get(TextEncoderParameters.layer(0, "ffn.2.weight")));
        assertStd(1 / Math.sqrt(64), a.get(p + "head.weight"));
        assertEquals(new ArrayList<>(TextEncoderParameters.shapes(big).keySet()), new ArrayList<>(a.keySet()));
    }

    @Test
    void saveLoadRoundTripIsBitIdentical(@TempDir Path dir) throws IOException {
        TextEncoder enc = randomEncoder(TINY, 61);
        enc.save(dir);
        TextEncoder loaded = TextEncoder.load(dir);
        assertEquals(TINY, loaded.config());
        assertEquals(TOKENIZER.words(), loaded.tokenizer().words());
        assertEquals(new ArrayList<>(enc.parameters().keySet()), new ArrayList<>(loaded.parameters().keySet()));
        for (String name : enc.parameters().keySet()) {
            assertArrayEquals(bits(enc.parameters().get(name)), bits(loaded.parameters().get(name)), name);
        }
        try (Tensor a = enc.encode(PROMPTS); Tensor b = loaded.encode(PROMPTS)) {
            assertArrayEquals(bits(a), bits(b));
        }
    }

    @Test
    void loadNamesAMissingOrUnexpectedParameter(@TempDir Path dir) throws IOException {
        TextEncoder enc = randomEncoder(TINY, 71);
        enc.save(dir);
        String dropped = TextEncoderParameters.layer(1, "ffn.2.bias");
        Map<String, Tensor> missing = new LinkedHashMap<>(enc.parameters());
        missing.remove(dropped);
        Safetensors.write(dir.resolve(TextEncoder.WEIGHTS_FILE), missing);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TextEncoder.load(dir));
        assertTrue(e.getMessage().contains(dropped) && e.getMessage().contains("missing"), e.getMessage());

        Map<String, Tensor> extra = new LinkedHashMap<>(enc.parameters());
        extra.put("text_encoder.surprise", Tensor.zeros(2));
        Safetensors.write(dir.resolve(TextEncoder.WEIGHTS_FILE), extra);
        e = assertThrows(IllegalArgumentException.class, () -> TextEncoder.load(dir));
        assertTrue(e.getMessage().contains("text_encoder.surprise"), e.getMessage());
    }

    @Test
    void configRoundTripsAndBadValuesNameFileAndKey(@TempDir Path dir) throws IOException {
        Path file = dir.resolve(TextEncoder.CONFIG_FILE);
        TINY.save(file);
        assertEquals(TINY, TextEncoderConfig.load(file));
        Files.writeString(file, TINY.toJson().put("num_heads", 0).toString());
        assertMessage(() -> TextEncoderConfig.load(file), file.toString(), "num_heads", "0", "positive");
        Files.writeString(file, TINY.toJson().put("num_heads", 3).toString());
        assertMessage(() -> TextEncoderConfig.load(file), file.toString(), "heads 3");
        Files.writeString(file, TINY.toJson().put("format", "wan").toString());
        assertMessage(() -> TextEncoderConfig.load(file), file.toString(), "format", "sparge4j.text-encoder");
    }

    @Test
    void badArgumentsAreNamed() {
        TextEncoder enc = randomEncoder(TINY, 81);
        Map<String, Tensor> params = new LinkedHashMap<>(enc.parameters());
        String q = TextEncoderParameters.layer(0, "attn.q.weight");
        params.put(q, Tensor.zeros(16, 15));
        assertMessage(() -> new TextEncoder(TINY, TOKENIZER, params), q, "[16, 15]", "[16, 16]");
        params.remove(q);
        assertMessage(() -> new TextEncoder(TINY, TOKENIZER, params), q, "missing");
        assertMessage(() -> new TextEncoder(TINY, new WordTokenizer(List.of("x")), enc.parameters()), "vocabSize",
                "13", "4");
        assertMessage(() -> new TextEncoderConfig(13, 16, 2, 3, 32, 6, 8), "width 16", "heads 3");
        assertMessage(() -> new TextEncoderConfig(13, 16, 0, 2, 32, 6, 8), "layers", "0");
        assertMessage(() -> new TextEncoderConfig(13, 16, 2, 2, 32, 1, 8), "maxLength", "1");
        assertMessage(() -> enc.encodeTokens(List.of(TOKENIZER.encode("a red", 5))), "tokens[0]", "6 ids");
        assertMessage(() -> enc.encodeTokens(List.of(new Tokens(new int[] {3, 13, 2, 0, 0, 0}, 3, false))),
                "tokens[0] id 1", "13", "0..12");
        assertMessage(() -> enc.encode(List.of()), "batch", "at least one prompt");
        try (TextEncoderPass pass = enc.forward(List.of("a red circle"))) {
            assertMessage(() -> pass.backward(Tensor.zeros(2, 6, 8)), "dFeatures", "[2, 6, 8]", "[1, 6, 8]");
            pass.backward(Tensor.of(TextEncoderFixtures.random(1, 48), 1, 6, 8));
            IllegalStateException twice = assertThrows(IllegalStateException.class,
                    () -> pass.backward(Tensor.zeros(1, 6, 8)));
            assertTrue(twice.getMessage().contains("already called"), twice.getMessage());
        }
    }

    private static Map<String, Tensor> backward(TextEncoder enc, List<Tokens> tokens, float[] dF) {
        try (TextEncoderPass pass = enc.forwardTokens(tokens);
             Tensor d = Tensor.of(dF, tokens.size(), TINY.maxLength(), TINY.textDim())) {
            return pass.backward(d);
        }
    }

    static void assertClose(double[] expected, float[] got, double relTol, String what) {
        assertEquals(expected.length, got.length, what);
        double scale = 0;
        double err = 0;
        int worst = 0;
        for (int i = 0; i < expected.length; i++) {
            scale = Math.max(scale, Math.abs(expected[i]));
            double d = Math.abs(got[i] - expected[i]);
            if (d > err) {
                err = d;
                worst = i;
            }
        }
        assertTrue(scale > 0, what + ": the reference is all zeros, so the comparison would prove nothing");
        if (System.getenv("TEXT7_PRINT") != null) {
            System.out.printf("%-45s max err %.3e of scale %.3e (rel %.2e)%n", what, err, scale, err / scale);
        }
        assertTrue(err <= relTol * scale, what + ": max error " + err + " at " + worst + " (expected "
                + expected[worst] + ", got " + got[worst] + ") exceeds " + relTol + " x " + scale);
    }

    private static void assertSmall(float[] got, double bound, String what) {
        double max = 0;
        for (float v : got) {
            max = Math.max(max, Math.abs(v));
        }
        if (System.getenv("TEXT7_PRINT") != null) {
            System.out.printf("%-45s max |g| %.3e (bound %.3e)%n", what, max, bound);
        }
        assertTrue(max <= bound, what + ": max |gradient| " + max + " exceeds " + bound);
    }

    private static void assertStd(double expected, Tensor t) {
        double s = 0;
        for (float v : t.toFloatArray()) {
            s += (double) v * v;
        }
        double std = Math.sqrt(s / t.numel());
        assertEquals(expected, std, 0.1 * expected, "std of " + t);
    }

    private static int[] bits(Tensor t) {
        float[] v = t.toFloatArray();
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = Float.floatToRawIntBits(v[i]);
        }
        return out;
    }

    private static void assertMessage(org.junit.jupiter.api.function.Executable call, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "message lacks \"" + part + "\": " + e.getMessage());
        }
    }
}
