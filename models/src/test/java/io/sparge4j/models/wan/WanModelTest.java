package io.sparge4j.models.wan;

import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link WanModel} against {@link WanModelReference}, an independent float64 implementation of Wan2.1's forward
 * pass, on tiny random-weight models; the attention settings (dense, hybrid at p = 1, dense layers and steps) and
 * their statistics; and the argument errors.
 */
class WanModelTest {
    /**
     * f32 model against the float64 reference: max |model - ref| at most this times max |ref| (measured about 3e-7
     * on these cases; a wrong detail, such as a swapped shift and scale or RoPE off, gives O(1)).
     */
    private static final double TOLERANCE = 1e-5;

    /** The tiny latent config: dim 64, 2 heads of 32, 2 blocks, 4 channels, patch (1, 2, 2), qk and cross norms. */
    private static final WanConfig TINY = WanConfig.tiny(64, 2, 2, 4, false);
    /**
     * Exercises the other branches: head dim 24, no norm3, in 3 / out 5 channels, an asymmetric patch (2, 1, 2) so
     * that a swapped patch axis in patchify or unpatchify shows, and text 24 wide by 8 rows.
     */
    private static final WanConfig ODD = new WanConfig(48, 80, 2, 1, 3, 5, 24, 8, 16, List.of(2, 1, 2), 1e-6, true,
            false, true, List.of(1, 1, 1));

    /** One test case: a config, its random weights, an input video, timestep and text. */
    private record Case(WanConfig config, Map<String, Tensor> weights, Tensor x, double t, Tensor context) {
        double[] reference() {
            Map<String, double[]> w = new HashMap<>();
            weights.forEach((k, v) -> w.put(k, v.toDoubleArray()));
            int[] s = x.shape();
            return new WanModelReference(config, w).forward(x.toDoubleArray(), s[1], s[2], s[3], t,
                    context.toDoubleArray(), context.dim(0));
        }
    }

    @Test
    void denseForwardMatchesFloat64Reference() {
        for (Case c : List.of(tinyCase(11), oddCase(12))) {
            WanModel model = new WanModel(c.config, c.weights, WanAttention.dense());
            try (Tensor v = model.forward(c.x, c.t, c.context)) {
                int[] s = c.x.shape();
                assertArrayEquals(new int[] {c.config.outDim(), s[1], s[2], s[3]}, v.shape());
                assertClose(c.reference(), v.toDoubleArray(), TOLERANCE, c.config.toString());
            }
        }
    }

    /**
     * The experimental absolute position signal against the reference's own channel-by-channel sine-cosine, on both
     * configs; and it really changes the output (by more than a tenth of max |v|, against 1e-5 agreement).
     */
    @Test
    void sincosPositionMatchesFloat64ReferenceAndChangesTheOutput() {
        for (Case plain : List.of(tinyCase(13), oddCase(14))) {
            Case c = new Case(plain.config.withAbsolutePosition(AbsolutePosition.SINCOS), plain.weights, plain.x,
                    plain.t, plain.context);
            try (Tensor v = new WanModel(c.config, c.weights, WanAttention.dense()).forward(c.x, c.t, c.context);
                 Tensor without = new WanModel(plain.config, plain.weights, WanAttention.dense())
                         .forward(c.x, c.t, c.context)) {
                double[] ref = c.reference();
                assertClose(ref, v.toDoubleArray(), TOLERANCE, c.config.toString());
                double[] w = without.toDoubleArray();
                double diff = 0;
                double scale = 0;
                for (int i = 0; i < ref.length; i++) {
                    diff = Math.max(diff, Math.abs(ref[i] - w[i]));
                    scale = Math.max(scale, Math.abs(ref[i]));
                }
                assertTrue(diff > 0.1 * scale, "the signal hardly changes the velocity: " + diff + " of " + scale);
            }
        }
    }

