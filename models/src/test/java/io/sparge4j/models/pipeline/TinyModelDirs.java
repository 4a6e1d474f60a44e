package io.sparge4j.models.pipeline;

import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.Captions;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.text.TextEncoderConfig;
import io.sparge4j.models.text.WordTokenizer;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanWeights;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Tiny random model directories for tests: a pixel-space Wan DiT (dim 64, one head, 2 layers, text_len 16,
 * text_dim 32) with a random text encoder over the captions' vocabulary, saved as {@link ModelDirectory} writes
 * them.
 */
public final class TinyModelDirs {
    /** The DiT's config. */
    public static final WanConfig CONFIG = WanConfig.tiny(64, 1, 2, 3, true);

    private TinyModelDirs() {
    }

    /** @return a random encoder whose features are O(1) and differ between prompts */
    public static TextEncoder encoder(long seed) {
        WordTokenizer tokenizer = new WordTokenizer(Captions.vocabulary());
        TextEncoderConfig c = new TextEncoderConfig(tokenizer.vocabSize(), 32, 1, 2, 64, CONFIG.textLen(),
                CONFIG.textDim());
        TextEncoder e = TextEncoder.initialize(c, tokenizer, seed);
        SplittableRandom rng = new SplittableRandom(seed ^ 0x9E3779B97F4A7C15L);
        for (Map.Entry<String, Tensor> p : e.parameters().entrySet()) {
            Tensor t = p.getValue();
            if (p.getKey().contains("embedding")) {
                for (long i = 0; i < t.numel(); i++) {
                    t.setFloat(i, (float) rng.nextGaussian());   // far from the 0.02 init: prompts matter
                }
            }
        }
        return e;
    }

    /**
     * Writes a model directory: random DiT and encoder, generation.json with the given clip size and attention.
     *
     * @return the directory
     */
    public static Path write(Path dir, long seed, int frames, int height, int width, WanAttention attention,
            DType dtype) throws IOException {
        Map<String, Tensor> weights = WanWeights.randomInit(CONFIG, seed);
        TextEncoder encoder = encoder(seed + 1);
        try {
            ModelDirectory.save(dir, CONFIG, weights, encoder,
                    new GenerationDefaults(frames, height, width, attention, "pretrain", 42), dtype);
        } finally {
            weights.values().forEach(Tensor::close);
            encoder.parameters().values().forEach(Tensor::close);
        }
        return dir;
    }

    /** {@link #write} with 4 frames of 16x16 (256 tokens), hybrid attention over 64x64 blocks, f32. */
    public static Path write(Path dir, long seed) throws IOException {
        return write(dir, seed, 4, 16, 16, WanAttention.defaults().withMode(MaskMode.HYBRID).withTopk(0.3)
                .withTopp(0.5).withBlocks(64, 64), DType.F32);
    }
}
