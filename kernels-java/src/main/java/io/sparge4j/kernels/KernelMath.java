package io.sparge4j.kernels;

/**
 * Float math for kernels, named after TornadoVM's {@code TornadoMath}.
 *
 * <p>{@link java.lang.Math} works on doubles; a kernel that calls it would compute in fp64, which many
 * GPUs lack or run slowly. These methods take and return {@code float}, so the kernel JIT can map each
 * one to the device's single-precision function ({@code expf}, {@code native_exp}, ...). On the JVM they
 * run as ordinary Java.
 */
public final class KernelMath {
    private KernelMath() {
    }

    /** @return e^x */
    public static float exp(float x) {
        return (float) Math.exp(x);
    }

    /**
     * @return 2 to the power x. Cheaper than {@link #exp} on GPUs (one hardware instruction plus range handling on
     *     NVIDIA), so softmax kernels fold log2(e) into their scale and use this.
     */
    public static float exp2(float x) {
        return (float) Math.pow(2.0, x);
    }

    /**
     * 2 to the power x with results below {@link Float#MIN_NORMAL} flushed to zero (x < -126 gives 0): on NVIDIA one
     * instruction ({@code ex2.approx.ftz.f32}) where {@link #exp2} adds three to scale subnormal results. For softmax
     * terms taken after subtracting the row maximum, where a term below 2^-126 adds nothing to a sum of at least 1.
     * Other devices compute {@link #exp2} and flush the same range, so every backend agrees on which terms are 0.
     *
     * @param x the exponent
     * @return 2^x, or 0 where 2^x is below 2^-126
     */
    public static float exp2Ftz(float x) {
        return x < -126f ? 0f : (float) Math.pow(2.0, x);
    }

    /** @return the natural logarithm of x */
    public static float log(float x) {
        return (float) Math.log(x);
    }

    /** @return the square root of x */
    public static float sqrt(float x) {
        return (float) Math.sqrt(x);
    }

    /** @return 1 / sqrt(x) */
    public static float rsqrt(float x) {
        return (float) (1.0 / Math.sqrt(x));
    }

    /** @return the hyperbolic tangent of x */
    public static float tanh(float x) {
        return (float) Math.tanh(x);
    }

    /** @return sin(x) */
    public static float sin(float x) {
        return (float) Math.sin(x);
    }

    /** @return cos(x) */
    public static float cos(float x) {
        return (float) Math.cos(x);
    }

    /** @return x^y */
    public static float pow(float x, float y) {
        return (float) Math.pow(x, y);
    }

    /** @return the larger of a and b */
    public static float max(float a, float b) {
        return Math.max(a, b);
    }

    /** @return the smaller of a and b */
    public static float min(float a, float b) {
        return Math.min(a, b);
    }

    /** @return the larger of a and b */
    public static int max(int a, int b) {
        return Math.max(a, b);
    }

    /** @return the smaller of a and b */
    public static int min(int a, int b) {
        return Math.min(a, b);
    }

    /** @return |x| */
    public static float abs(float x) {
        return Math.abs(x);
    }

    /** @return a * b + c with one rounding */
    public static float fma(float a, float b, float c) {
        return Math.fma(a, b, c);
    }

    /** @return the float value of f16 bits (exact) */
    public static float halfToFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    /** @return the f16 bits nearest to {@code x} (round to nearest even) */
    public static short floatToHalf(float x) {
        return Float.floatToFloat16(x);
    }

    /** @return the float value of bf16 bits (exact: bf16 is the top half of a float) */
    public static float bfloat16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** @return the bf16 bits nearest to {@code x} (round to nearest even; NaN stays a quiet NaN) */
    public static short floatToBFloat16(float x) {
        int bits = Float.floatToRawIntBits(x);
        if ((bits & 0x7fffffff) > 0x7f800000) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }
}
