package io.sparge4j.models.wan;

import java.util.List;

/**
 * The configuration of a Wan2.1 diffusion transformer (Wan-Video/Wan2.1 {@code wan/modules/model.py}, class
 * {@code WanModel}), plus this project's {@code pixel_space} and {@code vae_stride}. {@code WanConfigReader} reads
 * it from a {@code config.json}; {@link #WAN_1_3B} and {@link #WAN_14B} are the released sizes and {@link #tiny}
 * makes small ones for tests.
 *
 * @param dim hidden size
 * @param ffnDim feed-forward inner size
 * @param numHeads attention heads (head dim = dim / numHeads)
 * @param numLayers transformer blocks
 * @param inDim input channels (16 VAE latent channels, 3 for pixel-space models)
 * @param outDim output channels
 * @param textDim text feature width (4096 for umT5)
 * @param textLen text rows cross-attention sees (features are zero-padded to this many)
 * @param freqDim sinusoidal time-embedding width
 * @param patchSize (t, h, w) patch of the patch embedding
 * @param eps norm epsilon
 * @param qkNorm RMSNorm on q and k
 * @param crossAttnNorm affine LayerNorm before cross-attention
 * @param pixelSpace whether the model works on pixels (3 channels in [-1, 1]) instead of VAE latents
 * @param vaeStride (t, h, w) stride between video pixels and latents; (1, 1, 1) for pixel-space models
 * @param absolutePosition this project's experimental absolute position signal; {@link AbsolutePosition#NONE}
 *     (Wan's architecture) unless a config asks for it
 * @param textModulation this project's experimental caption path into the time embedding; {@link TextModulation#NONE}
 *     (Wan's architecture) unless a config asks for it
 */
