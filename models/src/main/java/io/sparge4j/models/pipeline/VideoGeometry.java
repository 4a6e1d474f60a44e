package io.sparge4j.models.pipeline;

import io.sparge4j.models.wan.WanConfig;

/**
 * Maps the size of the video a user asks for (frames, height, width in pixels) to the tensor the model denoises:
 * (in_dim, frames', height', width') through the config's {@code vae_stride} (Wan: (4, 8, 8), so a clip has
 * 4n + 1 frames; pixel-space models: (1, 1, 1)), and checks that the patch embedding's patch divides it.
 */
public final class VideoGeometry {
    private VideoGeometry() {
    }

    /**
     * @param config the model
     * @param frames video frames
     * @param height video height in pixels
     * @param width video width in pixels
     * @return (C, F, H, W) of the model's input
     * @throws IllegalArgumentException naming the size that does not map, with the nearest sizes that do
     */
    public static int[] inputShape(WanConfig config, int frames, int height, int width) {
        int st = config.vaeStride().get(0);
        int sh = config.vaeStride().get(1);
        int sw = config.vaeStride().get(2);
        int pt = config.patchSize().get(0);
        int ph = config.patchSize().get(1);
        int pw = config.patchSize().get(2);
        positive("frames", frames);
        positive("height", height);
        positive("width", width);
        if ((frames - 1) % st != 0) {
            int lower = (frames - 1) / st * st + 1;
            throw new IllegalArgumentException("--frames: got " + frames + ", but this model's VAE stride in time is "
                    + st + ", so frames must be " + st + "n+1 (e.g. " + lower + " or " + (lower + st) + ")");
        }
        int f = (frames - 1) / st + 1;
        int h = exact("height", height, sh * ph);
        int w = exact("width", width, sw * pw);
        if (f % pt != 0) {
            throw new IllegalArgumentException("--frames: got " + frames + ", which gives " + f + " latent frames, not a"
                    + " multiple of the patch's " + pt);
        }
        return new int[] {config.inDim(), f, h / sh, w / sw};
    }

    private static int exact(String name, int pixels, int multiple) {
        if (pixels % multiple != 0) {
            int lower = Math.max(multiple, pixels / multiple * multiple);
            throw new IllegalArgumentException("--" + name + ": got " + pixels + ", expected a multiple of " + multiple
                    + " (VAE stride x patch) for this model, e.g. " + lower + " or " + (lower + multiple));
        }
        return pixels;
    }

    private static void positive(String name, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException("--" + name + ": got " + v + ", expected a positive integer");
        }
    }
}
