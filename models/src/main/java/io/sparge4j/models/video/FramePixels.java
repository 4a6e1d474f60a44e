package io.sparge4j.models.video;

import io.sparge4j.engine.tensor.Tensor;

import java.util.Arrays;

/**
 * The pixels of a pixel-space video tensor (C, F, H, W) with values in [-1, 1], as 8-bit samples.
 *
 * <p>A value v maps to {@code round((clamp(v, -1, 1) + 1) * 127.5)}: -1 is 0, 1 is 255. One channel is grey,
 * three are RGB.
 */
final class FramePixels {
    private final Tensor video;
    private final int channels;
    private final int frames;
    private final int height;
    private final int width;

    private FramePixels(Tensor video) {
        this.video = video;
        this.channels = video.dim(0);
        this.frames = video.dim(1);
        this.height = video.dim(2);
        this.width = video.dim(3);
    }

    /**
     * @param video (C, F, H, W), C = 1 (grey) or 3 (RGB)
     * @param target the output, for error messages
     * @throws IllegalArgumentException on another shape
     */
    static FramePixels of(Tensor video, VideoOutput target) {
        VideoWriters.requireVideoShape(video);
        int c = video.dim(0);
        if (c != 1 && c != 3) {
            throw new IllegalArgumentException("video has shape " + Arrays.toString(video.shape()) + " (C, F, H, W)"
                    + " with C = " + c + ", expected C = 3 (RGB) or 1 (grey) to write " + target
                    + "; write .safetensors for other channel counts");
        }
        return new FramePixels(video);
    }

    /** Maps one value to an 8-bit sample. */
    static int toByte(float v) {
        // In double, (v + 1) * 127.5 is exact for every float v, so rounding never depends on float error.
        double clamped = Math.max(-1.0, Math.min(1.0, v));
        return (int) Math.round((clamped + 1.0) * 127.5);
    }

    int channels() {
        return channels;
    }

    int frames() {
        return frames;
    }

    int height() {
        return height;
    }

    int width() {
        return width;
    }

    /**
     * @param frame the frame index
     * @return the frame as packed 0xRRGGBB, row-major (grey repeats its sample in all three)
     * @throws IllegalArgumentException on a NaN, which has no colour
     */
    int[] rgb(int frame) {
        int plane = height * width;
        int[] out = new int[plane];
        for (int c = 0; c < 3; c++) {
            int src = channels == 1 ? 0 : c;
            long base = ((long) src * frames + frame) * plane;
            int shift = 16 - 8 * c;
            for (int i = 0; i < plane; i++) {
                float v = video.getFloat(base + i);
                if (Float.isNaN(v)) {
                    throw new IllegalArgumentException("video has NaN at channel " + src + ", frame " + frame
                            + ", row " + i / width + ", column " + i % width
                            + ", expected finite values in [-1, 1] for pictures");
                }
                out[i] |= toByte(v) << shift;
            }
        }
        return out;
    }
}