public record WanConfig(int dim, int ffnDim, int numHeads, int numLayers, int inDim, int outDim, int textDim,
        int textLen, int freqDim, List<Integer> patchSize, double eps, boolean qkNorm, boolean crossAttnNorm,
        boolean pixelSpace, List<Integer> vaeStride, AbsolutePosition absolutePosition,
        TextModulation textModulation) {

    /** Wan2.1 T2V 1.3B. */
    public static final WanConfig WAN_1_3B = new WanConfig(1536, 8960, 12, 30, 16, 16, 4096, 512, 256,
            List.of(1, 2, 2), 1e-6, true, true, false, List.of(4, 8, 8));
    /** Wan2.1 T2V 14B. */
    public static final WanConfig WAN_14B = new WanConfig(5120, 13824, 40, 40, 16, 16, 4096, 512, 256,
            List.of(1, 2, 2), 1e-6, true, true, false, List.of(4, 8, 8));

    /**
     * @throws IllegalArgumentException naming the field that is out of range
     */
    public WanConfig {
        positive("dim", dim);
        positive("ffn_dim", ffnDim);
        positive("num_heads", numHeads);
        positive("num_layers", numLayers);
        positive("in_dim", inDim);
        positive("out_dim", outDim);
        positive("text_dim", textDim);
        positive("text_len", textLen);
        positive("freq_dim", freqDim);
        if (dim % numHeads != 0) {
            throw new IllegalArgumentException("WanConfig: dim " + dim + " is not a multiple of num_heads " + numHeads
                    + "; expected dim = num_heads * head_dim");
        }
        if (freqDim % 2 != 0) {
            throw new IllegalArgumentException("WanConfig: freq_dim is " + freqDim + ", expected an even number");
        }
        patchSize = triple("patch_size", patchSize);
        vaeStride = triple("vae_stride", vaeStride);
        if (!(eps > 0)) {
            throw new IllegalArgumentException("WanConfig: eps is " + eps + ", expected a positive number");
        }
        if (absolutePosition == null) {
            throw new IllegalArgumentException("WanConfig: absolute_position is null, expected one of "
                    + AbsolutePosition.words());
        }
        String bad = absolutePosition.unsupportedWidth(dim);
        if (bad != null) {
            throw new IllegalArgumentException("WanConfig: " + bad);
        }
        if (textModulation == null) {
            throw new IllegalArgumentException("WanConfig: text_modulation is null, expected one of "
                    + TextModulation.words());
        }
    }

    /** Wan2.1's text path (cross-attention only), with the given absolute position signal. */
    public WanConfig(int dim, int ffnDim, int numHeads, int numLayers, int inDim, int outDim, int textDim,
            int textLen, int freqDim, List<Integer> patchSize, double eps, boolean qkNorm, boolean crossAttnNorm,
            boolean pixelSpace, List<Integer> vaeStride, AbsolutePosition absolutePosition) {
        this(dim, ffnDim, numHeads, numLayers, inDim, outDim, textDim, textLen, freqDim, patchSize, eps, qkNorm,
                crossAttnNorm, pixelSpace, vaeStride, absolutePosition, TextModulation.NONE);
    }

    /** Wan2.1's architecture: no absolute position signal. */
    public WanConfig(int dim, int ffnDim, int numHeads, int numLayers, int inDim, int outDim, int textDim,
            int textLen, int freqDim, List<Integer> patchSize, double eps, boolean qkNorm, boolean crossAttnNorm,
            boolean pixelSpace, List<Integer> vaeStride) {
        this(dim, ffnDim, numHeads, numLayers, inDim, outDim, textDim, textLen, freqDim, patchSize, eps, qkNorm,
                crossAttnNorm, pixelSpace, vaeStride, AbsolutePosition.NONE);
    }

    /**
     * @param position the absolute position signal
     * @return this configuration with that signal
     */
    public WanConfig withAbsolutePosition(AbsolutePosition position) {
        return new WanConfig(dim, ffnDim, numHeads, numLayers, inDim, outDim, textDim, textLen, freqDim, patchSize,
                eps, qkNorm, crossAttnNorm, pixelSpace, vaeStride, position, textModulation);
    }

    /**
     * @param modulation the caption's path into the time embedding
     * @return this configuration with that path
     */
    public WanConfig withTextModulation(TextModulation modulation) {
        return new WanConfig(dim, ffnDim, numHeads, numLayers, inDim, outDim, textDim, textLen, freqDim, patchSize,
                eps, qkNorm, crossAttnNorm, pixelSpace, vaeStride, absolutePosition, modulation);
    }

    /**
     * A small model for tests and demos: the released architecture at toy sizes.
     *
     * @param dim hidden size (a multiple of heads)
     * @param heads attention heads
     * @param layers blocks
     * @param channels input and output channels
     * @param pixelSpace whether it works on pixels
     * @return the config; ffn 2 dim, text_dim 32, text_len 16, freq_dim 32, patch (1, 2, 2), eps 1e-6
     */
    public static WanConfig tiny(int dim, int heads, int layers, int channels, boolean pixelSpace) {
        return new WanConfig(dim, 2 * dim, heads, layers, channels, channels, 32, 16, 32, List.of(1, 2, 2), 1e-6,
                true, true, pixelSpace, pixelSpace ? List.of(1, 1, 1) : List.of(4, 8, 8));
    }

    /** @return dim / num_heads */
    public int headDim() {
        return dim / numHeads;
    }

    /**
     * @param frames the model input's frames (latent frames, or pixel frames for a pixel-space model)
     * @param height its height
     * @param width its width
     * @return the DiT's sequence length for that input: the grid over {@code patch_size}
     */
    public long sequenceLength(int frames, int height, int width) {
        return (long) (frames / patchSize.get(0)) * (height / patchSize.get(1)) * (width / patchSize.get(2));
    }

    private static void positive(String name, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException("WanConfig: " + name + " is " + v + ", expected a positive integer");
        }
    }

    private static List<Integer> triple(String name, List<Integer> v) {
        if (v == null || v.size() != 3 || v.stream().anyMatch(x -> x == null || x <= 0)) {
            throw new IllegalArgumentException("WanConfig: " + name + " is " + v + ", expected three positive integers");
        }
        return List.copyOf(v);
    }
}