    /**
     * The experimental pooled text modulation against the reference's own column means, on both configs (with and
     * without the position signal); and it changes the output by more than a tenth of max |v|.
     */
    @Test
    void pooledTextModulationMatchesFloat64ReferenceAndChangesTheOutput() {
        for (Case plain : List.of(tinyCase(16), oddCase(17))) {
            for (AbsolutePosition position : AbsolutePosition.values()) {
                WanConfig config = plain.config.withAbsolutePosition(position)
                        .withTextModulation(TextModulation.POOLED);
                Case c = new Case(config, plain.weights, plain.x, plain.t, plain.context);
                try (Tensor v = new WanModel(config, c.weights, WanAttention.dense()).forward(c.x, c.t, c.context);
                     Tensor without = new WanModel(config.withTextModulation(TextModulation.NONE), plain.weights,
                             WanAttention.dense()).forward(c.x, c.t, c.context)) {
                    double[] ref = c.reference();
                    assertClose(ref, v.toDoubleArray(), TOLERANCE, config.toString());
                    double diff = maxAbsDiff(ref, without.toDoubleArray());
                    assertTrue(diff > 0.1 * maxAbs(ref), "the modulation hardly changes the velocity: " + diff
                            + " of " + maxAbs(ref));
                }
            }
        }
    }

    @Test
    void halfPrecisionWeightsMatchTheReferenceOnTheSameRoundedValues() {
        Case f32 = tinyCase(15);
        Map<String, Tensor> bf16 = new LinkedHashMap<>();
        f32.weights.forEach((k, v) -> bf16.put(k, v.to(DType.BF16)));
        Case c = new Case(f32.config, bf16, f32.x, f32.t, f32.context.to(DType.BF16));
        WanModel model = new WanModel(c.config, c.weights, WanAttention.dense());
        try (Tensor v = model.forward(c.x, c.t, c.context)) {
            assertClose(c.reference(), v.toDoubleArray(), TOLERANCE, "bf16 weights and text");
        }
    }

    @Test
    void hybridAtFullTopPKeepsEveryBlockAndMatchesDense() {
        Case c = tinyCase(21);
        // 72 tokens in blocks of 16: 5 x 5 blocks per head; Top-k alone would keep 1 of 5, Top-p 1 keeps all
        WanAttention hybrid = WanAttention.defaults().withBlocks(16, 16).withTopk(0.2).withTopp(1.0);
        WanModel dense = new WanModel(c.config, c.weights, WanAttention.dense().withBlocks(16, 16));
        WanModel sparse = dense.withAttention(hybrid);
        try (Tensor vd = dense.forward(c.x, c.t, c.context); Tensor vh = sparse.forward(c.x, c.t, c.context)) {
            assertClose(vd.toDoubleArray(), vh.toDoubleArray(), 1e-6, "hybrid p=1 vs dense");
            assertClose(c.reference(), vh.toDoubleArray(), TOLERANCE, "hybrid p=1 vs reference");
        }
        assertEquals(TINY.numLayers(), sparse.stats().calls());
        for (WanAttentionStats.Entry e : sparse.stats().entries()) {
            assertEquals(0.0, e.statistics().sparsity(), 0.0, "layer " + e.layer());
            assertTrue(!e.dense(), "hybrid layer " + e.layer() + " should run the sparse path");
        }
    }

    @Test
    void sparseModeDropsBlocksAndChangesTheOutput() {
        Case c = tinyCase(31);
        WanModel dense = new WanModel(c.config, c.weights, WanAttention.dense().withBlocks(16, 16));
        WanModel sparse = dense.withAttention(WanAttention.defaults().withBlocks(16, 16).withTopk(0.2).withTopp(0.2));
        try (Tensor vd = dense.forward(c.x, c.t, c.context); Tensor vs = sparse.forward(c.x, c.t, c.context)) {
            double diff = maxAbsDiff(vd.toDoubleArray(), vs.toDoubleArray());
            assertTrue(diff > 1e-4 * maxAbs(vd.toDoubleArray()), "sparse output equals dense (max diff " + diff + ")");
        }
        assertTrue(sparse.stats().meanSparsity() > 0.3, sparse.stats().toString());
        assertEquals(0.0, dense.stats().meanSparsity(), 0.0);
        assertTrue(sparse.stats().attentionNanos() > 0 && sparse.stats().crossAttentionNanos() > 0);
    }

