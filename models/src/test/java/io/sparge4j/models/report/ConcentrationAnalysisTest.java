package io.sparge4j.models.report;

import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.Captions;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.data.ClipMotion;
import io.sparge4j.models.data.ClipSpec;
import io.sparge4j.models.pipeline.GenerationDefaults;
import io.sparge4j.models.pipeline.ModelDirectory;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.text.TextEncoderConfig;
import io.sparge4j.models.text.WordTokenizer;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanWeights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Case 2 on a tiny random pixel-space model saved as a training run would save it (DiT plus text encoder). */
public class ConcentrationAnalysisTest {
    /** dim 32, 2 heads, 2 layers, 3 channels, pixel space; text_dim 32, text_len 16. */
    static final WanConfig CONFIG = WanConfig.tiny(32, 2, 2, 3, true);

    @TempDir
    Path dir;

    /**
     * Writes a tiny random model directory: model.safetensors, config.json and the text encoder's three files.
     *
     * @param dir where
     * @param seed the weights' seed
     * @throws IOException if a file cannot be written
     */
    public static void writeTinyModel(Path dir, long seed) throws IOException {
        Map<String, Tensor> weights = WanWeights.randomInit(CONFIG, seed);
        WordTokenizer tokenizer = new WordTokenizer(Captions.vocabulary());
        TextEncoderConfig text = new TextEncoderConfig(tokenizer.vocabSize(), 16, 1, 2, 32, CONFIG.textLen(), CONFIG.textDim());
        GenerationDefaults generation = new GenerationDefaults(8, 24, 24,
                new WanAttention(MaskMode.HYBRID, 0.03, 0.2, 64, 32, 0, 0), "pretrain", 0);
        try {
            ModelDirectory.save(dir, CONFIG, weights, TextEncoder.initialize(text, tokenizer, seed + 1), generation,
                    DType.F32);
        } finally {
            weights.values().forEach(Tensor::close);
        }
    }

    private static ConcentrationAnalysis.Settings settings(int samples, List<Double> levels, int layer, int head) {
        return new ConcentrationAnalysis.Settings(samples, 5, 0.6, levels, ClipSpec.of(8, 24, 24),
                ConcentrationAnalysis.fullForward(64, 32), layer, head);
    }

    @Test
    void theReportedSparsityMatchesAFloat64ComputationOnTheSamePooledMap() throws IOException {
        writeTinyModel(dir, 42);
        try (ModelDirectory model = ModelDirectory.load(dir, WanWeights.Precision.F32)) {
            assertNotNull(model.textEncoder(), "the text encoder is found next to the DiT");
            for (int[] lh : new int[][] {{0, 0}, {1, 1}}) {
                ConcentrationAnalysis.Result r = ConcentrationAnalysis.run(model.checkpoint().config(),
                        model.weights(), model.textEncoder(), settings(1, List.of(0.5), lh[0], lh[1]));
                assertEquals(8 * 12 * 12, r.tokens());
                assertEquals(18, r.queryBlocks());
                assertEquals(36, r.keyBlocks());
                double[][] map = r.map();
                double sum = 0;
                for (double[] row : map) {
                    double total = 0;
                    for (double v : row) {
                        total += v;
                    }
                    assertEquals(1.0, total, 1e-5, "a softmax row");
                    double[] sorted = java.util.Arrays.stream(row).sorted().toArray();
                    double cum = 0;
                    int kept = 0;
                    while (cum < 0.6 * total) {
                        cum += sorted[sorted.length - 1 - kept];
                        kept++;
                    }
                    sum += 1.0 - kept / 36.0;
                }
                double expected = sum / map.length;
                assertEquals(expected, r.samples().get(0).layerHead()[lh[0]][lh[1]], 1e-12, "layer/head " + lh[0]
                        + "/" + lh[1]);
                assertEquals(expected, r.layerHead()[lh[0]][lh[1]], 1e-12, "one sample: the mean is that sample");
                assertTrue(expected > 0 && expected < 1, "a random model needs some but not all blocks: " + expected);
            }
        }
    }

