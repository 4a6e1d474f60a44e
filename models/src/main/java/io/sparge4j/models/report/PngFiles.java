package io.sparge4j.models.report;

import io.sparge4j.models.video.AtomicFiles;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Writes images as PNG atomically (a reader never sees half a file), creating missing parent directories. */
public final class PngFiles {
    private PngFiles() {
    }

    /**
     * @param image the picture
     * @param out the PNG file to create or replace
     * @throws IOException if the file cannot be written
     */
    public static void write(BufferedImage image, Path out) throws IOException {
        if (image == null || out == null) {
            throw new IllegalArgumentException("PngFiles.write: image is " + image + " and out is " + out
                    + ", expected both non-null");
        }
        Path parent = out.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        AtomicFiles.write(out, tmp -> {
            if (!ImageIO.write(image, "png", tmp.toFile())) {
                throw new IOException("no PNG writer in this Java runtime (javax.imageio)");
            }
        });
    }
}
