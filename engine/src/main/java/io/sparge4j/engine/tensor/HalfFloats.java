package io.sparge4j.engine.tensor;

/**
 * Conversions between {@code float} and the 16-bit storage formats.
 *
 * <p>F16 uses the JDK's own {@link Float#floatToFloat16} (round to nearest even); bf16 is done with bit
 * operations because the JDK has no bfloat16 type.
 */
public final class HalfFloats {
    private HalfFloats() {
    }

    /** @return the bf16 bits nearest to {@code f} (round to nearest even; NaN stays NaN) */
    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) {
            return (short) ((bits >>> 16) | 0x0040); // quiet NaN, keep the sign
        }
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** @return the float value of bf16 bits (exact) */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** @return the f16 bits nearest to {@code f} */
    public static short floatToF16(float f) {
        return Float.floatToFloat16(f);
    }

    /** @return the float value of f16 bits (exact) */
    public static float f16ToFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    /** @return {@code f} rounded through bf16 and back */
    public static float roundToBf16(float f) {
        return bf16ToFloat(floatToBf16(f));
    }

    /** @return {@code f} rounded through f16 and back */
    public static float roundToF16(float f) {
        return f16ToFloat(floatToF16(f));
    }
}
