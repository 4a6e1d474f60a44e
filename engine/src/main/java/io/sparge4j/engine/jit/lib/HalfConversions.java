package io.sparge4j.engine.jit.lib;

/**
 * C definitions of the f16 and bf16 conversions, by bit operations in both dialects: bit-exact with Java's
 * {@code Float.float16ToFloat} and {@code Float.floatToFloat16} as HotSpot runs them on x86-64 (F16C) and AArch64
 * for every input, round to nearest even and subnormals included; a NaN becomes a quiet NaN keeping the top bits
 * of its payload, as those instructions do (PTX {@code cvt} would make every NaN canonical; the Java source's
 * own fallback keeps signalling NaNs signalling). The same text on every device, so one test covers all.
 */
final class HalfConversions {
    private HalfConversions() {
    }

    /** {@code float sp_half_to_float(short bits)}. */
    static String halfToFloat(CTarget t) {
        return t.fn() + "float sp_half_to_float(short bits) {\n"
                + "    unsigned int u = (unsigned int)(unsigned short)bits;\n"
                + "    unsigned int sign = (u & 0x8000u) << 16;\n"
                + "    unsigned int e = (u >> 10) & 0x1fu;\n"
                + "    unsigned int m = u & 0x3ffu;\n"
                + "    float f;\n"
                + "    if (e == 0x1fu) {\n" // infinity, or NaN made quiet keeping its payload
                + "        return " + t.uintAsFloat("sign | (m != 0u ? 0x7fc00000u : 0x7f800000u) | (m << 13)")
                + ";\n"
                + "    }\n"
                + "    if (e != 0u) {\n"
                + "        return " + t.uintAsFloat("sign | ((e + 112u) << 23) | (m << 13)") + ";\n"
                + "    }\n"
                + "    /* zero or subnormal: m * 2^-24 is exact and a normal float */\n"
                + "    f = (float)m * 5.9604644775390625e-8f;\n"
                + "    return " + t.uintAsFloat("sign | " + t.floatAsUint("f")) + ";\n"
                + "}\n";
    }

    /** {@code short sp_float_to_half(float x)}: round to nearest even; NaN quiet with its payload's top bits. */
    static String floatToHalf(CTarget t) {
        return t.fn() + "short sp_float_to_half(float x) {\n"
                + "    unsigned int u = " + t.floatAsUint("x") + ";\n"
                + "    unsigned int sign = (u >> 16) & 0x8000u;\n"
                + "    unsigned int a = u & 0x7fffffffu;\n"
                + "    int e;\n"
                + "    int extra = 0;\n"
                + "    unsigned int sig;\n"
                + "    unsigned int shift;\n"
                + "    unsigned int h;\n"
                + "    if (a > 0x7f800000u) {\n"
                + "        return (short)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));\n" // quiet, top payload bits kept
                + "    }\n"
                + "    if (a >= 0x477ff000u) {\n" // 65520 = max half + half an ulp: rounds to infinity
                + "        return (short)(sign | 0x7c00u);\n"
                + "    }\n"
                + "    if (a <= 0x33000000u) {\n" // 2^-25 and below (float subnormals too): rounds to zero
                + "        return (short)sign;\n"
                + "    }\n"
                + "    e = (int)(a >> 23) - 127;\n"
                + "    sig = a & 0x7fffffu;\n"
                + "    if (e < -14) {\n"
                + "        extra = -14 - e;\n"
                + "        e = -15;\n"
                + "        sig |= 0x800000u;\n"
                + "    }\n"
                + "    shift = (unsigned int)(13 + extra);\n"
                + "    h = sig >> shift;\n"
                + "    if ((sig & (1u << (shift - 1u))) != 0u\n"
                + "            && ((sig & (1u << shift)) | (sig & ((1u << (shift - 1u)) - 1u))) != 0u) {\n"
                + "        h++;\n"
                + "    }\n"
                + "    return (short)(sign | (((unsigned int)(e + 15) << 10) + h));\n"
                + "}\n";
    }

    /** Internal {@code float sp_lib_bf16_to_float(short bits)}: bf16 is the top half of a float. */
    static String bf16ToFloat(CTarget t) {
        return t.fn() + "float sp_lib_bf16_to_float(short bits) {\n"
                + "    return " + t.uintAsFloat("((unsigned int)(unsigned short)bits) << 16") + ";\n"
                + "}\n";
    }
}
