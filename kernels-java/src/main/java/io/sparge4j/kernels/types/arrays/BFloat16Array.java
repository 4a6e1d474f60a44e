package io.sparge4j.kernels.types.arrays;

import io.sparge4j.kernels.KernelMath;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * An off-heap array of bfloat16 (bf16) values, named after TornadoVM's {@code BFloat16Array}.
 *
 * <p>Storage is 2 bytes per element; {@link #get} and {@link #set} convert to and from {@code float}
 * (round to nearest even), and {@link #getHalfBits}/{@link #setHalfBits} give the raw bits. TornadoVM's
 * {@code get} returns a boxed half value instead of a float; kernels here compute in float on half storage,
 * which is also what devices without half arithmetic do.
 */
public final class BFloat16Array extends NativeArray {
    private static final ValueLayout.OfShort LAYOUT = ValueLayout.JAVA_SHORT_UNALIGNED;

    /**
     * Allocates {@code size} zeroed elements (zero bits are +0.0).
     *
     * @param size number of elements, {@code >= 0}
     */
    public BFloat16Array(int size) {
        super(allocate(size, 2, "BFloat16Array"), 2, "BFloat16Array", "new");
    }

    private BFloat16Array(MemorySegment segment, String op) {
        super(segment, 2, "BFloat16Array", op);
    }

    /**
     * Wraps a segment of bf16 bits without copying: the array and the segment share memory.
     *
     * @param segment the data, an even number of bytes
     * @return a view of {@code segment}
     */
    public static BFloat16Array fromSegmentShallow(MemorySegment segment) {
        return new BFloat16Array(segment, "fromSegmentShallow");
    }

    /**
     * Copies a segment of bf16 bits into a new, aligned array.
     *
     * @param segment the data, an even number of bytes
     * @return a new array holding a copy
     */
    public static BFloat16Array fromSegment(MemorySegment segment) {
        BFloat16Array view = new BFloat16Array(segment, "fromSegment");
        BFloat16Array copy = new BFloat16Array(view.size);
        copy.segment.copyFrom(segment);
        return copy;
    }

    /**
     * @param values the elements, each rounded to bf16
     * @return a new array
     */
    public static BFloat16Array fromArray(float[] values) {
        BFloat16Array a = new BFloat16Array(values.length);
        for (int i = 0; i < values.length; i++) {
            a.set(i, values[i]);
        }
        return a;
    }

    /** @return the elements converted to float */
    public float[] toHeapArray() {
        float[] out = new float[size];
        for (int i = 0; i < size; i++) {
            out[i] = get(i);
        }
        return out;
    }

    /**
     * @param index element index
     * @return the element at {@code index} as a float (exact)
     */
    public float get(int index) {
        checkIndex(index);
        return KernelMath.bfloat16ToFloat(segment.getAtIndex(LAYOUT, index));
    }

    /**
     * @param index element index
     * @param value the new value, rounded to bf16 (nearest even)
     */
    public void set(int index, float value) {
        checkIndex(index);
        segment.setAtIndex(LAYOUT, index, KernelMath.floatToBFloat16(value));
    }

    /**
     * @param index element index
     * @return the raw bf16 bits at {@code index}
     */
    public short getHalfBits(int index) {
        checkIndex(index);
        return segment.getAtIndex(LAYOUT, index);
    }

    /**
     * @param index element index
     * @param bits raw bf16 bits
     */
    public void setHalfBits(int index, short bits) {
        checkIndex(index);
        segment.setAtIndex(LAYOUT, index, bits);
    }

    /**
     * Sets every element to {@code value}.
     *
     * @param value the fill value, rounded to bf16
     */
    public void init(float value) {
        short bits = KernelMath.floatToBFloat16(value);
        for (int i = 0; i < size; i++) {
            segment.setAtIndex(LAYOUT, i, bits);
        }
    }

    /** @return 2 */
    @Override
    public int getElementSize() {
        return 2;
    }
}
