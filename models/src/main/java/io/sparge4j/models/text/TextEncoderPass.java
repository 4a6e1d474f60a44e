package io.sparge4j.models.text;

import io.sparge4j.engine.ops.Elementwise;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * A training forward of a batch of prompts that keeps its tape: read {@link #features()}, feed them to the DiT,
 * then call {@link #backward} once with their gradient. Closing it frees the tape and the features.
 */
public final class TextEncoderPass implements AutoCloseable {
    private final TextEncoderConfig config;
    private final Map<String, Tensor> parameters;
    private final List<Tokens> tokens;
    private final SamplePass[] samples; // null for prompts with no tokens
    private final Tensor features;
    private boolean backwardDone;

    TextEncoderPass(TextEncoderConfig config, Map<String, Tensor> parameters, List<Tokens> tokens,
            SamplePass[] samples, Tensor features) {
        this.config = config;
        this.parameters = parameters;
        this.tokens = List.copyOf(tokens);
        this.samples = samples;
        this.features = features;
    }

    /** @return the features (B, maxLength, textDim), f32, rows beyond each prompt's length zero; owned by this pass */
    public Tensor features() {
        return features;
    }

    /** @return the prompts' tokens, in batch order */
    public List<Tokens> tokens() {
        return tokens;
    }

    /**
     * The gradients of a loss with respect to every parameter, summed over the batch. Gradient rows beyond a
     * prompt's length are ignored: those features are constant zeros.
     *
     * @param dFeatures gradient with respect to {@link #features()}, f32 (B, maxLength, textDim)
     * @return new f32 tensors with the parameters' names and shapes, in their order; the caller owns them
     * @throws IllegalArgumentException on a wrong dtype or shape
     * @throws IllegalStateException if called twice or after close
     */
    public Map<String, Tensor> backward(Tensor dFeatures) {
        if (backwardDone) {
            throw new IllegalStateException("TextEncoderPass.backward: already called (or the pass is closed); run"
                    + " a new forward");
        }
        int[] expected = {samples.length, config.maxLength(), config.textDim()};
        if (dFeatures == null || dFeatures.dtype() != DType.F32 || !Arrays.equals(dFeatures.shape(), expected)) {
            throw new IllegalArgumentException("TextEncoderPass.backward: dFeatures is "
                    + (dFeatures == null ? "null" : dFeatures.dtype() + " " + Arrays.toString(dFeatures.shape()))
                    + ", expected f32 " + Arrays.toString(expected) + " (batch, maxLength, textDim)");
        }
        // each prompt's backward into its own zeroed map, in parallel; the maps are then added in batch order, so
        // the sum does not depend on the thread schedule
        List<Map<String, Tensor>> perPrompt = IntStream.range(0, samples.length).parallel()
                .mapToObj(b -> {
                    if (samples[b] == null) {
                        return null;
                    }
                    Map<String, Tensor> g = zeros();
                    // rows [0, L) of prompt b: a contiguous view
                    samples[b].backward(dFeatures.select(b).narrow(0, tokens.get(b).length()), g);
                    return g;
                }).toList();
        Map<String, Tensor> grads = null;
        for (Map<String, Tensor> g : perPrompt) {
            if (g == null) {
                continue;
            }
            if (grads == null) {
                grads = g;
            } else {
                for (Map.Entry<String, Tensor> e : g.entrySet()) {
                    Elementwise.addInPlace(grads.get(e.getKey()), e.getValue());
                    e.getValue().close();
                }
            }
        }
        backwardDone = true;
        return grads == null ? zeros() : grads;
    }

    /** A zero tensor per parameter, in the parameters' order. */
    private Map<String, Tensor> zeros() {
        Map<String, Tensor> grads = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : parameters.entrySet()) {
            grads.put(e.getKey(), Tensor.allocate(DType.F32, e.getValue().shape()));
        }
        return grads;
    }

    @Override
    public void close() {
        for (SamplePass s : samples) {
            if (s != null) {
                s.close();
            }
        }
        Arrays.fill(samples, null);
        features.close();
        backwardDone = true;
    }
}