    @Test
    void averagesOverSamplesAndNoiseLevelsDeterministically() throws IOException {
        writeTinyModel(dir, 43);
        try (ModelDirectory model = ModelDirectory.load(dir, WanWeights.Precision.F32)) {
            ConcentrationAnalysis.Settings s = settings(2, List.of(0.3, 0.9), 1, 0);
            ConcentrationAnalysis.Result a = ConcentrationAnalysis.run(model.checkpoint().config(), model.weights(),
                    model.textEncoder(), s);
            ConcentrationAnalysis.Result b = ConcentrationAnalysis.run(model.checkpoint().config(), model.weights(),
                    model.textEncoder(), s);
            assertEquals(4, a.samples().size());
            for (int l = 0; l < 2; l++) {
                assertArrayEquals(a.layerHead()[l], b.layerHead()[l], 0.0, "same seed, same numbers");
                for (int h = 0; h < 2; h++) {
                    double mean = 0;
                    for (ConcentrationAnalysis.Sample sample : a.samples()) {
                        mean += sample.layerHead()[l][h] / 4;
                    }
                    assertEquals(mean, a.layerHead()[l][h], 1e-12);
                }
            }
            assertTrue(a.samples().get(0).caption().startsWith("a"), a.samples().get(0).caption());
            assertTrue(a.samples().get(0).mean() != a.samples().get(1).mean(),
                    "noise level changes the attention");
        }
    }

    @Test
    void measuresTheClipsOfTheGivenMotionAndRecordsIt() throws IOException {
        writeTinyModel(dir, 44);
        ClipSpec trailing = ClipSpec.of(8, 24, 24).withMotion(ClipMotion.parse("0.4,0.6", 0.1).withTrailingStart(true))
                .withFixed(Captions.parse("a red circle"));
        try (ModelDirectory model = ModelDirectory.load(dir, WanWeights.Precision.F32)) {
            ConcentrationAnalysis.Settings moving = new ConcentrationAnalysis.Settings(2, 5, 0.6, List.of(0.5),
                    trailing, ConcentrationAnalysis.fullForward(64, 32), 1, 0);
            ConcentrationAnalysis.Result r = ConcentrationAnalysis.run(model.checkpoint().config(), model.weights(),
                    model.textEncoder(), moving);
            ConcentrationAnalysis.Result plain = ConcentrationAnalysis.run(model.checkpoint().config(),
                    model.weights(), model.textEncoder(), settings(2, List.of(0.5), 1, 0));
            ClipGenerator expected = new ClipGenerator(5, trailing);
            for (int i = 0; i < 2; i++) {
                String caption = r.samples().get(i).caption();
                assertEquals(expected.clip(i).caption(), caption, "sample " + i + " is the spec's clip " + i);
                assertTrue(caption.startsWith("a red circle moving"), caption);
            }
            assertTrue(r.layerHead()[1][0] != plain.layerHead()[1][0], "other clips, other attention: "
                    + r.layerHead()[1][0]);
            Map<String, Object> json = ConcentrationJson.toJson(r, "m", Map.of());
            assertEquals("trailing", json.get("clip_start"));
            assertEquals(0.1, json.get("clip_start_spread"));
            assertEquals(trailing.motion().speeds(), json.get("clip_speed"));
            assertEquals("centre", ConcentrationJson.toJson(plain, "m", Map.of()).get("clip_start"));
        }
    }

    @Test
    void refusesALatentModelAndBadSettings() {
        var mass = assertThrows(IllegalArgumentException.class, () -> new ConcentrationAnalysis.Settings(1, 0, 1.5,
                List.of(0.5), ClipSpec.of(8, 24, 24), ConcentrationAnalysis.fullForward(64, 32), 0, 0));
        assertTrue(mass.getMessage().contains("mass is 1.5"), mass.getMessage());
        var clips = assertThrows(IllegalArgumentException.class, () -> new ConcentrationAnalysis.Settings(1, 0, 0.6,
                List.of(0.5), null, ConcentrationAnalysis.fullForward(64, 32), 0, 0));
        assertTrue(clips.getMessage().contains("clips are null"), clips.getMessage());
        var level = assertThrows(IllegalArgumentException.class, () -> settings(1, List.of(1.0), 0, 0));
        assertTrue(level.getMessage().contains("noise level is 1.0"), level.getMessage());
        WanConfig latent = WanConfig.tiny(32, 2, 2, 16, false);
        var lat = assertThrows(IllegalArgumentException.class, () -> ConcentrationAnalysis.run(latent, Map.of(), null,
                settings(1, List.of(0.5), 0, 0)));
        assertTrue(lat.getMessage().contains("pixel-space"), lat.getMessage());
    }
}
