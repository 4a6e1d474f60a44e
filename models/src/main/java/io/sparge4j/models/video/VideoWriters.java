package io.sparge4j.models.video;

import io.sparge4j.engine.io.Safetensors;
import io.sparge4j.engine.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes a generated video, a tensor (C, F, H, W), to the target of a {@link VideoOutput}.
 *
 * <ul>
 *   <li>{@code .safetensors} always works: the tensor {@code video} as generated (latents of a latent model,
 *       pixels in [-1, 1] of a pixel-space model), with metadata {@code pixel_space}, {@code fps} and
 *       {@code layout = CFHW}.</li>
 *   <li>GIF, MP4 and PNG frames need pixels: a pixel-space model with C = 3 (RGB) or 1 (grey). Values in
 *       [-1, 1] map to 0..255 ({@code round((clamp(v, -1, 1) + 1) * 127.5)}).</li>
 * </ul>
 *
 * <p>Each file is written to a temporary file in the same directory and renamed over the target, so a failure
 * leaves no partial file. The parent directory must exist.
 */
public final class VideoWriters {
    /** The tensor name in a written safetensors file. */
    public static final String TENSOR_NAME = "video";

    private VideoWriters() {
    }

    /**
     * Writes the video to {@code out}.
     *
     * @param video (C, F, H, W); any float dtype
     * @param pixelSpace whether the video holds pixels in [-1, 1] (a pixel-space model) rather than VAE latents
     * @param out where and in what format
     * @throws IllegalArgumentException on a null argument, a shape that is not (C, F, H, W) with every size at
     *     least 1, a latent video asked for pictures, a picture format with C other than 1 or 3, an MP4 with an
     *     odd width or height or frames too small for jcodec's buffer (a single 16x16 macroblock of noise), a
     *     NaN in a picture, or a missing parent directory
     * @throws IOException if writing fails; no partial file is left behind
     */
    public static void write(Tensor video, boolean pixelSpace, VideoOutput out) throws IOException {
        if (out == null) {
            throw new IllegalArgumentException("VideoWriters.write: out is null, expected a VideoOutput");
        }
        requireVideoShape(video);
        if (out.format().isPictures() && !pixelSpace) {
            throw new IllegalArgumentException("output " + out.target() + " asks for " + out.format()
                    + ", but this is a latent model: its video " + Arrays.toString(video.shape())
                    + " holds VAE latents, and turning latents into pictures needs a VAE decoder, which Sparge4J"
                    + " does not have yet; write the latents with --out " + safetensorsSibling(out.target()));
        }
        AtomicFiles.requireParentDirectory(out.target());
        switch (out.format()) {
            case SAFETENSORS -> writeSafetensors(video, pixelSpace, out);
            case GIF -> {
                FramePixels pixels = FramePixels.of(video, out);
                AtomicFiles.write(out.target(), file -> GifVideoWriter.write(pixels, file, out.fps()));
            }
            case MP4 -> {
                FramePixels pixels = FramePixels.of(video, out);
                Mp4VideoWriter.requireEvenSize(pixels, out);
                AtomicFiles.write(out.target(), file -> Mp4VideoWriter.write(pixels, file, out.fps()));
            }
            case PNG_FRAMES -> PngFramesWriter.write(FramePixels.of(video, out), out.target());
        }
    }

    private static void writeSafetensors(Tensor video, boolean pixelSpace, VideoOutput out) throws IOException {
        Map<String, String> metadata = new TreeMap<>();
        metadata.put("layout", "CFHW");
        metadata.put("pixel_space", Boolean.toString(pixelSpace));
        metadata.put("fps", Integer.toString(out.fps()));
        Safetensors.write(out.target(), Map.of(TENSOR_NAME, video), metadata);
    }

    /** @return the target with its extension replaced by .safetensors, for the latent refusal's advice */
    private static Path safetensorsSibling(Path target) {
        Path name = target.getFileName();
        if (name == null) {
            return Path.of("video.safetensors");
        }
        String s = name.toString();
        int dot = s.lastIndexOf('.');
        return target.resolveSibling((dot > 0 ? s.substring(0, dot) : s) + ".safetensors");
    }

    /**
     * @throws IllegalArgumentException unless the video is a non-null rank-4 tensor with every size at least 1
     */
    static void requireVideoShape(Tensor video) {
        if (video == null) {
            throw new IllegalArgumentException("VideoWriters.write: video is null, expected a tensor (C, F, H, W)");
        }
        int[] shape = video.shape();
        if (shape.length != 4 || Arrays.stream(shape).anyMatch(d -> d < 1)) {
            throw new IllegalArgumentException("video has shape " + Arrays.toString(shape)
                    + ", expected (C, F, H, W) with every size at least 1");
        }
    }
}
