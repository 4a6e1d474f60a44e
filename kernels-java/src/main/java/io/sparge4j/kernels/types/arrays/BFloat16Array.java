package io.sparge4j.kernels.types.arrays;

import io.sparge4j.kernels.KernelMath;

import java.lang.foreign.MemorySegment;

/**
 * An off-heap array of bfloat16 (bf16) values, named after TornadoVM's {@code BFloat16Array}.
 *
 * <p>Storage is 2 bytes per element; {@link #get} and {@link #set} convert to and from {@code float}
 * (round to nearest even), and {@link #getHalfBits}/{@link #setHalfBits} give the raw bits. TornadoVM's
 * {@code get} returns a boxed half value instead of a float; kernels here compute in float on half storage,
 * which is also what devices without half arithmetic do.
 */
public final class BFloat16Array extends HalfWidthFloatArray {
    /**
     * Allocates {@code size} zeroed elements (zero bits are +0.0).
     *
     * @param size number of elements, {@code >= 0}
     */
    public BFloat16Array(int size) {
        super(allocate(size, 2, "BFloat16Array"), "BFloat16Array", "new");
    }

    private BFloat16Array(MemorySegment segment, String op) {
        super(segment, "BFloat16Array", op);
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
        a.fill(values);
        return a;
    }

    @Override
    float toFloat(short bits) {
        return KernelMath.bfloat16ToFloat(bits);
    }

    @Override
    short fromFloat(float value) {
        return KernelMath.floatToBFloat16(value);
    }
}
