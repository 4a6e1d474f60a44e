package io.sparge4j.models.train;

import io.sparge4j.engine.tensor.Tensor;

import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * AdamW's hyperparameters (all but the learning rate, which comes from an {@link LrSchedule} each step) and the
 * rule that decides which parameters get weight decay.
 *
 * <p>Weight decay rule (ours, the usual one for transformers, as in GPT-2/nanoGPT and most DiT trainers): a
 * parameter is decayed when it has rank 2 or more (matrices and convolution kernels) <em>and</em> its name does
 * not match {@link #noDecayPattern}. Rank-1 tensors (biases, norm weights) are therefore never decayed, and the
 * default pattern {@link #DEFAULT_NO_DECAY} also exempts Wan's adaLN {@code modulation} tables (shape (1, 6, dim),
 * bias-like) and token-embedding tables of a text encoder, whose rows are updated sparsely.
 *
 * @param beta1 first-moment decay, in [0, 1) (PyTorch: 0.9)
 * @param beta2 second-moment decay, in [0, 1) (PyTorch: 0.999)
 * @param eps added to the bias-corrected root of the second moment, outside the sqrt, finite and above 0
 *     (PyTorch: 1e-8)
 * @param weightDecay decoupled weight decay, finite and at least 0 (PyTorch's AdamW: 0.01)
 * @param noDecayPattern a Java regular expression matched against the whole parameter name; matching parameters
 *     get no weight decay ("" matches no name of length above 0)
 */
public record AdamWConfig(double beta1, double beta2, double eps, double weightDecay, String noDecayPattern) {

    /** Biases, norm weights, adaLN modulation tables and token embeddings. */
    public static final String DEFAULT_NO_DECAY =
            ".*(\\.bias|norm[^.]*\\.weight|(^|\\.)modulation|token_embedding\\.weight|embed_tokens\\.weight)";

    /** Validates every field, naming the one that is wrong. */
    public AdamWConfig {
        check(beta1 >= 0 && beta1 < 1, "beta1", beta1, "in [0, 1)");
        check(beta2 >= 0 && beta2 < 1, "beta2", beta2, "in [0, 1)");
        check(Double.isFinite(eps) && eps > 0, "eps", eps, "a finite number > 0");
        check(Double.isFinite(weightDecay) && weightDecay >= 0, "weightDecay", weightDecay, "a finite number >= 0");
        check(noDecayPattern != null, "noDecayPattern", null, "a regular expression (\"\" for none)");
        try {
            Pattern.compile(noDecayPattern);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException("AdamWConfig: noDecayPattern is '" + noDecayPattern
                    + "', expected a valid Java regular expression: " + e.getDescription(), e);
        }
    }

    /**
     * PyTorch's defaults (betas 0.9, 0.999, eps 1e-8) with the given weight decay and {@link #DEFAULT_NO_DECAY}.
     *
     * @param weightDecay decoupled weight decay, at least 0
     * @return the configuration
     */
    public static AdamWConfig pytorchDefaults(double weightDecay) {
        return new AdamWConfig(0.9, 0.999, 1e-8, weightDecay, DEFAULT_NO_DECAY);
    }

    /**
     * @param name the parameter's name
     * @param parameter the parameter
     * @return whether weight decay applies to it: weight decay above 0, rank at least 2, name not matching
     *     {@link #noDecayPattern}
     */
    public boolean decays(String name, Tensor parameter) {
        return weightDecay > 0 && parameter.rank() >= 2 && !name.matches(noDecayPattern);
    }

    private static void check(boolean ok, String field, Object got, String expected) {
        if (!ok) {
            throw new IllegalArgumentException("AdamWConfig: " + field + " is " + got + ", expected " + expected);
        }
    }
}
