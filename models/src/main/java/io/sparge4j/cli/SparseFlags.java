package io.sparge4j.cli;

import io.sparge4j.engine.ops.AttentionLayout;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.SparseAttention;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

import java.util.Arrays;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/** The mask and attention flags that {@code sparge mask} and {@code sparge attention} share. */
final class SparseFlags {
    @Option(names = "--mode", paramLabel = "MODE", defaultValue = "hybrid",
            description = "Attention mode: dense, topk, topp, hybrid (default) or mask (a given --mask).")
    String mode;

    @Option(names = "--topk", paramLabel = "K", defaultValue = "0.03",
            description = "Top-k fraction of key blocks per query block, in (0, 1] (default ${DEFAULT-VALUE}).")
    double topk;

    @Option(names = "--topp", paramLabel = "P", defaultValue = "0.2",
            description = "Top-p pooled-mass threshold, in (0, 1] (default ${DEFAULT-VALUE}).")
    double topp;

    @Option(names = "--bq", paramLabel = "N", defaultValue = "128",
            description = "Query block size in tokens (default ${DEFAULT-VALUE}).")
    int queryBlock;

    @Option(names = "--bkv", paramLabel = "N", defaultValue = "64",
            description = "Key/value block size in tokens (default ${DEFAULT-VALUE}).")
    int keyBlock;

    @Option(names = "--layout", paramLabel = "bhnd|bnhd", defaultValue = "bhnd",
            description = "Tensor layout: bhnd = (B,H,N,d) (default) or bnhd = (B,N,H,d), as PyTorch/diffusers hold it.")
    String layout;

    @Option(names = "--scale", paramLabel = "S",
            description = "Softmax scale (default 1/sqrt(d)).")
    Float scale;

    /**
     * Checks every flag and builds the config (without a mask tensor).
     *
     * @param spec the command, for usage errors
     * @param allowed the modes this command accepts
     * @return the config
     * @throws ParameterException naming the flag, the value and what is expected
     */
    SparseAttention.Config config(CommandSpec spec, Set<MaskMode> allowed) {
        MaskMode m = parseMode(spec, mode, allowed);
        if (m == MaskMode.TOPK || m == MaskMode.HYBRID) {
            checkFraction(spec, "--topk", topk);
        }
        if (m == MaskMode.TOPP || m == MaskMode.HYBRID) {
            checkFraction(spec, "--topp", topp);
        }
        checkBlock(spec, "--bq", queryBlock);
        checkBlock(spec, "--bkv", keyBlock);
        if (scale != null && !(scale > 0 && Float.isFinite(scale))) {
            throw invalid(spec, "--scale", String.valueOf(scale), "a finite positive number");
        }
        AttentionLayout l = switch (layout.trim().toLowerCase(Locale.ROOT)) {
            case "bhnd" -> AttentionLayout.BHND;
            case "bnhd" -> AttentionLayout.BNHD;
            default -> throw invalid(spec, "--layout", "'" + layout + "'", "bhnd (B,H,N,d) or bnhd (B,N,H,d)");
        };
        // Mode MASK needs a tensor the command adds later; build with a placeholder mode, then switch.
        MaskMode buildMode = m == MaskMode.MASK ? MaskMode.DENSE : m;
        return new SparseAttention.Config(buildMode, topk, topp, queryBlock, keyBlock, l,
                scale == null ? Float.NaN : scale, null);
    }

    /** @return the parsed {@code --mode}, if {@code allowed} holds it */
    static MaskMode parseMode(CommandSpec spec, String text, Set<MaskMode> allowed) {
        return parseMode(spec, "--mode", text, allowed);
    }

    /**
     * @param option the flag that gave the mode, for the message
     * @return the parsed mode, if {@code allowed} holds it
     * @throws ParameterException naming the flag, the value and the allowed modes otherwise
     */
    static MaskMode parseMode(CommandSpec spec, String option, String text, Set<MaskMode> allowed) {
        MaskMode m = MaskMode.find(text).orElse(null);
        if (m == null || !allowed.contains(m)) {
            String names = Arrays.stream(MaskMode.values()).filter(allowed::contains).map(MaskMode::toString)
                    .collect(Collectors.joining(", "));
            throw invalid(spec, option, "'" + text + "'", "one of " + names);
        }
        return m;
    }

    static void checkFraction(CommandSpec spec, String option, double v) {
        if (!(v > 0 && v <= 1)) {
            throw invalid(spec, option, String.valueOf(v), "a fraction in (0, 1]");
        }
    }

    static void checkBlock(CommandSpec spec, String option, int v) {
        if (v <= 0 || v > io.sparge4j.engine.ops.Attention.MAX_BLOCK) {
            throw invalid(spec, option, String.valueOf(v), "a block size from 1 to "
                    + io.sparge4j.engine.ops.Attention.MAX_BLOCK);
        }
    }

    /** @return a usage error in the CLI's wording: "Invalid value for option '--x': got v, expected e" */
    static ParameterException invalid(CommandSpec spec, String option, String got, String expected) {
        return new ParameterException(spec.commandLine(), "Invalid value for option '" + option + "': got " + got
                + ", expected " + expected);
    }
}
