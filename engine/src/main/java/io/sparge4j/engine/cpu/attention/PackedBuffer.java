package io.sparge4j.engine.cpu.attention;

import java.lang.ref.SoftReference;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One reusable float array for a kernel's packed operands. Repeated calls (every training step, every
 * benchmark iteration) take the cached array back instead of allocating, and zeroing, megabytes; the
 * kernels write every element they read, padding included, so stale contents never matter. Concurrent
 * callers each get their own array (one of them is kept afterwards), and the cache is softly held so the
 * garbage collector may drop it under memory pressure.
 */
final class PackedBuffer {
    private final AtomicReference<SoftReference<float[]>> cached = new AtomicReference<>();

    /**
     * @param length floats needed
     * @return an array of at least {@code length} floats with unspecified contents; hand it back with {@link #release}
     */
    float[] acquire(long length) {
        SoftReference<float[]> ref = cached.getAndSet(null);
        float[] a = ref == null ? null : ref.get();
        if (a == null || a.length < length) {
            a = new float[Math.toIntExact(length)];
        }
        return a;
    }

    /** Makes {@code a} available to the next {@link #acquire}. */
    void release(float[] a) {
        cached.set(new SoftReference<>(a));
    }
}