    @Test
    void denseLayersAndDenseStepsAreHonoured() {
        Case c = tinyCase(41);
        WanAttention settings = WanAttention.defaults().withBlocks(16, 16).withTopk(0.2).withTopp(0.2)
                .withDenseLayers(1).withDenseSteps(1);
        WanModel model = new WanModel(c.config, c.weights, settings);
        for (int step = 0; step < 2; step++) {
            model.forward(c.x, c.t, c.context, step).close();
        }
        WanAttentionStats stats = model.stats();
        assertEquals(4, stats.calls());
        assertEquals(0.0, stats.sparsity(0, 0), 0.0, "layer 0, step 0");
        assertEquals(0.0, stats.sparsity(1, 0), 0.0, "layer 1, step 0 (dense step)");
        assertEquals(0.0, stats.sparsity(0, 1), 0.0, "layer 0, step 1 (dense layer)");
        assertTrue(stats.sparsity(1, 1) > 0.3, "layer 1, step 1 should be sparse: " + stats.sparsity(1, 1));
        for (WanAttentionStats.Entry e : stats.entries()) {
            assertEquals(!(e.layer() == 1 && e.step() == 1), e.dense(), e.toString());
        }
        assertEquals(0.0, stats.meanSparsity(0), 0.0);
        assertTrue(stats.attentionNanos() > 0);
        stats.reset();
        assertEquals(0, stats.calls());
        assertEquals(0, stats.attentionNanos());
        assertTrue(Double.isNaN(stats.sparsity(1, 1)));
    }

    /**
     * A late Top-k: at and below its noise level a forward is the one with that k (bit for bit), above it the one
     * with the base k; the two differ, so the switch is seen.
     */
    @Test
    void aLateTopkAppliesAtAndBelowItsNoiseLevelOnly() {
        Case c = tinyCase(43);
        WanAttention base = WanAttention.defaults().withBlocks(16, 16).withTopk(0.2).withTopp(0.05);
        WanModel late = new WanModel(c.config, c.weights, base.withLateTopk(0.6, 0.5));
        WanModel baseModel = late.withAttention(base);
        WanModel wide = late.withAttention(base.withTopk(0.6));
        for (double t : new double[] {500, 120}) {
            try (Tensor got = late.forward(c.x, t, c.context); Tensor want = wide.forward(c.x, t, c.context)) {
                Assertions.assertArrayEquals(want.toFloatArray(), got.toFloatArray(), "timestep " + t + ": late k");
            }
        }
        try (Tensor got = late.forward(c.x, 501, c.context); Tensor want = baseModel.forward(c.x, 501, c.context);
             Tensor other = wide.forward(c.x, 501, c.context)) {
            Assertions.assertArrayEquals(want.toFloatArray(), got.toFloatArray(), "timestep 501: the base k");
            assertTrue(maxAbsDiff(want.toDoubleArray(), other.toDoubleArray()) > 0, "the two k give other outputs");
        }
        assertEquals(base, base.withLateTopk(0.6, 0.5).withLateTopk(0, 0.5).withLateTopk(0, 0), "0 turns it off");
        assertEquals(0.6, base.withLateTopk(0.6, 0.5).at(499).topk(), 0.0);
        assertEquals(0.2, base.withLateTopk(0.6, 0.5).at(501).topk(), 0.0);
    }

    @Test
    void shortTextEqualsTextPaddedWithZeroRows() {
        Case c = tinyCase(51);
        int rows = c.context.dim(0);
        try (Tensor full = Tensor.allocate(DType.F32, TINY.textLen(), TINY.textDim())) {
            full.narrow(0, rows).copyFrom(c.context);
            WanModel model = new WanModel(c.config, c.weights, WanAttention.dense());
            try (Tensor a = model.forward(c.x, c.t, c.context); Tensor b = model.forward(c.x, c.t, full)) {
                assertClose(a.toDoubleArray(), b.toDoubleArray(), 0, "short vs padded text");
            }
        }
    }

