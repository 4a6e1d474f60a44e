package io.sparge4j.models.video;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Writes a directory of lossless PNG frames, {@code frame_0000.png}, {@code frame_0001.png}, ...: 8-bit RGB for
 * three channels, 8-bit grey for one.
 *
 * <p>All frames are first written as temporary files, then renamed into place, so a failure while encoding
 * leaves no frame behind. Frames {@code frame_NNNN.png} left by an earlier, longer video in the same directory
 * are deleted afterwards so that the directory holds exactly this video.
 */
final class PngFramesWriter {
    private static final Pattern FRAME_NAME = Pattern.compile("frame_(\\d{4,})\\.png");

    private PngFramesWriter() {
    }

    /** @return the file name of frame {@code index} */
    static String frameName(int index) {
        return String.format(Locale.ROOT, "frame_%04d.png", index);
    }

    static void write(FramePixels pixels, Path dir) throws IOException {
        boolean created = false;
        if (!Files.isDirectory(dir)) {
            if (Files.exists(dir)) {
                throw new IllegalArgumentException("output " + dir + " is a file, expected a directory for PNG frames"
                        + " (or a name ending in .gif, .mp4 or .safetensors)");
            }
            Files.createDirectory(dir);
            created = true;
        }
        List<Path> temporaries = new ArrayList<>();
        try {
            for (int f = 0; f < pixels.frames(); f++) {
                BufferedImage image = image(pixels, f);
                temporaries.add(AtomicFiles.writeTemporary(dir.resolve(frameName(f)), file -> {
                    if (!ImageIO.write(image, "png", file.toFile())) {
                        throw new IOException("no PNG writer in javax.imageio on this Java runtime");
                    }
                }));
            }
        } catch (IOException | RuntimeException | Error e) {
            for (Path tmp : temporaries) {
                AtomicFiles.deleteQuietly(tmp, e);
            }
            if (created) {
                AtomicFiles.deleteQuietly(dir, e);
            }
            throw e;
        }
        for (int f = 0; f < temporaries.size(); f++) {
            AtomicFiles.moveIntoPlace(temporaries.get(f), dir.resolve(frameName(f)));
        }
        deleteStaleFrames(dir, pixels.frames());
    }

    private static BufferedImage image(FramePixels pixels, int frame) {
        int[] rgb = pixels.rgb(frame);
        if (pixels.channels() == 1) {
            BufferedImage grey = new BufferedImage(pixels.width(), pixels.height(), BufferedImage.TYPE_BYTE_GRAY);
            byte[] data = ((DataBufferByte) grey.getRaster().getDataBuffer()).getData();
            for (int i = 0; i < rgb.length; i++) {
                data[i] = (byte) rgb[i]; // grey repeats its sample in every channel; take blue
            }
            return grey;
        }
        BufferedImage image = new BufferedImage(pixels.width(), pixels.height(), BufferedImage.TYPE_INT_RGB);
        image.setRGB(0, 0, pixels.width(), pixels.height(), rgb, 0, pixels.width());
        return image;
    }

    private static void deleteStaleFrames(Path dir, int frames) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            for (Path p : (Iterable<Path>) entries::iterator) {
                var m = FRAME_NAME.matcher(p.getFileName().toString());
                if (m.matches() && (m.group(1).length() > 9 || Integer.parseInt(m.group(1)) >= frames)) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }
}
