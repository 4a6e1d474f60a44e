package io.sparge4j.models.text;

import io.sparge4j.engine.tensor.Tensor;

import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** A tiny vocabulary and encoder, and parameters randomised well away from the init so every path matters. */
final class TextEncoderFixtures {
    static final List<String> WORDS = List.of("a", "red", "blue", "green", "circle", "square", "triangle", "moving",
            "left", "right");
    static final WordTokenizer TOKENIZER = new WordTokenizer(WORDS);
    /** Width 16, 2 layers, 2 heads, ffn 32, 6 tokens, 8 features. */
    static final TextEncoderConfig TINY = new TextEncoderConfig(TOKENIZER.vocabSize(), 16, 2, 2, 32, 6, 8);

    private TextEncoderFixtures() {
    }

    /**
     * An encoder whose parameters are all random (seeded): embeddings N(0, 1), weights N(0, 1/fanIn) scaled by
     * 1.5 so attention is far from uniform, biases N(0, 0.1²), LayerNorm weights 1 + N(0, 0.2²).
     */
    static TextEncoder randomEncoder(TextEncoderConfig config, long seed) {
        TextEncoder e = TextEncoder.initialize(config, TOKENIZER, seed);
        SplittableRandom rng = new SplittableRandom(seed ^ 0x5DEECE66DL);
        for (Map.Entry<String, Tensor> p : e.parameters().entrySet()) {
            String name = p.getKey();
            Tensor t = p.getValue();
            for (long i = 0; i < t.numel(); i++) {
                double g = rng.nextGaussian();
                double value;
                if (name.endsWith(".bias")) {
                    value = 0.1 * g;
                } else if (name.contains(".norm")) {
                    value = 1 + 0.2 * g;
                } else if (name.contains("embedding")) {
                    value = g;
                } else {
                    value = 1.5 * g / Math.sqrt(t.dim(1));
                }
                t.setFloat(i, (float) value);
            }
        }
        return e;
    }

    /** @return seeded random floats in [-1, 1) */
    static float[] random(long seed, int n) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) rng.nextDouble(-1, 1);
        }
        return out;
    }
}
