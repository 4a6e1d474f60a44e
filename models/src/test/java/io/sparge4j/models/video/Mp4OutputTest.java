package io.sparge4j.models.video;

import io.sparge4j.engine.tensor.Tensor;
import org.jcodec.api.FrameGrab;
import org.jcodec.api.JCodecException;
import org.jcodec.common.io.NIOUtils;
import org.jcodec.common.io.SeekableByteChannel;
import org.jcodec.common.model.ColorSpace;
import org.jcodec.common.model.Picture;
import org.jcodec.scale.ColorUtil;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static io.sparge4j.models.video.VideoFixtures.F;
import static io.sparge4j.models.video.VideoFixtures.H;
import static io.sparge4j.models.video.VideoFixtures.W;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Mp4OutputTest {
    @TempDir
    Path dir;

    /** Decodes every frame with jcodec into [f][y * w + x][rgb], cropped to the coded picture's display size. */
    private static List<int[][]> decode(Path file, int width, int height) throws IOException, JCodecException {
        List<int[][]> frames = new ArrayList<>();
        try (SeekableByteChannel ch = NIOUtils.readableChannel(file.toFile())) {
            FrameGrab grab = FrameGrab.createFrameGrab(ch);
            Picture p;
            while ((p = grab.getNativeFrame()) != null) {
                assertEquals(width, p.getCroppedWidth(), "decoded width");
                assertEquals(height, p.getCroppedHeight(), "decoded height");
                Picture rgb = Picture.create(p.getWidth(), p.getHeight(), ColorSpace.RGB);
                ColorUtil.getTransform(p.getColor(), ColorSpace.RGB).transform(p, rgb);
                byte[] data = rgb.getPlaneData(0);
                int[][] frame = new int[width * height][3];
                for (int y = 0; y < height; y++) {
                    for (int x = 0; x < width; x++) {
                        for (int c = 0; c < 3; c++) {
                            frame[y * width + x][c] = data[3 * (y * p.getWidth() + x) + c] + 128;
                        }
                    }
                }
                frames.add(frame);
            }
        }
        return frames;
    }

    private static double meanAbsError(int[][] a, int[][] b) {
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            for (int c = 0; c < 3; c++) {
                sum += Math.abs(a[i][c] - b[i][c]);
            }
        }
        return sum / (a.length * 3.0);
    }

    @Test
    void smoothVideoDecodesToTheSameFramesInOrderWithinTolerance() throws Exception {
        Tensor video = VideoFixtures.smooth(605);
        Path mp4 = dir.resolve("smooth.mp4");
        VideoWriters.write(video, true, VideoOutput.of(mp4, 16));

        byte[] head = Arrays.copyOf(Files.readAllBytes(mp4), 12);
        assertEquals("ftypisom", new String(head, 4, 8, StandardCharsets.US_ASCII), "an ISO MP4 file type box");
        List<int[][]> decoded = decode(mp4, W, H);
        assertEquals(F, decoded.size(), "frame count");
        int[][][] expected = VideoFixtures.expected(video);
        for (int f = 0; f < F; f++) {
            double own = meanAbsError(decoded.get(f), expected[f]);
            // Tolerance: H.264 is lossy and jcodec stores colour as YUV 4:2:0 (chroma at half resolution), so
            // smooth content comes back within a mean of 20 of 255 levels per channel (measured about 10).
            assertTrue(own <= 20, "frame " + f + " mean error " + own + " levels, expected <= 20");
            for (int g = 0; g < F; g++) {
                if (g != f) {
                    double other = meanAbsError(decoded.get(f), expected[g]);
                    assertTrue(own < other, "decoded frame " + f + " is closer to source frame " + g + " ("
                            + other + ") than to its own (" + own + ")");
                }
            }
        }
    }

    @Test
    void solidColoursKeepTheirChannelsAndGreyIsWrittenAsRgb() throws Exception {
        // red, green, blue, white, black: a channel swap or a range error shows at once
        float[][] colours = {{1, -1, -1}, {-1, 1, -1}, {-1, -1, 1}, {1, 1, 1}, {-1, -1, -1}};
        Tensor video = Tensor.allocate(io.sparge4j.engine.tensor.DType.F32, 3, colours.length, H, W);
        for (int f = 0; f < colours.length; f++) {
            for (int c = 0; c < 3; c++) {
                for (int y = 0; y < H; y++) {
                    for (int x = 0; x < W; x++) {
                        video.set(colours[f][c], c, f, y, x);
                    }
                }
            }
        }
        Path mp4 = dir.resolve("solid.mp4");
        VideoWriters.write(video, true, VideoOutput.of(mp4, 5));
        List<int[][]> decoded = decode(mp4, W, H);
        assertEquals(colours.length, decoded.size());
        int[][][] expected = VideoFixtures.expected(video);
        for (int f = 0; f < colours.length; f++) {
            // Flat colour survives 4:2:0 and the encoder's quantisation (measured exact); tolerance 2 levels for
            // rounding in the YUV round trip.
            double err = meanAbsError(decoded.get(f), expected[f]);
            assertTrue(err <= 2, "solid frame " + f + " mean error " + err + ", expected <= 2");
        }

        Tensor grey = Tensor.rand(606, -0.2f, 0.2f, 1, 2, H, W);
        Path greyMp4 = dir.resolve("grey.mp4");
        VideoWriters.write(grey, true, VideoOutput.of(greyMp4, 5));
        List<int[][]> greyDecoded = decode(greyMp4, W, H);
        assertEquals(2, greyDecoded.size());
        for (int[] px : greyDecoded.get(0)) {
            // a grey source has no colour: the channels stay within 2 levels of each other (measured equal)
            assertTrue(Math.abs(px[0] - px[1]) <= 2 && Math.abs(px[1] - px[2]) <= 2,
                    "grey pixel decoded as " + Arrays.toString(px));
        }
        double greyErr = meanAbsError(greyDecoded.get(0), VideoFixtures.expected(grey)[0]);
        // grey noise has no chroma to lose; luma is stored at full resolution (tolerance 20 levels as above)
        assertTrue(greyErr <= 20, "grey frame 0 mean error " + greyErr + ", expected <= 20");
    }

    @Test
    void oddWidthOrHeightIsRefusedBeforeAnyFileIsMade() throws IOException {
        Path mp4 = dir.resolve("odd.mp4");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> VideoWriters.write(Tensor.rand(607, -1f, 1f, 3, 2, 16, 25), true, VideoOutput.of(mp4, 16)));
        assertTrue(e.getMessage().contains("25x16") && e.getMessage().contains("even"), e.getMessage());
        assertEquals(List.of(), VideoFixtures.list(dir));
    }

    @Test
    void aFrameTooSmallForJcodecsBufferIsAClearErrorAndLeavesNoFile() throws IOException {
        // jcodec 0.2.5 overflows its width x height byte buffer on a single 16x16 macroblock of noise
        Path mp4 = dir.resolve("tiny.mp4");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> VideoWriters.write(Tensor.rand(608, -1f, 1f, 3, 2, 16, 16), true, VideoOutput.of(mp4, 16)));
        assertTrue(e.getMessage().contains("16x16") && e.getMessage().contains("--width"), e.getMessage());
        assertEquals(List.of(), VideoFixtures.list(dir));
    }
}
