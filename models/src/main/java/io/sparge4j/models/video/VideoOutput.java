package io.sparge4j.models.video;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Where and how a generated video is written: the {@code --out} target, the format its name selects, and the
 * frame rate of the picture formats.
 *
 * @param target the file ({@code .safetensors}, {@code .gif}, {@code .mp4}) or the directory of PNG frames
 * @param format what is written there
 * @param fps frames per second of a GIF or MP4 (also recorded in the safetensors metadata), 1 to {@link #MAX_FPS}
 */
public record VideoOutput(Path target, Format format, int fps) {
    /** The highest frame rate accepted. */
    public static final int MAX_FPS = 120;
    /** The highest GIF frame rate: GIF delays are whole centiseconds and browsers slow delays under 2 cs. */
    public static final int MAX_GIF_FPS = 50;

    /** The output formats. */
    public enum Format {
        /** The tensor {@code video}, shape (C, F, H, W), as generated: latents or pixels in [-1, 1]. */
        SAFETENSORS(".safetensors"),
        /** An animated GIF that loops forever (pixel-space models only). */
        GIF(".gif"),
        /** H.264 in an MP4 container, encoded in pure Java by jcodec (pixel-space models only). */
        MP4(".mp4"),
        /** A directory of {@code frame_0000.png}, {@code frame_0001.png}, ... (pixel-space models only). */
        PNG_FRAMES("/");

        private final String suffix;

        Format(String suffix) {
            this.suffix = suffix;
        }

        /** @return the file-name ending that selects this format ({@code "/"} for a directory) */
        public String suffix() {
            return suffix;
        }

        /** @return whether this format holds pictures, which only a pixel-space model can produce today */
        public boolean isPictures() {
            return this != SAFETENSORS;
        }
    }

    /**
     * @throws IllegalArgumentException on a null target or format, or fps out of range
     */
    public VideoOutput {
        if (target == null) {
            throw new IllegalArgumentException("VideoOutput: target is null, expected a path");
        }
        if (format == null) {
            throw new IllegalArgumentException("VideoOutput: format is null, expected one of "
                    + java.util.Arrays.toString(Format.values()));
        }
        if (fps < 1 || fps > MAX_FPS) {
            throw new IllegalArgumentException("VideoOutput: fps is " + fps + ", expected 1 to " + MAX_FPS);
        }
        if (format == Format.GIF && fps > MAX_GIF_FPS) {
            throw new IllegalArgumentException("VideoOutput: fps is " + fps + " for GIF " + target
                    + ", expected at most " + MAX_GIF_FPS + " (GIF frame delays are whole centiseconds and"
                    + " viewers slow down delays under 2 cs); use .mp4 for higher frame rates");
        }
    }

    /**
     * Chooses the format from the target's name: {@code .safetensors}, {@code .gif} or {@code .mp4} (any case);
     * an existing directory, or a name without an extension, is a directory of PNG frames (created when written,
     * if missing).
     *
     * @param target the {@code --out} path
     * @param fps frames per second for GIF and MP4
     * @return the output
     * @throws IllegalArgumentException on a null target, or a name with any other extension
     */
    public static VideoOutput of(Path target, int fps) {
        if (target == null) {
            throw new IllegalArgumentException("VideoOutput.of: target is null, expected a path");
        }
        return new VideoOutput(target, formatOf(target), fps);
    }

    private static Format formatOf(Path target) {
        Path name = target.getFileName();
        if (name == null) {
            return Format.PNG_FRAMES; // a root directory
        }
        String lower = name.toString().toLowerCase(Locale.ROOT);
        for (Format f : Format.values()) {
            if (f != Format.PNG_FRAMES && lower.endsWith(f.suffix())) {
                return f;
            }
        }
        int dot = lower.lastIndexOf('.');
        if (Files.isDirectory(target) || dot <= 0) {
            return Format.PNG_FRAMES;
        }
        throw new IllegalArgumentException("output " + target + " has extension '" + name.toString().substring(dot)
                + "', expected .safetensors, .gif, .mp4, or a directory for PNG frames (a name without an"
                + " extension, or an existing directory)");
    }

    @Override
    public String toString() {
        return format + " " + target + (format == Format.GIF || format == Format.MP4 ? " at " + fps + " fps" : "");
    }
}
