package io.sparge4j.models.video;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.FileImageOutputStream;
import javax.imageio.stream.ImageOutputStream;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.awt.image.IndexColorModel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Iterator;

/**
 * Writes an animated GIF through {@code javax.imageio}: one frame per video frame, each with its own palette
 * ({@link GifPalette}), a delay of {@code round(100 / fps)} centiseconds, looping forever.
 */
final class GifVideoWriter {
    private static final String FORMAT = "javax_imageio_gif_image_1.0";

    private GifVideoWriter() {
    }

    /** @return the frame delay in centiseconds for a frame rate */
    static int delayCentiseconds(int fps) {
        return Math.max(1, Math.round(100f / fps));
    }

    static void write(FramePixels pixels, Path file, int fps) throws IOException {
        Iterator<ImageWriter> writers = ImageIO.getImageWritersByFormatName("gif");
        if (!writers.hasNext()) {
            throw new IOException("no GIF writer in javax.imageio on this Java runtime; write .mp4 or .safetensors");
        }
        ImageWriter writer = writers.next();
        try (ImageOutputStream out = new FileImageOutputStream(file.toFile())) {
            writer.setOutput(out);
            writer.prepareWriteSequence(null);
            ImageWriteParam param = writer.getDefaultWriteParam();
            for (int f = 0; f < pixels.frames(); f++) {
                BufferedImage image = indexedImage(pixels, f);
                IIOMetadata metadata = writer.getDefaultImageMetadata(new ImageTypeSpecifier(image), param);
                describeFrame(metadata, delayCentiseconds(fps), f == 0);
                writer.writeToSequence(new IIOImage(image, null, metadata), param);
            }
            writer.endWriteSequence();
        } finally {
            writer.dispose();
        }
    }

    private static BufferedImage indexedImage(FramePixels pixels, int frame) {
        GifPalette palette = GifPalette.of(pixels.rgb(frame));
        int[] colors = palette.colors();
        // GIF colour tables have a power-of-two size; unused entries stay black.
        byte[] r = new byte[GifPalette.SIZE];
        byte[] g = new byte[GifPalette.SIZE];
        byte[] b = new byte[GifPalette.SIZE];
        for (int i = 0; i < colors.length; i++) {
            r[i] = (byte) (colors[i] >> 16);
            g[i] = (byte) (colors[i] >> 8);
            b[i] = (byte) colors[i];
        }
        IndexColorModel model = new IndexColorModel(8, GifPalette.SIZE, r, g, b);
        BufferedImage image = new BufferedImage(pixels.width(), pixels.height(), BufferedImage.TYPE_BYTE_INDEXED, model);
        byte[] data = ((DataBufferByte) image.getRaster().getDataBuffer()).getData();
        System.arraycopy(palette.indices(), 0, data, 0, data.length);
        return image;
    }

    /** Sets the frame delay, full-frame replacement, and (on the first frame) the NETSCAPE2.0 loop-forever block. */
    private static void describeFrame(IIOMetadata metadata, int delay, boolean first) throws IOException {
        IIOMetadataNode root = (IIOMetadataNode) metadata.getAsTree(FORMAT);
        IIOMetadataNode control = child(root, "GraphicControlExtension");
        control.setAttribute("disposalMethod", "none");
        control.setAttribute("userInputFlag", "FALSE");
        control.setAttribute("transparentColorFlag", "FALSE");
        control.setAttribute("delayTime", Integer.toString(delay));
        control.setAttribute("transparentColorIndex", "0");
        if (first) {
            IIOMetadataNode app = new IIOMetadataNode("ApplicationExtension");
            app.setAttribute("applicationID", "NETSCAPE");
            app.setAttribute("authenticationCode", "2.0");
            app.setUserObject(new byte[] {1, 0, 0}); // sub-block 1: loop count 0 = forever
            child(root, "ApplicationExtensions").appendChild(app);
        }
        metadata.setFromTree(FORMAT, root);
    }

    private static IIOMetadataNode child(IIOMetadataNode parent, String name) {
        for (int i = 0; i < parent.getLength(); i++) {
            if (parent.item(i).getNodeName().equalsIgnoreCase(name)) {
                return (IIOMetadataNode) parent.item(i);
            }
        }
        IIOMetadataNode node = new IIOMetadataNode(name);
        parent.appendChild(node);
        return node;
    }
}
