package io.sparge4j.engine.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;

/**
 * The memory behind one or more tensors (a tensor and its views share one storage).
 *
 * <p>Owned storage is freed by {@link #close()} or, as a safety net, when it becomes unreachable.
 * Borrowed storage (a caller's arena, a memory-mapped file) is freed by its owner.
 */
final class Storage implements AutoCloseable {
    /** Alignment of every allocation: one AVX-512 vector, and enough for 16-byte GPU loads. */
    static final long ALIGNMENT = 64;
    private static final Cleaner CLEANER = Cleaner.create();

    private final MemorySegment segment;
    private final Cleaner.Cleanable cleanable;

    private Storage(MemorySegment segment, Runnable free) {
        this.segment = segment;
        // Cleanable.clean() runs the action at most once, so explicit close and GC cannot double-free.
        this.cleanable = free == null ? null : CLEANER.register(this, free);
    }

    static Storage allocateOwned(long bytes) {
        Arena arena = Arena.ofShared();
        long size = Math.max(bytes, 1);
        MemorySegment segment = arena.allocate(size, ALIGNMENT);
        MemoryStats.HOST.allocated(size);
        return new Storage(segment, () -> {
            arena.close();
            MemoryStats.HOST.freed(size);
        });
    }

    static Storage allocateIn(Arena arena, long bytes) {
        return new Storage(arena.allocate(Math.max(bytes, 1), ALIGNMENT), null);
    }

    /** Memory allocated elsewhere that this storage releases, once, through {@code release}. */
    static Storage adopt(MemorySegment segment, Runnable release) {
        return new Storage(segment, release);
    }

    static Storage borrow(MemorySegment segment) {
        return new Storage(segment, null);
    }

    MemorySegment segment() {
        return segment;
    }

    boolean owned() {
        return cleanable != null;
    }

    @Override
    public void close() {
        if (cleanable != null) {
            cleanable.clean();
        }
    }
}
