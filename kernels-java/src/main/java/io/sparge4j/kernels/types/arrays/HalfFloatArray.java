package io.sparge4j.kernels.types.arrays;

import io.sparge4j.kernels.KernelMath;

import java.lang.foreign.MemorySegment;

/**
 * An off-heap array of IEEE binary16 (f16) values, named after TornadoVM's {@code HalfFloatArray}.
 *
 * <p>Storage is 2 bytes per element; {@link #get} and {@link #set} convert to and from {@code float}
 * (round to nearest even), and {@link #getHalfBits}/{@link #setHalfBits} give the raw bits. TornadoVM's
 * {@code get} returns a boxed half value instead of a float; kernels here compute in float on half storage,
 * which is also what devices without half arithmetic do.
 */
public final class HalfFloatArray extends HalfWidthFloatArray {
    /**
     * Allocates {@code size} zeroed elements (zero bits are +0.0).
     *
     * @param size number of elements, {@code >= 0}
     */
    public HalfFloatArray(int size) {
        super(allocate(size, 2, "HalfFloatArray"), "HalfFloatArray", "new");
    }

    private HalfFloatArray(MemorySegment segment, String op) {
        super(segment, "HalfFloatArray", op);
    }

    /**
     * Wraps a segment of f16 bits without copying: the array and the segment share memory.
     *
     * @param segment the data, an even number of bytes
     * @return a view of {@code segment}
     */
    public static HalfFloatArray fromSegmentShallow(MemorySegment segment) {
        return new HalfFloatArray(segment, "fromSegmentShallow");
    }

    /**
     * Copies a segment of f16 bits into a new, aligned array.
     *
     * @param segment the data, an even number of bytes
     * @return a new array holding a copy
     */
    public static HalfFloatArray fromSegment(MemorySegment segment) {
        HalfFloatArray view = new HalfFloatArray(segment, "fromSegment");
        HalfFloatArray copy = new HalfFloatArray(view.size);
        copy.segment.copyFrom(segment);
        return copy;
    }

    /**
     * @param values the elements, each rounded to f16
     * @return a new array
     */
    public static HalfFloatArray fromArray(float[] values) {
        HalfFloatArray a = new HalfFloatArray(values.length);
        a.fill(values);
        return a;
    }

    @Override
    float toFloat(short bits) {
        return KernelMath.halfToFloat(bits);
    }

    @Override
    short fromFloat(float value) {
        return KernelMath.floatToHalf(value);
    }
}
