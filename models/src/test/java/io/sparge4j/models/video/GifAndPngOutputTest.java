package io.sparge4j.models.video;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Node;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageInputStream;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static io.sparge4j.models.video.VideoFixtures.F;
import static io.sparge4j.models.video.VideoFixtures.H;
import static io.sparge4j.models.video.VideoFixtures.W;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GifAndPngOutputTest {
    @TempDir
    Path dir;

    /** A decoded GIF: frames as [f][pixel][rgb], each frame's palette, and the per-frame metadata trees. */
    private record Gif(int[][][] pixels, List<int[]> palettes, List<IIOMetadataNode> metadata) {
    }

    private static Gif readGif(Path file) throws IOException {
        ImageReader reader = ImageIO.getImageReadersByFormatName("gif").next();
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            reader.setInput(in);
            int n = reader.getNumImages(true);
            int[][][] pixels = new int[n][][];
            List<int[]> palettes = new ArrayList<>();
            List<IIOMetadataNode> metadata = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                BufferedImage img = reader.read(i);
                assertEquals(W, img.getWidth(), "frame " + i + " width");
                assertEquals(H, img.getHeight(), "frame " + i + " height");
                pixels[i] = new int[W * H][3];
                for (int y = 0; y < H; y++) {
                    for (int x = 0; x < W; x++) {
                        int rgb = img.getRGB(x, y);
                        pixels[i][y * W + x] = new int[] {(rgb >> 16) & 0xFF, (rgb >> 8) & 0xFF, rgb & 0xFF};
                    }
                }
                IndexColorModel cm = (IndexColorModel) img.getColorModel();
                int[] palette = new int[cm.getMapSize()];
                cm.getRGBs(palette);
                palettes.add(palette);
                metadata.add((IIOMetadataNode) reader.getImageMetadata(i).getAsTree("javax_imageio_gif_image_1.0"));
            }
            return new Gif(pixels, palettes, metadata);
        } finally {
            reader.dispose();
        }
    }

    private static IIOMetadataNode child(Node parent, String name) {
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n.getNodeName().equals(name)) {
                return (IIOMetadataNode) n;
            }
        }
        return null;
    }

    private static int distance2(int[] a, int packed) {
        int d = 0;
        for (int c = 0; c < 3; c++) {
            int diff = a[c] - ((packed >> (16 - 8 * c)) & 0xFF);
            d += diff * diff;
        }
        return d;
    }

    @Test
    void rgbGifHasEveryFrameTheDelayTheLoopAndNearestPaletteColours() throws IOException {
        Tensor video = VideoFixtures.noise(601);
        Path gif = dir.resolve("noise.gif");
        VideoWriters.write(video, true, VideoOutput.of(gif, 8));

        Gif read = readGif(gif);
        assertEquals(F, read.pixels().length, "frame count");
        int[][][] expected = VideoFixtures.expected(video);
        double sumError = 0;
        int maxError = 0;
        for (int f = 0; f < F; f++) {
            IIOMetadataNode control = child(read.metadata().get(f), "GraphicControlExtension");
            assertNotNull(control, "frame " + f + " has a graphic control extension");
            assertEquals("13", control.getAttribute("delayTime"), "delay of 100/8 = 12.5 cs, rounded");
            assertEquals("none", control.getAttribute("disposalMethod"));
            int[] palette = read.palettes().get(f);
            for (int i = 0; i < W * H; i++) {
                int[] want = expected[f][i];
                int[] got = read.pixels()[f][i];
                int packedGot = (got[0] << 16) | (got[1] << 8) | got[2];
                int best = Integer.MAX_VALUE;
                for (int p : palette) {
                    best = Math.min(best, distance2(want, p));
                }
                // Quantisation property, independent of the palette chosen: the stored colour is a nearest one.
                assertEquals(best, distance2(want, packedGot), "frame " + f + " pixel " + i + " is a nearest colour");
                for (int c = 0; c < 3; c++) {
                    int e = Math.abs(got[c] - want[c]);
                    sumError += e;
                    maxError = Math.max(maxError, e);
                }
            }
        }
        // 384 distinct random colours per frame squeezed into 256: half the colours share a palette entry with
        // one neighbour. Tolerance: mean error at most 6 of 255 per channel, max at most 64 (a quarter range).
        double meanError = sumError / (F * W * H * 3);
        assertTrue(meanError <= 6, "mean GIF error " + meanError + " levels, expected <= 6");
        assertTrue(maxError <= 64, "max GIF error " + maxError + " levels, expected <= 64");

        IIOMetadataNode apps = child(read.metadata().get(0), "ApplicationExtensions");
        assertNotNull(apps, "the first frame has application extensions");
        IIOMetadataNode netscape = child(apps, "ApplicationExtension");
        assertEquals("NETSCAPE", netscape.getAttribute("applicationID"));
        assertArrayEquals(new byte[] {1, 0, 0}, (byte[]) netscape.getUserObject(), "loop count 0 = forever");
    }

    @Test
    void greyGifAndSmoothGifAreExactWhenAFrameHasAtMost256Colours() throws IOException {
        Tensor grey = Tensor.rand(602, -1f, 1f, 1, F, H, W);
        Path gif = dir.resolve("grey.gif");
        VideoWriters.write(grey, true, VideoOutput.of(gif, 16));
        Gif read = readGif(gif);
        assertEquals(F, read.pixels().length);
        int[][][] expected = VideoFixtures.expected(grey);
        for (int f = 0; f < F; f++) {
            assertEquals("6", child(read.metadata().get(f), "GraphicControlExtension").getAttribute("delayTime"),
                    "delay of 100/16 = 6.25 cs, rounded");
            for (int i = 0; i < W * H; i++) {
                assertArrayEquals(expected[f][i], read.pixels()[f][i], "grey frame " + f + " pixel " + i);
            }
        }
    }

    @Test
    void pngFramesReadBackExactlyIncludingClampedValues() throws IOException {
        Tensor video = VideoFixtures.noise(603);
        video.set(3.5f, 0, 0, 0, 0);   // out of range: clamps to 255
        video.set(-7f, 1, 2, 5, 7);    // clamps to 0
        video.set(1f, 2, 4, 15, 23);   // exactly 255
        video.set(-1f, 2, 4, 0, 23);   // exactly 0
        Path frames = dir.resolve("frames");
        VideoWriters.write(video, true, VideoOutput.of(frames, 16));

        assertEquals(List.of("frame_0000.png", "frame_0001.png", "frame_0002.png", "frame_0003.png",
                "frame_0004.png"), VideoFixtures.list(frames));
        int[][][] expected = VideoFixtures.expected(video);
        assertEquals(255, expected[0][0][0]);
        assertEquals(0, expected[2][5 * W + 7][1]);
        for (int f = 0; f < F; f++) {
            BufferedImage img = ImageIO.read(frames.resolve(String.format("frame_%04d.png", f)).toFile());
            assertEquals(W, img.getWidth());
            assertEquals(H, img.getHeight());
            for (int y = 0; y < H; y++) {
                for (int x = 0; x < W; x++) {
                    int rgb = img.getRGB(x, y);
                    int[] got = {(rgb >> 16) & 0xFF, (rgb >> 8) & 0xFF, rgb & 0xFF};
                    assertArrayEquals(expected[f][y * W + x], got, "frame " + f + " at (" + x + ", " + y + ")");
                }
            }
        }
    }

    @Test
    void greyPngFramesReadBackExactlyAndStaleFramesOfALongerVideoGo() throws IOException {
        Path frames = Files.createDirectory(dir.resolve("existing.dir"));
        Files.writeString(frames.resolve("frame_0007.png"), "stale frame of an earlier, longer video");
        Files.writeString(frames.resolve("notes.txt"), "not ours");
        Tensor grey = Tensor.rand(604, -1f, 1f, 1, 3, H, W).to(DType.BF16);
        VideoWriters.write(grey, true, VideoOutput.of(frames, 16));

        assertEquals(List.of("frame_0000.png", "frame_0001.png", "frame_0002.png", "notes.txt"),
                VideoFixtures.list(frames));
        int[][][] expected = VideoFixtures.expected(grey);
        for (int f = 0; f < 3; f++) {
            BufferedImage img = ImageIO.read(frames.resolve(String.format("frame_%04d.png", f)).toFile());
            assertEquals(BufferedImage.TYPE_BYTE_GRAY, img.getType(), "grey frames are 8-bit grey PNGs");
            for (int y = 0; y < H; y++) {
                for (int x = 0; x < W; x++) {
                    assertEquals(expected[f][y * W + x][0], img.getRaster().getSample(x, y, 0),
                            "frame " + f + " at (" + x + ", " + y + ")");
                }
            }
        }
    }
}
