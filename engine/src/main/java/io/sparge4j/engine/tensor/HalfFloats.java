package io.sparge4j.engine.tensor;

import io.sparge4j.kernels.KernelMath;

/**
 * Conversions between {@code float} and the 16-bit storage formats.
 *
 * <p>The conversions are the kernel language's ({@link KernelMath}), so that tensors and kernel arrays round
 * alike: f16 through the JDK's {@link Float#floatToFloat16} (round to nearest even), bf16 with bit operations
 * because the JDK has no bfloat16 type.
 */
public final class HalfFloats {
    private HalfFloats() {
    }

    /** @return the bf16 bits nearest to {@code f} (round to nearest even; NaN stays NaN) */
    public static short floatToBf16(float f) {
        return KernelMath.floatToBFloat16(f);
    }

    /** @return the float value of bf16 bits (exact) */
    public static float bf16ToFloat(short bits) {
        return KernelMath.bfloat16ToFloat(bits);
    }

    /** @return the f16 bits nearest to {@code f} */
    public static short floatToF16(float f) {
        return KernelMath.floatToHalf(f);
    }

    /** @return the float value of f16 bits (exact) */
    public static float f16ToFloat(short bits) {
        return KernelMath.halfToFloat(bits);
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
