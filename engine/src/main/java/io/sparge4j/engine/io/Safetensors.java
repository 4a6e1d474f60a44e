package io.sparge4j.engine.io;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import io.sparge4j.engine.tensor.Tensor;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes tensors in the safetensors format, atomically.
 *
 * <p>The header lists tensors by name in sorted order, after {@code __metadata__}, and is padded with
 * spaces to a multiple of 8 bytes. The data is laid out by descending element size, then name (as the
 * reference writer does), so that every tensor starts at a multiple of its element size: readers can
 * then view it in place. Data is little-endian.
 *
 * <p>The file is written to a temporary file in the target's directory, forced to disk, then renamed
 * over the target, so a reader never sees a half-written file and a failed write leaves any previous
 * file untouched. The temporary file is deleted on failure.
 */
public final class Safetensors {
    /** The largest header accepted by readers and produced by the writer (as in the reference implementation). */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    private static final JsonFactory JSON = new JsonFactory();
    /** Bytes per write call; also bounds a ByteBuffer view of a segment, which cannot exceed 2 GiB. */
    private static final long WRITE_CHUNK = 64L << 20;

    private Safetensors() {
    }

    /**
     * Writes tensors with no metadata.
     *
     * @param path the target file (replaced if present)
     * @param tensors tensors by name
     * @throws IOException if the file cannot be written; the target is then left as it was
     */
    public static void write(Path path, Map<String, Tensor> tensors) throws IOException {
        write(path, tensors, null);
    }

    /**
     * Writes tensors and a free-form metadata map.
     *
     * @param path the target file (replaced if present)
     * @param tensors tensors by name; a name must be non-empty and not {@code "__metadata__"}
     * @param metadata string pairs stored under {@code __metadata__}, or null for none
     * @throws IllegalArgumentException on a null or invalid name, a null tensor or null metadata entry
     * @throws IOException if the file cannot be written; the target is then left as it was
     */
    public static void write(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        if (path == null) {
            throw new IllegalArgumentException("Safetensors.write: path is null, expected a file path");
        }
        List<Map.Entry<String, Tensor>> byName = checkedTensors(tensors);
        Map<String, String> meta = checkedMetadata(metadata);

        List<Map.Entry<String, Tensor>> layout = new ArrayList<>(byName);
        layout.sort(Comparator.<Map.Entry<String, Tensor>>comparingInt(e -> -e.getValue().dtype().byteSize())
                .thenComparing(Map.Entry::getKey));
        Map<String, long[]> offsets = new TreeMap<>();
        long offset = 0;
        for (Map.Entry<String, Tensor> e : layout) {
            long end = offset + e.getValue().byteSize();
            offsets.put(e.getKey(), new long[] {offset, end});
            offset = end;
        }
        byte[] header = header(byName, offsets, meta);

        Path target = path.toAbsolutePath();
        Path dir = target.getParent();
        if (dir == null) {
            throw new IllegalArgumentException("Safetensors.write: path is " + path + ", expected a file path");
        }
        Path tmp = dir.resolve("." + target.getFileName() + "."
                + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong()) + ".tmp");
        // Created before the try: if creation fails there is nothing of ours to delete.
        FileChannel channel = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        try {
            try (FileChannel ch = channel) {
                ByteBuffer prefix = ByteBuffer.allocate(8 + header.length).order(ByteOrder.LITTLE_ENDIAN);
                prefix.putLong(header.length).put(header).flip();
                writeFully(ch, prefix);
                for (Map.Entry<String, Tensor> e : layout) {
                    writeData(ch, e.getValue());
                }
                ch.force(true);
            }
            moveIntoPlace(tmp, target);
        } catch (IOException | RuntimeException | Error e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException | RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        syncDirectory(dir);
    }

