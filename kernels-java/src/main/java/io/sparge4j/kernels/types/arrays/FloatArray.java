package io.sparge4j.kernels.types.arrays;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * An off-heap array of {@code float} for kernels, named after TornadoVM's {@code FloatArray}.
 *
 * <p>Backed by a {@link MemorySegment} holding only the data (no header). {@code new FloatArray(n)} is zeroed,
 * 64-byte aligned and freed by the garbage collector; {@link #fromSegmentShallow} wraps existing memory
 * without copying.
 */
public final class FloatArray extends NativeArray {
    private static final ValueLayout.OfFloat LAYOUT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /**
     * Allocates {@code size} zeroed elements.
     *
     * @param size number of elements, {@code >= 0}
     */
    public FloatArray(int size) {
        super(allocate(size, 4, "FloatArray"), 4, "FloatArray", "new");
    }

    private FloatArray(MemorySegment segment, String op) {
        super(segment, 4, "FloatArray", op);
    }

    /**
     * Wraps a segment without copying: the array and the segment share memory.
     *
     * @param segment the data, a multiple of 4 bytes long
     * @return a view of {@code segment}
     */
    public static FloatArray fromSegmentShallow(MemorySegment segment) {
        return new FloatArray(segment, "fromSegmentShallow");
    }

    /**
     * Copies a segment into a new, aligned array (TornadoVM's {@code fromSegment} also copies).
     *
     * @param segment the data, a multiple of 4 bytes long
     * @return a new array holding a copy
     */
    public static FloatArray fromSegment(MemorySegment segment) {
        FloatArray view = new FloatArray(segment, "fromSegment");
        FloatArray copy = new FloatArray(view.size);
        copy.segment.copyFrom(segment);
        return copy;
    }

    /**
     * @param values the elements
     * @return a new array holding a copy of {@code values}
     */
    public static FloatArray fromArray(float[] values) {
        FloatArray a = new FloatArray(values.length);
        MemorySegment.copy(values, 0, a.segment, LAYOUT, 0, values.length);
        return a;
    }

    /** @return the elements copied into a heap array */
    public float[] toHeapArray() {
        return segment.toArray(LAYOUT);
    }

    /**
     * @param index element index
     * @return the element at {@code index}
     */
    public float get(int index) {
        checkIndex(index);
        return segment.getAtIndex(LAYOUT, index);
    }

    /**
     * @param index element index
     * @param value the new value
     */
    public void set(int index, float value) {
        checkIndex(index);
        segment.setAtIndex(LAYOUT, index, value);
    }

    /**
     * Sets every element to {@code value}.
     *
     * @param value the fill value
     */
    public void init(float value) {
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
