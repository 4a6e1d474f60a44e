package io.sparge4j.cli;

import io.sparge4j.models.pipeline.GenerationDefaults;
import io.sparge4j.models.wan.WanAttention;
import picocli.CommandLine.ParseResult;

/**
 * The self-attention a command runs a model with: the model's generation.json settings where it has them (mode, k, p,
 * block sizes, late Top-k), with every {@link WanAttentionFlags} option the user actually typed taking precedence.
 */
final class AttentionDefaults {
    private AttentionDefaults() {
    }

    /**
     * @param parsed the command's parse result (which options were typed)
     * @param flags the attention options
     * @param generation the model's defaults, or null for none (the flags' own defaults apply)
     * @return the settings
     * @throws IllegalArgumentException naming the option out of range
     */
    static WanAttention resolve(ParseResult parsed, WanAttentionFlags flags, GenerationDefaults generation) {
        WanAttention typed = flags.settings();
        if (generation == null) {
            return typed;
        }
        WanAttention a = generation.attention();
        if (parsed.hasMatchedOption("--attention")) {
            a = a.withMode(typed.mode());
        }
        if (parsed.hasMatchedOption("--topk")) {
            a = a.withTopk(typed.topk());
        }
        if (parsed.hasMatchedOption("--topp")) {
            a = a.withTopp(typed.topp());
        }
        int qb = parsed.hasMatchedOption("--bq") ? typed.queryBlock() : a.queryBlock();
        int kb = parsed.hasMatchedOption("--bkv") ? typed.keyBlock() : a.keyBlock();
        // a typed --late-topk keeps the model's own late noise level, if it has one
        double lateK = parsed.hasMatchedOption("--late-topk") ? typed.lateTopk() : a.lateTopk();
        double lateLevel = parsed.hasMatchedOption("--late-noise-level") || a.lateTopk() == 0
                ? flags.lateNoiseLevel : a.lateNoiseLevel();
        return a.withBlocks(qb, kb).withDenseLayers(typed.denseLayers()).withDenseSteps(typed.denseSteps())
                .withLateTopk(lateK, lateLevel);
    }
}