    private static List<Map.Entry<String, Tensor>> checkedTensors(Map<String, Tensor> tensors) {
        if (tensors == null) {
            throw new IllegalArgumentException("Safetensors.write: tensors is null, expected a map of names to tensors");
        }
        TreeMap<String, Tensor> sorted = new TreeMap<>();
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            String name = e.getKey();
            if (name == null || name.isEmpty() || name.equals(SafetensorsHeader.METADATA_KEY)) {
                throw new IllegalArgumentException("Safetensors.write: tensor name is "
                        + (name == null ? "null" : "'" + name + "'")
                        + ", expected a non-empty name other than '" + SafetensorsHeader.METADATA_KEY + "'");
            }
            if (e.getValue() == null) {
                throw new IllegalArgumentException("Safetensors.write: tensor '" + name + "' is null, expected a tensor");
            }
            sorted.put(name, e.getValue());
        }
        return new ArrayList<>(sorted.entrySet());
    }

    private static Map<String, String> checkedMetadata(Map<String, String> metadata) {
        TreeMap<String, String> sorted = new TreeMap<>();
        if (metadata != null) {
            for (Map.Entry<String, String> e : metadata.entrySet()) {
                if (e.getKey() == null || e.getValue() == null) {
                    throw new IllegalArgumentException("Safetensors.write: metadata has entry " + e.getKey() + "="
                            + e.getValue() + ", expected non-null keys and values");
                }
                sorted.put(e.getKey(), e.getValue());
            }
        }
        return sorted;
    }

    /** @return the UTF-8 JSON header, padded with spaces to a multiple of 8 bytes */
    private static byte[] header(List<Map.Entry<String, Tensor>> byName, Map<String, long[]> offsets,
                                 Map<String, String> metadata) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.createGenerator(bytes, JsonEncoding.UTF8)) {
            g.writeStartObject();
            if (!metadata.isEmpty()) {
                g.writeObjectFieldStart(SafetensorsHeader.METADATA_KEY);
                for (Map.Entry<String, String> e : metadata.entrySet()) {
                    g.writeStringField(e.getKey(), e.getValue());
                }
                g.writeEndObject();
            }
            for (Map.Entry<String, Tensor> e : byName) {
                Tensor t = e.getValue();
                g.writeObjectFieldStart(e.getKey());
                g.writeStringField("dtype", t.dtype().safetensorsName());
                g.writeArrayFieldStart("shape");
                for (int d : t.shape()) {
                    g.writeNumber(d);
                }
                g.writeEndArray();
                long[] range = offsets.get(e.getKey());
                g.writeArrayFieldStart("data_offsets");
                g.writeNumber(range[0]);
                g.writeNumber(range[1]);
                g.writeEndArray();
                g.writeEndObject();
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException("Safetensors.write: writing the header to memory failed", e);
        }
        int padding = (8 - bytes.size() % 8) % 8;
        for (int i = 0; i < padding; i++) {
            bytes.write(' ');
        }
        if (bytes.size() > MAX_HEADER_BYTES) {
            throw new IllegalArgumentException("Safetensors.write: header is " + bytes.size()
                    + " bytes, expected at most " + MAX_HEADER_BYTES);
        }
        return bytes.toByteArray();
    }

    private static void writeData(FileChannel ch, Tensor t) throws IOException {
        MemorySegment seg = t.segment();
        long total = t.byteSize();
        int elem = t.dtype().byteSize();
        if (ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN || elem == 1) {
            for (long off = 0; off < total; off += WRITE_CHUNK) {
                writeFully(ch, seg.asSlice(off, Math.min(WRITE_CHUNK, total - off)).asByteBuffer());
            }
            return;
        }
        // Big-endian machine: swap each chunk into little-endian order on the way out.
        ValueLayout nativeLayout = integerLayout(elem);
        ValueLayout le = nativeLayout.withOrder(ByteOrder.LITTLE_ENDIAN);
        try (Arena staging = Arena.ofConfined()) {
            MemorySegment buf = staging.allocate(Math.min(WRITE_CHUNK, Math.max(total, 1)), elem);
            for (long off = 0; off < total; off += WRITE_CHUNK) {
                long len = Math.min(WRITE_CHUNK, total - off);
                MemorySegment.copy(seg, nativeLayout, off, buf, le, 0, len / elem);
                writeFully(ch, buf.asSlice(0, len).asByteBuffer());
            }
        }
    }

    private static ValueLayout integerLayout(int bytes) {
        return switch (bytes) {
            case 2 -> ValueLayout.JAVA_SHORT;
            case 4 -> ValueLayout.JAVA_INT;
            case 8 -> ValueLayout.JAVA_LONG;
            default -> throw new AssertionError("unexpected element size " + bytes);
        };
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }

    private static void moveIntoPlace(Path tmp, Path target) throws IOException {
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Makes the rename durable where the platform allows syncing a directory; elsewhere a no-op. */
    private static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | RuntimeException ignored) {
            // Not supported on every platform (e.g. Windows); the data itself is already on disk.
        }
    }
}
