package io.sparge4j.cli;

import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.models.wan.WanAttention;
import picocli.CommandLine.Option;


/** The self-attention options of {@code generate} and {@code forward}: SpargeAttention2's settings per model. */
final class WanAttentionFlags {
    @Option(names = "--attention", paramLabel = "dense|topk|topp|hybrid", defaultValue = "hybrid",
            description = "Self-attention: dense, or SpargeAttention2's Top-k, Top-p or hybrid block mask (default"
                    + " ${DEFAULT-VALUE}).")
    String mode;

    @Option(names = "--topk", paramLabel = "K", defaultValue = "0.03",
            description = "Top-k fraction of key blocks per query block (default ${DEFAULT-VALUE}).")
    double topk;

    @Option(names = "--topp", paramLabel = "P", defaultValue = "0.2",
            description = "Top-p mass of the pooled attention (default ${DEFAULT-VALUE}).")
    double topp;

    @Option(names = "--bq", paramLabel = "N", defaultValue = "128", description = "Query block (default 128).")
    int queryBlock;

    @Option(names = "--bkv", paramLabel = "N", defaultValue = "64", description = "Key block (default 64).")
    int keyBlock;

    @Option(names = "--dense-layers", paramLabel = "N", defaultValue = "0",
            description = "Keep the first N transformer blocks dense (default 0).")
    int denseLayers;

    @Option(names = "--dense-steps", paramLabel = "M", defaultValue = "0",
            description = "Keep the first M denoising steps dense (default 0).")
    int denseSteps;

    @Option(names = "--late-topk", paramLabel = "K", defaultValue = "0",
            description = "Top-k fraction used instead of --topk in the late, low-noise steps (noise level at or below"
                    + " --late-noise-level), where the sparse mask leaves the most error; 0 (the default) keeps one k."
                    + " E.g. 0.15 or 0.3 for a model trained at 0.03.")
    double lateTopk;

    @Option(names = "--late-noise-level", paramLabel = "S", defaultValue = "" + WanAttention.DEFAULT_LATE_NOISE_LEVEL,
            description = "Noise level (timestep / 1000) at and below which --late-topk applies (default"
                    + " ${DEFAULT-VALUE}: the last 8 of 20 UniPC steps at shift 5).")
    double lateNoiseLevel;

    /**
     * @return the settings
     * @throws IllegalArgumentException naming the option that is out of range
     */
    WanAttention settings() {
        MaskMode m = MaskMode.find(mode).filter(WanAttention.MODES::contains).orElseThrow(() ->
                new IllegalArgumentException("--attention: got '" + mode + "', expected dense, topk, topp or hybrid"));
        if (!(lateTopk == 0 || lateTopk > 0 && lateTopk <= 1)) {
            throw new IllegalArgumentException("--late-topk: got " + lateTopk + ", expected 0 (off) or a fraction in"
                    + " (0, 1]");
        }
        if (!(lateNoiseLevel >= 0 && lateNoiseLevel <= 1)) {
            throw new IllegalArgumentException("--late-noise-level: got " + lateNoiseLevel + ", expected a noise level"
                    + " in [0, 1]");
        }
        return new WanAttention(m, topk, topp, queryBlock, keyBlock, denseLayers, denseSteps, lateTopk,
                lateNoiseLevel);
    }
}
