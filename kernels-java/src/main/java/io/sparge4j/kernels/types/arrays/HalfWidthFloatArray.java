package io.sparge4j.kernels.types.arrays;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * What {@link HalfFloatArray} (f16) and {@link BFloat16Array} (bf16) share: 2-byte storage read and written as
 * {@code float} through the format's conversion, plus the raw bits.
 */
public abstract sealed class HalfWidthFloatArray extends NativeArray permits HalfFloatArray, BFloat16Array {
    private static final ValueLayout.OfShort LAYOUT = ValueLayout.JAVA_SHORT_UNALIGNED;

    HalfWidthFloatArray(MemorySegment segment, String type, String op) {
        super(segment, 2, type, op);
    }

    /** @return the float value of the format's bits (exact) */
    abstract float toFloat(short bits);

    /** @return the format's bits nearest to {@code value} (round to nearest even) */
    abstract short fromFloat(float value);

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
        return toFloat(segment.getAtIndex(LAYOUT, index));
    }

    /**
     * @param index element index
     * @param value the new value, rounded to the format (nearest even)
     */
    public void set(int index, float value) {
        checkIndex(index);
        segment.setAtIndex(LAYOUT, index, fromFloat(value));
    }

    /**
     * @param index element index
     * @return the raw bits at {@code index}
     */
    public short getHalfBits(int index) {
        checkIndex(index);
        return segment.getAtIndex(LAYOUT, index);
    }

    /**
     * @param index element index
     * @param bits raw bits in the array's format
     */
    public void setHalfBits(int index, short bits) {
        checkIndex(index);
        segment.setAtIndex(LAYOUT, index, bits);
    }

    /**
     * Sets every element to {@code value}.
     *
     * @param value the fill value, rounded to the format
     */
    public void init(float value) {
        short bits = fromFloat(value);
        for (int i = 0; i < size; i++) {
            segment.setAtIndex(LAYOUT, i, bits);
        }
    }

    /** @return 2 */
    @Override
    public int getElementSize() {
        return 2;
    }

    /** Copies {@code values} in, each rounded to the format. */
    void fill(float[] values) {
        for (int i = 0; i < values.length; i++) {
            set(i, values[i]);
        }
    }
}
