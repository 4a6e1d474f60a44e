package io.sparge4j.kernels.types.arrays;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * An off-heap array of {@code int} for kernels, named after TornadoVM's {@code IntArray}.
 *
 * <p>Backed by a {@link MemorySegment} holding only the data (no header). {@code new IntArray(n)} is zeroed,
 * 64-byte aligned and freed by the garbage collector; {@link #fromSegmentShallow} wraps existing memory
 * without copying.
 */
public final class IntArray extends NativeArray {
    private static final ValueLayout.OfInt LAYOUT = ValueLayout.JAVA_INT_UNALIGNED;

    /**
     * Allocates {@code size} zeroed elements.
     *
     * @param size number of elements, {@code >= 0}
     */
    public IntArray(int size) {
        super(allocate(size, 4, "IntArray"), 4, "IntArray", "new");
    }

    private IntArray(MemorySegment segment, String op) {
        super(segment, 4, "IntArray", op);
    }

    /**
     * Wraps a segment without copying: the array and the segment share memory.
     *
     * @param segment the data, a multiple of 4 bytes long
     * @return a view of {@code segment}
     */
    public static IntArray fromSegmentShallow(MemorySegment segment) {
        return new IntArray(segment, "fromSegmentShallow");
    }

    /**
     * Copies a segment into a new, aligned array (TornadoVM's {@code fromSegment} also copies).
     *
     * @param segment the data, a multiple of 4 bytes long
     * @return a new array holding a copy
     */
    public static IntArray fromSegment(MemorySegment segment) {
        IntArray view = new IntArray(segment, "fromSegment");
        IntArray copy = new IntArray(view.size);
        copy.segment.copyFrom(segment);
        return copy;
    }

    /**
     * @param values the elements
     * @return a new array holding a copy of {@code values}
     */
    public static IntArray fromArray(int[] values) {
        IntArray a = new IntArray(values.length);
        MemorySegment.copy(values, 0, a.segment, LAYOUT, 0, values.length);
        return a;
    }

    /** @return the elements copied into a heap array */
    public int[] toHeapArray() {
        return segment.toArray(LAYOUT);
    }

    /**
     * @param index element index
     * @return the element at {@code index}
     */
    public int get(int index) {
        checkIndex(index);
        return segment.getAtIndex(LAYOUT, index);
    }

    /**
     * @param index element index
     * @param value the new value
     */
    public void set(int index, int value) {
        checkIndex(index);
        segment.setAtIndex(LAYOUT, index, value);
    }

    /**
     * Sets every element to {@code value}.
     *
     * @param value the fill value
     */
    public void init(int value) {
        for (int i = 0; i < size; i++) {
            segment.setAtIndex(LAYOUT, i, value);
        }
    }

    /** @return 4 */
    @Override
    public int getElementSize() {
        return 4;
    }
}
