package io.sparge4j.cli;

import io.sparge4j.models.pipeline.VideoGeometry;
import io.sparge4j.models.wan.WanConfig;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The named model sizes and their default video size: {@code model-bench --config} times them, and
 * {@code --model random:LABEL} runs them with seeded random weights ({@link ModelSource}).
 */
public enum ModelPreset {
    /**
     * Pixel space, dim 256, 4 heads of 64, 8 blocks, 3 channels; 4 frames of 64 x 64 px with patch (1, 2, 2)
     * are 4 x 32 x 32 = 4096 tokens. A dense forward takes a few seconds on two cores.
     */
    TINY_4096("tiny-4096", WanConfig.tiny(256, 4, 8, 3, true), 4, 64, 64),
    /** Wan2.1 T2V 1.3B at 480p: 81 x 480 x 832 px, 21 x 60 x 104 latents, 32760 tokens. */
    WAN_1_3B("wan-1.3b", WanConfig.WAN_1_3B, 81, 480, 832),
    /** Wan2.1 T2V 14B at 720p: 81 x 720 x 1280 px, 21 x 90 x 160 latents, 75600 tokens. */
    WAN_14B("wan-14b", WanConfig.WAN_14B, 81, 720, 1280);

    private final String label;
    private final WanConfig config;
    private final int frames;
    private final int height;
    private final int width;

    ModelPreset(String label, WanConfig config, int frames, int height, int width) {
        this.label = label;
        this.config = config;
        this.frames = frames;
        this.height = height;
        this.width = width;
    }

    /** @return the name {@code --config} (and {@code --model random:}) takes */
    public String label() {
        return label;
    }

    /** @return the model's configuration */
    public WanConfig config() {
        return config;
    }

    /** @return the default video frames */
    public int frames() {
        return frames;
    }

    /** @return the default video height in pixels */
    public int height() {
        return height;
    }

    /** @return the default video width in pixels */
    public int width() {
        return width;
    }

    /** @return the model input (C, F, H, W) of the preset's default video size */
    public int[] inputShape() {
        return VideoGeometry.inputShape(config, frames, height, width);
    }

    /** @return the preset with this label, or null */
    static ModelPreset byLabel(String label) {
        return Arrays.stream(values()).filter(p -> p.label.equals(label)).findFirst().orElse(null);
    }

    /** @return every label, for messages: "tiny-4096, wan-1.3b, wan-14b" */
    static String labels() {
        return Arrays.stream(values()).map(ModelPreset::label).collect(Collectors.joining(", "));
    }
}
