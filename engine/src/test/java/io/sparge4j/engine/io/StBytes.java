package io.sparge4j.engine.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Builds safetensors bytes by hand, independently of the writer under test. */
final class StBytes {
    private StBytes() {
    }

    /** @return 8-byte LE length, the header (padded with spaces to 8), then the data */
    static byte[] file(String headerJson, byte[] data) {
        byte[] h = headerJson.getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;
        return file(h, padded, data);
    }

    /** @return the length field, the header padded with spaces to {@code paddedLength}, then the data */
    static byte[] file(byte[] header, int paddedLength, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + paddedLength + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(paddedLength).put(header);
        for (int i = header.length; i < paddedLength; i++) {
            b.put((byte) ' ');
        }
        return b.put(data).array();
    }

    /** @return little-endian bytes of the floats */
    static byte[] f32(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) {
            b.putFloat(x);
        }
        return b.array();
    }

    /** @return the arrays one after the other */
    static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        ByteBuffer b = ByteBuffer.allocate(n);
        for (byte[] p : parts) {
            b.put(p);
        }
        return b.array();
    }

    static Path write(Path dir, String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }
}
