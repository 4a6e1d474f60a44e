package io.sparge4j.kernels.types.arrays;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * An off-heap array of {@code double} for kernels, named after TornadoVM's {@code DoubleArray}.
 *
 * <p>Backed by a {@link MemorySegment} holding only the data (no header). {@code new DoubleArray(n)} is zeroed,
 * 64-byte aligned and freed by the garbage collector; {@link #fromSegmentShallow} wraps existing memory
 * without copying.
 */
public final class DoubleArray extends NativeArray {
    private static final ValueLayout.OfDouble LAYOUT = ValueLayout.JAVA_DOUBLE_UNALIGNED;

    /**
     * Allocates {@code size} zeroed elements.
     *
     * @param size number of elements, {@code >= 0}
     */
    public DoubleArray(int size) {
        super(allocate(size, 8, "DoubleArray"), 8, "DoubleArray", "new");
    }

    private DoubleArray(MemorySegment segment, String op) {
        super(segment, 8, "DoubleArray", op);
    }

    /**
     * Wraps a segment without copying: the array and the segment share memory.
     *
     * @param segment the data, a multiple of 8 bytes long
     * @return a view of {@code segment}
     */
    public static DoubleArray fromSegmentShallow(MemorySegment segment) {
        return new DoubleArray(segment, "fromSegmentShallow");
    }

    /**
     * Copies a segment into a new, aligned array (TornadoVM's {@code fromSegment} also copies).
     *
     * @param segment the data, a multiple of 8 bytes long
     * @return a new array holding a copy
     */
    public static DoubleArray fromSegment(MemorySegment segment) {
        DoubleArray view = new DoubleArray(segment, "fromSegment");
        DoubleArray copy = new DoubleArray(view.size);
        copy.segment.copyFrom(segment);
        return copy;
    }

    /**
     * @param values the elements
     * @return a new array holding a copy of {@code values}
     */
    public static DoubleArray fromArray(double[] values) {
        DoubleArray a = new DoubleArray(values.length);
        MemorySegment.copy(values, 0, a.segment, LAYOUT, 0, values.length);
        return a;
    }

    /** @return the elements copied into a heap array */
    public double[] toHeapArray() {
        return segment.toArray(LAYOUT);
    }

    /**
     * @param index element index
     * @return the element at {@code index}
     */
    public double get(int index) {
        checkIndex(index);
        return segment.getAtIndex(LAYOUT, index);
    }

    /**
     * @param index element index
     * @param value the new value
     */
    public void set(int index, double value) {
        checkIndex(index);
        segment.setAtIndex(LAYOUT, index, value);
    }

    /**
     * Sets every element to {@code value}.
     *
     * @param value the fill value
     */
    public void init(double value) {
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