    /** A batch of two samples with their own timesteps and text lengths: each row is its own float64 reference. */
    @Test
    void batchForwardMatchesEachSampleReference() {
        Case a = tinyCase(61);
        SplittableRandom rng = new SplittableRandom(62);
        Case b = new Case(TINY, a.weights, random(rng, 1.0, 4, 3, 8, 12), 12.5, random(rng, 1.0, 4, 32));
        WanModel model = new WanModel(TINY, a.weights, WanAttention.dense());
        try (Tensor x = Tensor.allocate(DType.F32, 2, 4, 3, 8, 12)) {
            x.select(0).copyFrom(a.x);
            x.select(1).copyFrom(b.x);
            try (Tensor v = model.forwardBatch(x, new double[] {a.t, b.t}, List.of(a.context, b.context), 0)) {
                assertArrayEquals(new int[] {2, 4, 3, 8, 12}, v.shape());
                assertClose(a.reference(), v.select(0).toDoubleArray(), TOLERANCE, "batch sample 0");
                assertClose(b.reference(), v.select(1).toDoubleArray(), TOLERANCE, "batch sample 1");
            }
            assertMessage(() -> model.forwardBatch(x, new double[] {1}, List.of(a.context, b.context), 0),
                    "timesteps", "1 entries", "B = 2");
            assertMessage(() -> model.forwardBatch(a.x, new double[] {1}, List.of(a.context), 0), "x",
                    "(B, in_dim, F, H, W)");
        }
    }

    @Test
    void badInputsNameArgumentValueAndExpectation() {
        Case c = tinyCase(61);
        WanModel model = new WanModel(c.config, c.weights, WanAttention.dense());
        try (Tensor x3 = Tensor.randn(1, 3, 2, 8, 12); Tensor narrow = Tensor.randn(2, 5, 31);
             Tensor oddHeight = Tensor.randn(3, 4, 2, 7, 12); Tensor longText = Tensor.randn(4, 17, 32)) {
            assertMessage(() -> model.forward(x3, 500, c.context), "x channels", "3", "in_dim = 4");
            assertMessage(() -> model.forward(oddHeight, 500, c.context), "x height", "7", "multiple of");
            assertMessage(() -> model.forward(c.x, 500, narrow), "context width", "31", "text_dim = 32");
            assertMessage(() -> model.forward(c.x, 500, longText), "context rows", "17", "text_len = 16");
            assertMessage(() -> model.forward(c.x, -1, c.context), "timestep", "-1.0", "[0, 1000]");
            assertMessage(() -> model.forward(c.x, Double.NaN, c.context), "timestep", "NaN", "[0, 1000]");
            assertMessage(() -> model.forward(c.x, 500, c.context, -2), "step", "-2", ">= 0");
            assertMessage(() -> model.forward(null, 500, c.context), "x", "null", "in_dim = 4");
        }
        assertMessage(() -> WanAttention.defaults().withTopp(0), "topp", "0.0", "(0, 1]");
        assertMessage(() -> WanAttention.defaults().withMode(MaskMode.MASK), "mode", "mask", "hybrid");
        assertMessage(() -> WanAttention.defaults().withDenseSteps(-1), "denseSteps", "-1", "0 or more");
        assertMessage(() -> WanAttention.defaults().withLateTopk(1.5, 0.5), "lateTopk", "1.5", "(0, 1]");
        assertMessage(() -> WanAttention.defaults().withLateTopk(0.2, -0.1), "lateNoiseLevel", "-0.1", "[0, 1]");
    }

