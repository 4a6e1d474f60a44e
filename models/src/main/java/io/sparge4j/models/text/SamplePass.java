package io.sparge4j.models.text;

import io.sparge4j.engine.ops.Linear;
import io.sparge4j.engine.ops.Norms;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static io.sparge4j.models.text.TextEncoderConfig.LAYER_NORM_EPS;
import static io.sparge4j.models.text.TextEncoderParameters.PREFIX;

/**
 * The encoder applied to one prompt's L &gt; 0 real tokens:
 * {@code head(norm(layers(token_embedding[ids] + position_embedding[0..L))))}, (L, textDim). With a tape it keeps
 * every layer's intermediates for {@link #backward}; without one it frees each layer as soon as the next has run.
 */
final class SamplePass implements AutoCloseable {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;

    private final TextEncoderConfig config;
    private final Map<String, Tensor> p;
    private final int[] ids;
    private final int len;
    private final List<EncoderLayerPass> layers = new ArrayList<>();
    private Tensor x0;
    private Tensor xN;
    private Tensor nf;
    private Tensor features;

    private SamplePass(TextEncoderConfig config, Map<String, Tensor> parameters, Tokens tokens) {
        this.config = config;
        this.p = parameters;
        this.ids = tokens.ids();
        this.len = tokens.length();
    }

    /**
     * @param tokens a prompt with at least one real token, its ids checked against the vocabulary
     * @param keepTape whether to keep intermediates for {@link #backward}
     */
    static SamplePass run(TextEncoderConfig config, Map<String, Tensor> parameters, Tokens tokens, boolean keepTape) {
        SamplePass s = new SamplePass(config, parameters, tokens);
        try {
            s.forward(keepTape);
            return s;
        } catch (RuntimeException | Error e) {
            s.close();
            throw e;
        }
    }

    private void forward(boolean keepTape) {
        x0 = embed();
        Tensor x = x0;
        for (int i = 0; i < config.layers(); i++) {
            EncoderLayerPass layer = new EncoderLayerPass(i, config, p, len);
            layers.add(layer);
            x = layer.forward(x);
            if (!keepTape) {
                // the previous layer (or the embedding) was only this layer's input
                if (i == 0) {
                    x0.close();
                    x0 = null;
                } else {
                    layers.get(i - 1).close();
                }
            }
        }
        xN = x;
        nf = Norms.layerNorm(xN, p.get(PREFIX + "norm.weight"), p.get(PREFIX + "norm.bias"), LAYER_NORM_EPS);
        features = Linear.linear(nf, p.get(PREFIX + "head.weight"), p.get(PREFIX + "head.bias"));
        if (!keepTape) {
            nf.close();
            nf = null;
            layers.getLast().close();
            layers.clear();
        }
    }

    /** token_embedding[ids[i]] + position_embedding[i] for i < L: a row gather, so plain loops. */
    private Tensor embed() {
        int w = config.width();
        Tensor x = Tensor.allocate(DType.F32, len, w);
        MemorySegment tok = p.get(PREFIX + "token_embedding.weight").segment();
        MemorySegment pos = p.get(PREFIX + "position_embedding.weight").segment();
        MemorySegment xs = x.segment();
        for (int i = 0; i < len; i++) {
            long t = (long) ids[i] * w;
            long r = (long) i * w;
            for (int j = 0; j < w; j++) {
                xs.setAtIndex(F32, r + j, tok.getAtIndex(F32, t + j) + pos.getAtIndex(F32, r + j));
            }
        }
        return x;
    }

    /** @return the features (L, textDim), owned by this pass */
    Tensor features() {
        return features;
    }

    /**
     * Adds this prompt's parameter gradients into {@code grads}.
     *
     * @param dFeatures gradient with respect to {@link #features()}, (L, textDim) f32
     * @param grads accumulators by parameter name, updated
     */
    void backward(Tensor dFeatures, Map<String, Tensor> grads) {
        if (nf == null) {
            throw new IllegalStateException("text encoder: backward needs a pass run with a tape");
        }
        Linear.LinearGrads head = Linear.linearBackward(dFeatures, nf, p.get(PREFIX + "head.weight"), true);
        EncoderLayerPass.accumulate(grads, PREFIX + "head.weight", head.dWeight());
        EncoderLayerPass.accumulate(grads, PREFIX + "head.bias", head.dBias());
        Norms.NormGrads norm = Norms.layerNormBackward(head.dx(), xN, p.get(PREFIX + "norm.weight"),
                p.get(PREFIX + "norm.bias"), LAYER_NORM_EPS);
        head.dx().close();
        EncoderLayerPass.accumulate(grads, PREFIX + "norm.weight", norm.dWeight());
        EncoderLayerPass.accumulate(grads, PREFIX + "norm.bias", norm.dBias());
        Tensor dx = norm.dx();
        for (int i = layers.size() - 1; i >= 0; i--) {
            Tensor dIn = layers.get(i).backward(dx, grads);
            dx.close();
            dx = dIn;
        }
        scatterEmbedding(dx, grads);
        dx.close();
    }

    /** The embedding's backward: each token's row gradient goes to its token row and its position row. */
    private void scatterEmbedding(Tensor dx, Map<String, Tensor> grads) {
        int w = config.width();
        MemorySegment dTok = grads.get(PREFIX + "token_embedding.weight").segment();
        MemorySegment dPos = grads.get(PREFIX + "position_embedding.weight").segment();
        MemorySegment d = dx.segment();
        for (int i = 0; i < len; i++) {
            long t = (long) ids[i] * w;
            long r = (long) i * w;
            for (int j = 0; j < w; j++) {
                float g = d.getAtIndex(F32, r + j);
                dTok.setAtIndex(F32, t + j, dTok.getAtIndex(F32, t + j) + g);
                dPos.setAtIndex(F32, r + j, dPos.getAtIndex(F32, r + j) + g);
            }
        }
    }

    @Override
    public void close() {
        for (EncoderLayerPass layer : layers) {
            layer.close();
        }
        layers.clear();
        for (Tensor t : new Tensor[] {x0, nf, features}) {
            if (t != null) {
                t.close();
            }
        }
        x0 = null;
        nf = null;
        features = null;
    }
}
