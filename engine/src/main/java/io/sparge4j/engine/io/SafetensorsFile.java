package io.sparge4j.engine.io;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A safetensors file, memory-mapped and checked.
 *
 * <p>{@link #open(Path)} reads and validates the header before mapping anything: a malformed file fails
 * there with a {@link SafetensorsFormatException}, so every later call works on a consistent layout.
 * The checks: the 8-byte length fits the file and {@link Safetensors#MAX_HEADER_BYTES}; the header is
 * UTF-8 JSON starting with '{' (trailing spaces allowed), an object of entries with a known dtype, a shape
 * of non-negative integers and two integer data_offsets, plus an optional {@code __metadata__} object of
 * strings; no duplicate names; each range's size equals its shape times its dtype size (overflow
 * checked); and the ranges, sorted, cover the data buffer exactly, with no overlap, gap or trailing byte.
 * Unknown fields in an entry are ignored, as the reference reader does.
 * Tensors come either as zero-copy read-only views of the mapping ({@link #tensor(String)}), valid until
 * {@link #close()}, or as owned copies ({@link #load(String, DType)}) that outlive the file. A file opened with
 * {@link #openCopyOnWrite} also gives {@link #shared(String)} tensors: writable, not copied, and keeping the mapping
 * alive until they are closed too.
 *
 * <p>Instances are safe to read from several threads; {@link #close()} must not race with reads.
 *
 * <pre>{@code
 * try (SafetensorsFile f = SafetensorsFile.open(Path.of("model.safetensors"))) {
 *     Tensor w = f.load("blocks.0.attn.q.weight", DType.F32); // owned, converted from bf16
 * }
 * }</pre>
 */
public final class SafetensorsFile implements AutoCloseable {
    private final Path path;
    private final Arena arena;
    private final MemorySegment data;
    private final SafetensorsHeader header;
    private final boolean copyOnWrite;
    /** Whether the mapping is private and writable (else {@link #shared} copies). */
    private final boolean writableMapping;
    /** The file itself plus every open {@link #shared} tensor: the mapping goes when the count reaches 0. */
    private final AtomicInteger users = new AtomicInteger(1);
    private final AtomicBoolean closed = new AtomicBoolean();

    private SafetensorsFile(Path path, Arena arena, MemorySegment data, SafetensorsHeader header,
            boolean copyOnWrite, boolean writableMapping) {
        this.path = path;
        this.arena = arena;
        this.data = data;
        this.header = header;
        this.copyOnWrite = copyOnWrite;
        this.writableMapping = writableMapping;
    }

    /**
     * Opens, validates and memory-maps a safetensors file.
     *
     * @param path the file
     * @return the open file; close it to unmap
     * @throws SafetensorsFormatException if the file breaks the format (the message says where and how)
     * @throws IOException if the file cannot be read
     */
    public static SafetensorsFile open(Path path) throws IOException {
        return open(path, false);
    }

    /**
     * As {@link #open(Path)}, mapped copy-on-write (a private mapping), so that {@link #shared(String)} can hand out
     * writable tensors without copying: what they write stays in this process and the file never changes, while
     * the pages nobody wrote stay shared with every process that maps the file (the OS page cache holds one copy
     * for all the ranks of a job, where owned copies would cost one each).
     *
     * @param path the file
     * @return the open file; the mapping goes once it and every shared tensor are closed
     * @throws SafetensorsFormatException if the file breaks the format
     * @throws IOException if the file cannot be read
     */
    public static SafetensorsFile openCopyOnWrite(Path path) throws IOException {
        return open(path, true);
    }

    private static SafetensorsFile open(Path path, boolean copyOnWrite) throws IOException {
        if (path == null) {
            throw new IllegalArgumentException("SafetensorsFile.open: path is null, expected a file path");
        }
        // the JDK maps copy-on-write only through a channel open for writing too (nothing is written); a file this
        // process may not write is mapped read-only, and shared() then copies
        boolean cow = copyOnWrite && Files.isWritable(path);
        try (FileChannel ch = cow ? FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)
                : FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new SafetensorsFormatException(path, null,
                        "file has " + size + " bytes, too short for the 8-byte header length");
            }
            ByteBuffer lengthField = ByteBuffer.allocate(8);
            readFully(ch, 0, lengthField);
            long headerLength = lengthField.flip().order(ByteOrder.LITTLE_ENDIAN).getLong();
            // The length is an unsigned 64-bit number: a negative long is a value above 2^63.
            if (headerLength < 0 || headerLength > Safetensors.MAX_HEADER_BYTES) {
                throw new SafetensorsFormatException(path, null, "header length " + Long.toUnsignedString(headerLength)
                        + " is larger than the limit of " + Safetensors.MAX_HEADER_BYTES + " bytes");
            }
            if (8 + headerLength > size) {
                throw new SafetensorsFormatException(path, null, "header length " + headerLength
                        + " runs past the end of the file, which has " + size + " bytes");
            }
            byte[] json = new byte[(int) headerLength];
            readFully(ch, 8, ByteBuffer.wrap(json));
            long dataStart = 8 + headerLength;
            SafetensorsHeader header = SafetensorsHeader.parse(path, json, dataStart, size - dataStart);

            Arena arena = Arena.ofShared();
            try {
                MemorySegment mapped = ch.map(cow ? FileChannel.MapMode.PRIVATE : FileChannel.MapMode.READ_ONLY, 0,
                        size, arena);
                return new SafetensorsFile(path, arena, mapped.asSlice(dataStart), header, copyOnWrite, cow);
            } catch (IOException | RuntimeException e) {
                arena.close();
                throw e;
            }
        }
    }

    private static void readFully(FileChannel ch, long position, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            if (ch.read(buf, position + buf.position()) < 0) {
                // The size was checked, so only a file shrinking under us gets here.
                throw new IOException("unexpected end of file while reading " + buf.capacity() + " bytes at " + position);
            }
        }
    }

    /** @return the file this was opened from */
    public Path path() {
        return path;
    }

    /** @return the tensor names, sorted */
    public Set<String> names() {
        return header.tensors().keySet();
    }

    /** @return the number of tensors */
    public int size() {
        return header.tensors().size();
    }

    /**
     * @param name a tensor name
     * @return true if the file holds a tensor called {@code name}
     */
    public boolean contains(String name) {
        return header.tensors().containsKey(name);
    }

    /** @return the header's {@code __metadata__} map (empty when the file has none), unmodifiable */
    public Map<String, String> metadata() {
        return header.metadata();
    }

    /**
     * @param name a tensor name
     * @return its dtype, shape and byte range
     * @throws IllegalArgumentException if the file has no such tensor
     */
    public TensorInfo info(String name) {
        TensorInfo t = header.tensors().get(name);
        if (t == null) {
            throw new IllegalArgumentException("SafetensorsFile.info: name '" + name + "' not found in " + path
                    + ", expected one of " + size() + " tensor names");
        }
        return t;
    }

    /**
     * A read-only tensor over the file's bytes, without copying. It is valid until this file is closed;
     * writing to it throws.
     *
     * <p>The view is zero-copy when the data is aligned to its element size (always so for files written
     * by {@link Safetensors#write} and by the reference writer) on a little-endian machine; otherwise the
     * data is copied once into memory that also lives until {@link #close()}.
     *
     * @param name a tensor name
     * @return the view
     * @throws IllegalArgumentException if the file has no such tensor
     */
    public Tensor tensor(String name) {
        TensorInfo t = info(name);
        MemorySegment slice = data.asSlice(t.dataBegin(), t.byteSize());
        boolean aligned = slice.address() % t.dtype().byteSize() == 0;
        if (aligned && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
            return Tensor.wrap(slice.asReadOnly(), t.dtype(), t.shape());   // read-only even over a private mapping
        }
        Tensor copy = Tensor.allocate(arena, t.dtype(), t.shape());
        ElementCopier.copy(slice, t.dtype(), copy);
        // Read-only like a true view, so callers see one behaviour whatever the file's alignment.
        return Tensor.wrap(copy.segment().asSlice(0, t.byteSize()).asReadOnly(), t.dtype(), t.shape());
    }

    /**
     * A tensor in its stored dtype over the file's copy-on-write mapping, not copied where it lies aligned on a
     * little-endian machine and the file is one this process may write (else an owned copy): writable, its writes
     * private to this process. Closing it (or
     * losing it) lets the mapping go once the file and every other shared tensor are closed.
     *
     * @param name a tensor name
     * @return the tensor, the caller's to close
     * @throws IllegalArgumentException if the file has no such tensor
     * @throws IllegalStateException if the file was not opened with {@link #openCopyOnWrite} or is closed
     */
    public Tensor shared(String name) {
        TensorInfo t = info(name);
        if (!copyOnWrite || closed.get()) {
            throw new IllegalStateException("SafetensorsFile.shared: " + path + " is " + (closed.get() ? "closed"
                    : "mapped read-only") + ", expected a file open from openCopyOnWrite");
        }
        MemorySegment slice = data.asSlice(t.dataBegin(), t.byteSize());
        if (!writableMapping || slice.address() % t.dtype().byteSize() != 0
                || ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            return load(name);
        }
        users.incrementAndGet();
        return Tensor.adopt(slice, this::release, t.dtype(), t.shape());
    }

    private void release() {
        if (users.decrementAndGet() == 0) {
            arena.close();
        }
    }

    /**
     * Loads a tensor into owned memory, in its stored dtype.
     *
     * @param name a tensor name
     * @return a new tensor the caller owns (and should close)
     * @throws IllegalArgumentException if the file has no such tensor
     */
    public Tensor load(String name) {
        return load(name, info(name).dtype());
    }

    /**
     * Loads a tensor into owned memory, converting to {@code target} (for example bf16 to f32). Conversions
     * follow {@link Tensor#copyFrom(Tensor)}: through float when either side is floating point, else
     * through long.
     *
     * @param name a tensor name
     * @param target the dtype of the result
     * @return a new tensor the caller owns (and should close)
     * @throws IllegalArgumentException if the file has no such tensor or {@code target} is null
     */
    public Tensor load(String name, DType target) {
        TensorInfo t = info(name);
        if (target == null) {
            throw new IllegalArgumentException("SafetensorsFile.load: target is null, expected a dtype");
        }
        Tensor out = Tensor.allocate(target, t.shape());
        ElementCopier.copy(data.asSlice(t.dataBegin(), t.byteSize()), t.dtype(), out);
        return out;
    }

    /** @return every tensor, owned, in its stored dtype, by name in sorted order */
    public Map<String, Tensor> loadAll() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (String name : names()) {
            out.put(name, load(name));
        }
        return out;
    }

    /**
     * @param target the dtype of every result
     * @return every tensor, owned, converted to {@code target}, by name in sorted order
     */
    public Map<String, Tensor> loadAll(DType target) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (String name : names()) {
            out.put(name, load(name, target));
        }
        return out;
    }

    /**
     * Unmaps the file, or leaves that to the last open {@link #shared} tensor. Views from {@link #tensor(String)}
     * must not be used afterwards.
     */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            release();
        }
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + path + ", " + size() + " tensors]";
    }
}