    @Test
    void weightProblemsAreAllListed() {
        Case c = tinyCase(71);
        Map<String, Tensor> w = new LinkedHashMap<>(c.weights);
        w.remove("blocks.1.ffn.2.bias");
        w.remove("head.modulation");
        w.put("blocks.0.self_attn.q.weight", Tensor.randn(1, 64, 32));
        w.put("blocks.0.img_emb.weight", Tensor.randn(1, 4));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new WanModel(c.config, w, WanAttention.dense()));
        for (String name : List.of("blocks.1.ffn.2.bias", "head.modulation", "blocks.0.self_attn.q.weight [64, 32]",
                "[64, 64]", "blocks.0.img_emb.weight")) {
            assertTrue(e.getMessage().contains(name), "message lacks " + name + ": " + e.getMessage());
        }
    }

    // ------------------------------------------------------------------ cases

    /** TINY on x (4, 3, 8, 12): a 3 x 4 x 6 token grid, 72 tokens; 11 of 16 text rows; a non-integer timestep. */
    private static Case tinyCase(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        return new Case(TINY, randomWeights(TINY, rng), random(rng, 1.0, 4, 3, 8, 12), 737.3,
                random(rng, 1.0, 11, 32));
    }

    /** ODD on x (3, 4, 5, 6): patch (2, 1, 2) gives a 2 x 5 x 3 grid; 5 of 8 text rows. */
    private static Case oddCase(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        return new Case(ODD, randomWeights(ODD, rng), random(rng, 1.0, 3, 4, 5, 6), 91.5, random(rng, 1.0, 5, 24));
    }

    /**
     * Random weights under the Wan2.1 names with the shapes of {@code wan/modules/model.py}, listed here
     * independently of {@link WanParameters#expected}. Matrices have std 1/sqrt(fan-in) so activations stay O(1);
     * norm weights are 1 + noise, biases and modulations noise, so every term matters.
     */
    private static Map<String, Tensor> randomWeights(WanConfig c, SplittableRandom rng) {
        int dim = c.dim();
        List<Integer> p = c.patchSize();
        int patch = p.get(0) * p.get(1) * p.get(2);
        Map<String, Tensor> w = new LinkedHashMap<>();
        w.put("patch_embedding.weight", random(rng, 1 / Math.sqrt(c.inDim() * patch), dim, c.inDim(), p.get(0),
                p.get(1), p.get(2)));
        w.put("patch_embedding.bias", random(rng, 0.1, dim));
        dense(w, rng, "text_embedding.0", c.textDim(), dim);
        dense(w, rng, "text_embedding.2", dim, dim);
        dense(w, rng, "time_embedding.0", c.freqDim(), dim);
        dense(w, rng, "time_embedding.2", dim, dim);
        dense(w, rng, "time_projection.1", dim, 6 * dim);
        for (int i = 0; i < c.numLayers(); i++) {
            String b = "blocks." + i + ".";
            w.put(b + "modulation", random(rng, 0.2, 1, 6, dim));
            for (String a : List.of("self_attn", "cross_attn")) {
                for (String proj : List.of("q", "k", "v", "o")) {
                    dense(w, rng, b + a + "." + proj, dim, dim);
                }
                if (c.qkNorm()) {
                    w.put(b + a + ".norm_q.weight", around1(rng, dim));
                    w.put(b + a + ".norm_k.weight", around1(rng, dim));
                }
            }
            if (c.crossAttnNorm()) {
                w.put(b + "norm3.weight", around1(rng, dim));
                w.put(b + "norm3.bias", random(rng, 0.1, dim));
            }
            dense(w, rng, b + "ffn.0", dim, c.ffnDim());
            dense(w, rng, b + "ffn.2", c.ffnDim(), dim);
        }
        w.put("head.modulation", random(rng, 0.2, 1, 2, dim));
        dense(w, rng, "head.head", dim, c.outDim() * patch);
        return w;
    }

    private static void dense(Map<String, Tensor> w, SplittableRandom rng, String name, int in, int out) {
        w.put(name + ".weight", random(rng, 1 / Math.sqrt(in), out, in));
        w.put(name + ".bias", random(rng, 0.1, out));
    }

    private static Tensor around1(SplittableRandom rng, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (1 + 0.2 * (rng.nextDouble() * 2 - 1));
        }
        return Tensor.of(v, n);
    }

    /** Uniform in [-a, a] with a = std * sqrt(3): std {@code std}, never all zeros. */
    private static Tensor random(SplittableRandom rng, double std, int... shape) {
        float[] v = new float[Math.toIntExact(Tensor.numelOf(shape))];
        double a = std * Math.sqrt(3);
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (a * (rng.nextDouble() * 2 - 1));
        }
        return Tensor.of(v, shape);
    }

    // ------------------------------------------------------------------ assertions

    private static void assertClose(double[] expected, double[] actual, double relTol, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        double scale = maxAbs(expected);
        assertTrue(scale > 1e-3, what + ": reference is (nearly) zero, max |ref| = " + scale);
        double diff = maxAbsDiff(expected, actual);
        assertTrue(diff <= relTol * scale, what + ": max |diff| " + diff + " > " + relTol + " * max |ref| " + scale);
    }

    private static double maxAbs(double[] a) {
        double m = 0;
        for (double v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    private static double maxAbsDiff(double[] a, double[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    private static void assertArrayEquals(int[] expected, int[] actual) {
        org.junit.jupiter.api.Assertions.assertArrayEquals(expected, actual);
    }

    private static void assertMessage(org.junit.jupiter.api.function.Executable call, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "message lacks '" + part + "': " + e.getMessage());
        }
    }
}
