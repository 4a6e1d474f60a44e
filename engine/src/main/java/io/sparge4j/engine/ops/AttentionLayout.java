package io.sparge4j.engine.ops;

/** How the four dimensions of an attention tensor (batch, heads, sequence, head dim) are ordered in memory. */
public enum AttentionLayout {
    /** (batch, heads, sequence, headDim): each head's rows are contiguous. The default. */
    BHND,
    /** (batch, sequence, heads, headDim): the layout PyTorch and diffusers models hold before transposing. */
    BNHD
}
