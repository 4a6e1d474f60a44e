package io.sparge4j.kernels.types.arrays;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * An off-heap array of {@code byte} for kernels, named after TornadoVM's {@code ByteArray}.
 *
 * <p>Backed by a {@link MemorySegment} holding only the data (no header). {@code new ByteArray(n)} is zeroed,
 * 64-byte aligned and freed by the garbage collector; {@link #fromSegmentShallow} wraps existing memory
 * without copying.
 */
public final class ByteArray extends NativeArray {
    private static final ValueLayout.OfByte LAYOUT = ValueLayout.JAVA_BYTE;

    /**
     * Allocates {@code size} zeroed elements.
     *
     * @param size number of elements, {@code >= 0}
     */
    public ByteArray(int size) {
        super(allocate(size, 1, "ByteArray"), 1, "ByteArray", "new");
    }

    private ByteArray(MemorySegment segment, String op) {
        super(segment, 1, "ByteArray", op);
    }

    /**
     * Wraps a segment without copying: the array and the segment share memory.
     *
     * @param segment the data, a multiple of 1 bytes long
     * @return a view of {@code segment}
     */
    public static ByteArray fromSegmentShallow(MemorySegment segment) {
        return new ByteArray(segment, "fromSegmentShallow");
    }

    /**
     * Copies a segment into a new, aligned array (TornadoVM's {@code fromSegment} also copies).
     *
     * @param segment the data, a multiple of 1 bytes long
     * @return a new array holding a copy
     */
    public static ByteArray fromSegment(MemorySegment segment) {
        ByteArray view = new ByteArray(segment, "fromSegment");
        ByteArray copy = new ByteArray(view.size);
        copy.segment.copyFrom(segment);
        return copy;
    }

    /**
     * @param values the elements
     * @return a new array holding a copy of {@code values}
     */
    public static ByteArray fromArray(byte[] values) {
        ByteArray a = new ByteArray(values.length);
        MemorySegment.copy(values, 0, a.segment, LAYOUT, 0, values.length);
        return a;
    }

    /** @return the elements copied into a heap array */
    public byte[] toHeapArray() {
        return segment.toArray(LAYOUT);
    }

    /**
     * @param index element index
     * @return the element at {@code index}
     */
    public byte get(int index) {
        checkIndex(index);
        return segment.getAtIndex(LAYOUT, index);
    }

    /**
     * @param index element index
     * @param value the new value
     */
    public void set(int index, byte value) {
        checkIndex(index);
        segment.setAtIndex(LAYOUT, index, value);
    }

    /**
     * Sets every element to {@code value}.
     *
     * @param value the fill value
     */
    public void init(byte value) {
        for (int i = 0; i < size; i++) {
            segment.setAtIndex(LAYOUT, i, value);
        }
    }

    /** @return 1 */
    @Override
    public int getElementSize() {
        return 1;
    }
}
