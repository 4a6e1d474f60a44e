package io.sparge4j.models.video;

import io.sparge4j.engine.io.SafetensorsFile;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Safetensors output, format choice, and every refusal. */
class VideoWritersTest {
    @TempDir
    Path dir;

    @Test
    void safetensorsRoundTripsPixelsAndLatentsBitForBit() throws IOException {
        Tensor pixels = VideoFixtures.noise(611);
        Tensor latents = Tensor.randn(612, 16, 2, 4, 6).to(DType.BF16); // latents: unbounded, any float dtype
        for (var c : List.of(new Object[] {pixels, true, "pixels.safetensors"},
                new Object[] {latents, false, "latents.SAFETENSORS"})) {
            Tensor video = (Tensor) c[0];
            Path file = dir.resolve((String) c[2]);
            VideoOutput out = VideoOutput.of(file, 16);
            assertEquals(VideoOutput.Format.SAFETENSORS, out.format());
            VideoWriters.write(video, (Boolean) c[1], out);
            try (SafetensorsFile st = SafetensorsFile.open(file)) {
                assertEquals(Set.of("video"), st.names());
                Tensor back = st.load("video");
                assertEquals(video.dtype(), back.dtype());
                assertArrayEquals(video.shape(), back.shape());
                for (long i = 0; i < video.numel(); i++) {
                    assertEquals(Float.floatToRawIntBits(video.getFloat(i)), Float.floatToRawIntBits(back.getFloat(i)),
                            "element " + i);
                }
                assertEquals(c[1].toString(), st.metadata().get("pixel_space"));
                assertEquals("CFHW", st.metadata().get("layout"));
            }
        }
    }

    @Test
    void formatFollowsTheName() throws IOException {
        assertEquals(VideoOutput.Format.GIF, VideoOutput.of(dir.resolve("a.GIF"), 8).format());
        assertEquals(VideoOutput.Format.MP4, VideoOutput.of(dir.resolve("a.mp4"), 8).format());
        assertEquals(VideoOutput.Format.PNG_FRAMES, VideoOutput.of(dir.resolve("frames"), 8).format());
        Path existing = Files.createDirectory(dir.resolve("frames.v2"));
        assertEquals(VideoOutput.Format.PNG_FRAMES, VideoOutput.of(existing, 8).format());
    }

    @Test
    void unknownExtensionIsRefusedNamingItAndTheChoices() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> VideoOutput.of(dir.resolve("clip.avi"), 16));
        assertTrue(e.getMessage().contains("'.avi'") && e.getMessage().contains(".safetensors")
                && e.getMessage().contains(".gif") && e.getMessage().contains(".mp4"), e.getMessage());
    }

    @Test
    void latentModelsAskingForPicturesArePointedToSafetensors() throws IOException {
        Tensor latents = Tensor.randn(613, 16, 2, 4, 6);
        for (String[] c : List.of(new String[] {"clip.gif", "clip.safetensors"},
                new String[] {"clip.mp4", "clip.safetensors"}, new String[] {"frames", "frames.safetensors"})) {
            Path target = dir.resolve(c[0]);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> VideoWriters.write(latents, false, VideoOutput.of(target, 16)));
            assertTrue(e.getMessage().contains("latent") && e.getMessage().contains("VAE decoder")
                    && e.getMessage().contains(dir.resolve(c[1]).toString()), e.getMessage());
        }
        // Even three-channel latents are refused: the flag, not the shape, says what the values are.
        assertThrows(IllegalArgumentException.class, () -> VideoWriters.write(VideoFixtures.noise(614), false,
                VideoOutput.of(dir.resolve("x.gif"), 16)));
        assertEquals(List.of(), VideoFixtures.list(dir));
    }

    @Test
    void aMissingParentDirectoryIsNamedForEveryFormat() {
        Path parent = dir.resolve("not-there");
        for (String name : List.of("v.safetensors", "v.gif", "v.mp4", "frames")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> VideoWriters.write(VideoFixtures.noise(615), true, VideoOutput.of(parent.resolve(name), 16)));
            assertTrue(e.getMessage().contains(parent.toString()) && e.getMessage().contains("does not exist"),
                    e.getMessage());
        }
        assertFalse(Files.exists(parent));
    }

    @Test
    void aFailureMidwayLeavesNoPartialFileAndKeepsThePreviousOne() throws IOException {
        Tensor video = VideoFixtures.noise(616);
        video.set(Float.NaN, 1, 3, 7, 9); // frames 0..2 encode, frame 3 fails
        Path gif = dir.resolve("clip.gif");
        Files.writeString(gif, "previous");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> VideoWriters.write(video, true, VideoOutput.of(gif, 16)));
        assertTrue(e.getMessage().contains("NaN") && e.getMessage().contains("frame 3"), e.getMessage());
        assertEquals("previous", Files.readString(gif));

        Path frames = dir.resolve("frames");
        assertThrows(IllegalArgumentException.class, () -> VideoWriters.write(video, true, VideoOutput.of(frames, 16)));
        assertFalse(Files.exists(frames), "the frames directory this write created is removed again");
        assertThrows(IllegalArgumentException.class,
                () -> VideoWriters.write(video, true, VideoOutput.of(dir.resolve("clip.mp4"), 16)));
        assertEquals(List.of("clip.gif"), VideoFixtures.list(dir), "no temporary or partial file is left");
    }

    @Test
    void badShapesChannelsAndFrameRatesAreRefused() {
        Path gif = dir.resolve("a.gif");
        IllegalArgumentException rank = assertThrows(IllegalArgumentException.class,
                () -> VideoWriters.write(Tensor.rand(617, -1f, 1f, 3, 16, 24), true, VideoOutput.of(gif, 16)));
        assertTrue(rank.getMessage().contains("[3, 16, 24]") && rank.getMessage().contains("(C, F, H, W)"),
                rank.getMessage());
        IllegalArgumentException channels = assertThrows(IllegalArgumentException.class,
                () -> VideoWriters.write(Tensor.rand(618, -1f, 1f, 2, 2, 4, 4), true, VideoOutput.of(gif, 16)));
        assertTrue(channels.getMessage().contains("C = 2"), channels.getMessage());
        IllegalArgumentException fps = assertThrows(IllegalArgumentException.class, () -> VideoOutput.of(gif, 60));
        assertTrue(fps.getMessage().contains("60") && fps.getMessage().contains(".mp4"), fps.getMessage());
        assertThrows(IllegalArgumentException.class, () -> VideoOutput.of(gif, 0));
    }
}
