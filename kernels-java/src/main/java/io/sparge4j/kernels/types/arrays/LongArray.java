package io.sparge4j.kernels.types.arrays;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * An off-heap array of {@code long} for kernels, named after TornadoVM's {@code LongArray}.
 *
 * <p>Backed by a {@link MemorySegment} holding only the data (no header). {@code new LongArray(n)} is zeroed,
 * 64-byte aligned and freed by the garbage collector; {@link #fromSegmentShallow} wraps existing memory
 * without copying.
 */
public final class LongArray extends NativeArray {
    private static final ValueLayout.OfLong LAYOUT = ValueLayout.JAVA_LONG_UNALIGNED;

    /**
     * Allocates {@code size} zeroed elements.
     *
     * @param size number of elements, {@code >= 0}
     */
    public LongArray(int size) {
        super(allocate(size, 8, "LongArray"), 8, "LongArray", "new");
    }

    private LongArray(MemorySegment segment, String op) {
        super(segment, 8, "LongArray", op);
    }

    /**
     * Wraps a segment without copying: the array and the segment share memory.
     *
     * @param segment the data, a multiple of 8 bytes long
     * @return a view of {@code segment}
     */
    public static LongArray fromSegmentShallow(MemorySegment segment) {
        return new LongArray(segment, "fromSegmentShallow");
    }

    /**
     * Copies a segment into a new, aligned array (TornadoVM's {@code fromSegment} also copies).
     *
     * @param segment the data, a multiple of 8 bytes long
     * @return a new array holding a copy
     */
    public static LongArray fromSegment(MemorySegment segment) {
        LongArray view = new LongArray(segment, "fromSegment");
        LongArray copy = new LongArray(view.size);
        copy.segment.copyFrom(segment);
        return copy;
    }

    /**
     * @param values the elements
     * @return a new array holding a copy of {@code values}
     */
    public static LongArray fromArray(long[] values) {
        LongArray a = new LongArray(values.length);
        MemorySegment.copy(values, 0, a.segment, LAYOUT, 0, values.length);
        return a;
    }

    /** @return the elements copied into a heap array */
    public long[] toHeapArray() {
        return segment.toArray(LAYOUT);
    }

    /**
     * @param index element index
     * @return the element at {@code index}
     */
    public long get(int index) {
        checkIndex(index);
        return segment.getAtIndex(LAYOUT, index);
    }

    /**
     * @param index element index
     * @param value the new value
     */
    public void set(int index, long value) {
        checkIndex(index);
        segment.setAtIndex(LAYOUT, index, value);
    }

    /**
     * Sets every element to {@code value}.
     *
     * @param value the fill value
     */
    public void init(long value) {
        for (int i = 0; i < size; i++) {
            segment.setAtIndex(LAYOUT, i, value);
        }
    }

    /** @return 8 */
    @Override
    public int getElementSize() {
        return 8;
    }
}
