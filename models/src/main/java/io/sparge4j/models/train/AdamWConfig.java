package io.sparge4j.models.train;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.nn.AdamWKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;

import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * AdamW's hyperparameters (all but the learning rate, which comes from an {@link LrSchedule} each step), the
 * rule that decides which parameters get weight decay, and one learning-rate multiplier for the parameters a
 * pattern names (PyTorch's second parameter group with its own lr; e.g. a jointly trained text encoder's).
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
 * @param lrScalePattern a Java regular expression matched against the whole parameter name; matching parameters
 *     take {@code lr * lrScale} ("" for none)
 * @param lrScale the multiplier of their learning rate (and so of their weight decay, which AdamW scales by lr),
 *     finite and above 0
 */
public record AdamWConfig(double beta1, double beta2, double eps, double weightDecay, String noDecayPattern,
        String lrScalePattern, double lrScale) {

    /** Biases, norm weights, adaLN modulation tables and token embeddings. */
    public static final String DEFAULT_NO_DECAY =
            ".*(\\.bias|norm[^.]*\\.weight|(^|\\.)modulation|token_embedding\\.weight|embed_tokens\\.weight)";

    /** Groups of parameters by their step's hyperparameters: bit 0 weight decay, bit 1 the scaled lr. */
    static final int GROUPS = 4;

    /** Validates every field, naming the one that is wrong. */
    public AdamWConfig {
        check(beta1 >= 0 && beta1 < 1, "beta1", beta1, "in [0, 1)");
        check(beta2 >= 0 && beta2 < 1, "beta2", beta2, "in [0, 1)");
        check(Double.isFinite(eps) && eps > 0, "eps", eps, "a finite number > 0");
        check(Double.isFinite(weightDecay) && weightDecay >= 0, "weightDecay", weightDecay, "a finite number >= 0");
        check(Double.isFinite(lrScale) && lrScale > 0, "lrScale", lrScale, "a finite number > 0");
        compile("noDecayPattern", noDecayPattern);
        compile("lrScalePattern", lrScalePattern);
    }

    /** Every parameter at the schedule's learning rate. */
    public AdamWConfig(double beta1, double beta2, double eps, double weightDecay, String noDecayPattern) {
        this(beta1, beta2, eps, weightDecay, noDecayPattern, "", 1.0);
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
     * @param pattern names the parameters whose learning rate is scaled (a Java regular expression on the whole
     *     name)
     * @param scale their multiplier, finite and above 0
     * @return this configuration with that one scaled group
     * @throws IllegalArgumentException naming a bad pattern or scale
     */
    public AdamWConfig withLrScale(String pattern, double scale) {
        return new AdamWConfig(beta1, beta2, eps, weightDecay, noDecayPattern, pattern, scale);
    }

    /**
     * @param name the parameter's name
     * @return its learning rate's multiplier: lrScale when lrScalePattern matches the name, else 1
     */
    public double lrScale(String name) {
        return !lrScalePattern.isEmpty() && name.matches(lrScalePattern) ? lrScale : 1.0;
    }

    /**
     * @param name the parameter's name
     * @param parameter the parameter
     * @return its group, an index into {@link #hyperparameters}: 1 if it decays, plus 2 if its lr is scaled
     */
    int group(String name, Tensor parameter) {
        return (decays(name, parameter) ? 1 : 0) + (lrScale(name) != 1.0 ? 2 : 0);
    }

    /** @return whether parameters of {@link #group} {@code group} get weight decay */
    static boolean groupDecays(int group) {
        return (group & 1) != 0;
    }

    /** @return whether parameters of {@link #group} {@code group} take the scaled learning rate */
    static boolean groupScaled(int group) {
        return (group & 2) != 0;
    }

    /**
     * The packed per-step scalars ({@link AdamWKernels#hyperparameters}) of each {@link #group}.
     *
     * @param lr the step's learning rate (from the schedule), finite and at least 0
     * @param t the step, from 1
     * @return {@link #GROUPS} arrays, indexed by group
     * @throws IllegalArgumentException naming a bad lr (the kernels' own messages)
     */
    FloatArray[] hyperparameters(double lr, long t) {
        FloatArray[] out = new FloatArray[GROUPS];
        for (int g = 0; g < GROUPS; g++) {
            out[g] = new FloatArray(AdamWKernels.HYPER_SIZE);
            AdamWKernels.hyperparameters(groupScaled(g) ? lr * lrScale : lr, beta1, beta2, eps,
                    groupDecays(g) ? weightDecay : 0.0, t, out[g]);
        }
        return out;
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

    private static void compile(String field, String pattern) {
        check(pattern != null, field, null, "a regular expression (\"\" for none)");
        try {
            Pattern.compile(pattern);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException("AdamWConfig: " + field + " is '" + pattern
                    + "', expected a valid Java regular expression: " + e.getDescription(), e);
        }
    }

    private static void check(boolean ok, String field, Object got, String expected) {
        if (!ok) {
            throw new IllegalArgumentException("AdamWConfig: " + field + " is " + got + ", expected " + expected);
        }
    }
}
