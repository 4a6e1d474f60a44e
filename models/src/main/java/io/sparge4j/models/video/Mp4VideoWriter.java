package io.sparge4j.models.video;

import org.jcodec.api.SequenceEncoder;
import org.jcodec.common.Codec;
import org.jcodec.common.Format;
import org.jcodec.common.io.NIOUtils;
import org.jcodec.common.io.SeekableByteChannel;
import org.jcodec.common.model.ColorSpace;
import org.jcodec.common.model.Picture;
import org.jcodec.common.model.Rational;

import java.io.IOException;
import java.nio.BufferOverflowException;
import java.nio.file.Path;

/**
 * Writes H.264 video in an MP4 container (ISO brand {@code isom}) with jcodec, a pure-Java encoder. jcodec
 * converts each RGB frame to YUV 4:2:0, so colour is stored at half resolution and the result is lossy.
 */
final class Mp4VideoWriter {
    private Mp4VideoWriter() {
    }

    /**
     * @throws IllegalArgumentException when the width or height is odd: 4:2:0 chroma needs even sizes
     */
    static void requireEvenSize(FramePixels pixels, VideoOutput out) {
        if (pixels.width() % 2 != 0 || pixels.height() % 2 != 0) {
            throw new IllegalArgumentException("video is " + pixels.width() + "x" + pixels.height()
                    + " (width x height), expected an even width and height to write H.264 " + out.target()
                    + " (YUV 4:2:0 halves both); choose an even --width/--height, or write .gif, PNG frames or"
                    + " .safetensors");
        }
    }

    static void write(FramePixels pixels, Path file, int fps) throws IOException {
        try (SeekableByteChannel channel = NIOUtils.writableChannel(file.toFile())) {
            // Format.MOV is jcodec's MP4 muxer; it writes the ISO brand "isom".
            SequenceEncoder encoder = new SequenceEncoder(channel, Rational.R(fps, 1), Format.MOV, Codec.H264, null);
            for (int f = 0; f < pixels.frames(); f++) {
                try {
                    encoder.encodeNativeFrame(picture(pixels, f));
                } catch (BufferOverflowException e) {
                    throw tooSmall(pixels, f, e);
                }
            }
            encoder.finish();
        }
    }

    /**
     * jcodec 0.2.5 gives each frame's bitstream a buffer of width x height bytes, and raises the quantiser only
     * after a macroblock has overshot its share; a frame of one macroblock (16x16 or less) with fine detail,
     * such as noise, then overflows it.
     */
    private static IllegalArgumentException tooSmall(FramePixels pixels, int frame, BufferOverflowException e) {
        IllegalArgumentException error = new IllegalArgumentException("jcodec's H.264 encoder overflowed its"
                + " bitstream buffer (width x height = " + pixels.width() * pixels.height() + " bytes) on frame "
                + frame + " of a " + pixels.width() + "x" + pixels.height() + " video: frames this small with this"
                + " much detail do not fit (16x16 noise fails; 24x24 and larger worked in our tests); use a larger"
                + " --width/--height, or write .gif, PNG frames or .safetensors");
        error.initCause(e);
        return error;
    }

    /** jcodec's RGB pictures hold each 8-bit sample minus 128, interleaved R, G, B. */
    private static Picture picture(FramePixels pixels, int frame) {
        int[] rgb = pixels.rgb(frame);
        Picture picture = Picture.create(pixels.width(), pixels.height(), ColorSpace.RGB);
        byte[] data = picture.getPlaneData(0);
        for (int i = 0; i < rgb.length; i++) {
            data[3 * i] = (byte) (((rgb[i] >> 16) & 0xFF) - 128);
            data[3 * i + 1] = (byte) (((rgb[i] >> 8) & 0xFF) - 128);
            data[3 * i + 2] = (byte) ((rgb[i] & 0xFF) - 128);
        }
        return picture;
    }
}
