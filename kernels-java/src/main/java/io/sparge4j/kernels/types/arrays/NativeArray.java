package io.sparge4j.kernels.types.arrays;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Common base of the off-heap kernel arrays, named after TornadoVM's {@code TornadoNativeArray}.
 *
 * <p>Each array is a flat, int-indexed view of a {@link MemorySegment}. Unlike TornadoVM there is no header in
 * front of the data: element 0 sits at the segment's first byte, so freshly allocated arrays are 64-byte
 * aligned and engine tensors wrap into arrays without copying.
 */
public abstract sealed class NativeArray permits FloatArray, IntArray, ByteArray, HalfWidthFloatArray, LongArray, DoubleArray {
    /** Alignment in bytes of arrays allocated by the constructors (AVX-512 lines, 16-byte GPU loads). */
    public static final long ALIGNMENT = 64;

    /** The data, exactly {@code size * elementBytes} bytes. */
    final MemorySegment segment;
    /** Number of elements. */
    final int size;

    NativeArray(MemorySegment segment, int elementBytes, String type, String op) {
        long bytes = segment.byteSize();
        if (bytes % elementBytes != 0) {
            throw new IllegalArgumentException(type + "." + op + ": segment has " + bytes
                    + " bytes, expected a multiple of " + elementBytes);
        }
        long elements = bytes / elementBytes;
        if (elements > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(type + "." + op + ": segment holds " + elements
                    + " elements, expected at most " + Integer.MAX_VALUE + " (split bigger buffers)");
        }
        this.segment = segment;
        this.size = (int) elements;
    }

    /** Allocates {@code n} zeroed elements, 64-byte aligned, in an automatic (GC-managed) arena. */
    static MemorySegment allocate(int n, int elementBytes, String type) {
        if (n < 0) {
            throw new IllegalArgumentException(type + ": size is " + n + ", expected >= 0");
        }
        return Arena.ofAuto().allocate((long) n * elementBytes, ALIGNMENT);
    }

    /** @return the number of elements */
    public final int getSize() {
        return size;
    }

    /** @return the backing segment (the data itself, no header); writes through it are seen by the array */
    public final MemorySegment getSegment() {
        return segment;
    }

    /** @return the number of bytes of data, {@code getSize() * getElementSize()} */
    public final long getNumBytesOfSegment() {
        return segment.byteSize();
    }

    /** @return the size of one element in bytes */
    public abstract int getElementSize();

    /** Sets every element to zero. */
    public final void clear() {
        segment.fill((byte) 0);
    }

    /** Throws a clear {@link IndexOutOfBoundsException} unless {@code 0 <= index < size}. */
    final void checkIndex(int index) {
        if (Integer.compareUnsigned(index, size) >= 0) {
            throw outOfBounds(index);
        }
    }

    private IndexOutOfBoundsException outOfBounds(int index) {
        return new IndexOutOfBoundsException(getClass().getSimpleName() + ": index " + index
                + " out of bounds for size " + size);
    }

    /** @return {@code FloatArray[size]} and so on */
    @Override
    public String toString() {
        return getClass().getSimpleName() + "[" + size + "]";
    }
}
