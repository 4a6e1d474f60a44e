package io.sparge4j.engine.jit.lib;

/**
 * C definitions of the m16n8k16 multiply-accumulates (f16 or bf16 in, f32 accumulation) in PTX's fragment
 * layout, g = lane >> 2, t = lane & 3 (see {@code KernelContext.mmaLoadA}, {@code mmaLoadB}, {@code mmaStoreC}).
 * Native: PTX {@code mma.sync.aligned.m16n8k16.row.col.f32.<in>.<in>.f32}, which may add the 16 products in
 * another order than k order. Fallback: FMAs in k order from C, bit-identical to the emulator (f16 and bf16
 * products are exact in float, so {@code fma(a, b, acc) == acc + a * b}).
 */
final class Mma {
    /** Floats of {@code sp_scratch} one 32-wide sub-group's fragment fallback uses: A and B as pairs of k. */
    static final int SCRATCH_PER_SUB_GROUP = 192;

    private Mma() {
    }

    /** Internal {@code unsigned int sp_lib_pack(short lo, short hi)}: two 16-bit values in one register. */
    static String pack(CTarget t) {
        return t.fn() + "unsigned int sp_lib_pack(short lo, short hi) {\n"
                + "    return (unsigned int)(unsigned short)lo | ((unsigned int)(unsigned short)hi << 16);\n"
                + "}\n";
    }

    /** {@code void sp_mma_f16(short* a, short* b, float* c, LOCAL float* sp_scratch, int sp_llid)} or bf16. */
    static String fragments(CTarget t, boolean bf16) {
        String name = bf16 ? "sp_mma_bf16" : "sp_mma_f16";
        String head = t.fn() + "void " + name + "(short* a, short* b, float* c, " + t.local()
                + "float* sp_scratch, int sp_llid) {\n";
        if (t.nativeMma()) {
            String in = bf16 ? "bf16" : "f16";
            return head
                    + "    asm volatile(\"mma.sync.aligned.m16n8k16.row.col.f32." + in + "." + in + ".f32 "
                    + "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\"\n"
                    + "        : \"+f\"(c[0]), \"+f\"(c[1]), \"+f\"(c[2]), \"+f\"(c[3])\n"
                    + "        : \"r\"(sp_lib_pack(a[0], a[1])), \"r\"(sp_lib_pack(a[2], a[3])),"
                    + " \"r\"(sp_lib_pack(a[4], a[5])), \"r\"(sp_lib_pack(a[6], a[7])),\n"
                    + "          \"r\"(sp_lib_pack(b[0], b[1])), \"r\"(sp_lib_pack(b[2], b[3])));\n"
                    + "}\n";
        }
        return head
                + "    /* this sub-group's A (16 rows x 8 pairs of k) at s[0, 128), B (8 columns x 8 pairs) at s[128, 192) */\n"
                + "    " + t.local() + "float* s = sp_scratch + (sp_llid >> 5) * " + SCRATCH_PER_SUB_GROUP + ";\n"
                + "    int lane = sp_llid & 31;\n"
                + "    int g = lane >> 2;\n"
                + "    int t = lane & 3;\n"
                + "    int i;\n"
                + "    int kp;\n"
                + "    s[g * 8 + t] = " + t.uintAsFloat("sp_lib_pack(a[0], a[1])") + ";\n"
                + "    s[(g + 8) * 8 + t] = " + t.uintAsFloat("sp_lib_pack(a[2], a[3])") + ";\n"
                + "    s[g * 8 + t + 4] = " + t.uintAsFloat("sp_lib_pack(a[4], a[5])") + ";\n"
                + "    s[(g + 8) * 8 + t + 4] = " + t.uintAsFloat("sp_lib_pack(a[6], a[7])") + ";\n"
                + "    s[128 + g * 8 + t] = " + t.uintAsFloat("sp_lib_pack(b[0], b[1])") + ";\n"
                + "    s[128 + g * 8 + t + 4] = " + t.uintAsFloat("sp_lib_pack(b[2], b[3])") + ";\n"
                + "    " + t.subGroupBarrier() + "\n"
                + "    for (i = 0; i < 4; i++) {\n"
                + "        int row = g + 8 * (i >> 1);\n"
                + "        int col = 2 * t + (i & 1);\n"
                + "        float acc = c[i];\n"
                + "        for (kp = 0; kp < 8; kp++) {\n"
                + "            unsigned int ua = " + t.floatAsUint("s[row * 8 + kp]") + ";\n"
                + "            unsigned int ub = " + t.floatAsUint("s[128 + col * 8 + kp]") + ";\n"
                + "            acc = " + fma(t, low(t, bf16, "ua"), low(t, bf16, "ub"), "acc") + ";\n"
                + "            acc = " + fma(t, high(t, bf16, "ua"), high(t, bf16, "ub"), "acc") + ";\n"
                + "        }\n"
                + "        c[i] = acc;\n"
                + "    }\n"
                + "    " + t.subGroupBarrier() + "\n"
                + "}\n";
    }

    /**
     * {@code void sp_mma_tile_f16(LOCAL short* a, int lda, LOCAL short* b, int ldb, LOCAL float* c, int ldc,
     * LOCAL float* sp_scratch, int sp_llid)} or bf16.
     */
    static String tile(CTarget t, boolean bf16) {
        String l = t.local();
        String head = t.fn() + "void " + (bf16 ? "sp_mma_tile_bf16" : "sp_mma_tile_f16") + "(" + l
                + "short* a, int lda, " + l + "short* b, int ldb, " + l + "float* c, int ldc, " + l
                + "float* sp_scratch, int sp_llid) {\n"
                + "    int lane = sp_llid & 31;\n"
                + "    int i;\n";
        if (t.nativeMma()) {
            return head
                    + "    int g = lane >> 2;\n"
                    + "    int t = lane & 3;\n"
                    + "    short fa[8];\n"
                    + "    short fb[4];\n"
                    + "    float fc[4];\n"
                    + "    __syncwarp();\n"
                    + "#pragma unroll\n"
                    + "    for (i = 0; i < 8; i++) {\n"
                    + "        fa[i] = a[(g + 8 * ((i >> 1) & 1)) * lda + 2 * t + (i & 1) + 8 * (i >> 2)];\n"
                    + "    }\n"
                    + "#pragma unroll\n"
                    + "    for (i = 0; i < 4; i++) {\n"
                    + "        fb[i] = b[(2 * t + (i & 1) + 8 * (i >> 1)) * ldb + g];\n"
                    + "        fc[i] = c[(g + 8 * (i >> 1)) * ldc + 2 * t + (i & 1)];\n"
                    + "    }\n"
                    + "    " + (bf16 ? "sp_mma_bf16" : "sp_mma_f16") + "(fa, fb, fc, sp_scratch, sp_llid);\n"
                    + "#pragma unroll\n"
                    + "    for (i = 0; i < 4; i++) {\n"
                    + "        c[(g + 8 * (i >> 1)) * ldc + 2 * t + (i & 1)] = fc[i];\n"
                    + "    }\n"
                    + "    __syncwarp();\n"
                    + "}\n";
        }
        String convert = bf16 ? "sp_lib_bf16_to_float" : "sp_half_to_float";
        return head
                + "    int k;\n"
                + "    " + t.subGroupBarrier() + "\n"
                + "    for (i = lane; i < 128; i += 32) {\n"
                + "        int row = i >> 3;\n"
                + "        int col = i & 7;\n"
                + "        float acc = c[row * ldc + col];\n"
                + "        for (k = 0; k < 16; k++) {\n"
                + "            acc = " + fma(t, convert + "(a[row * lda + k])", convert + "(b[k * ldb + col])", "acc")
                + ";\n"
                + "        }\n"
                + "        c[row * ldc + col] = acc;\n"
                + "    }\n"
                + "    " + t.subGroupBarrier() + "\n"
                + "}\n";
    }

    private static String fma(CTarget t, String x, String y, String acc) {
        return (t.cuda() ? "__fmaf_rn(" : "fma(") + x + ", " + y + ", " + acc + ")";
    }

    private static String low(CTarget t, boolean bf16, String u) {
        return bf16 ? t.uintAsFloat(u + " << 16") : "sp_half_to_float((short)(" + u + " & 0xffffu))";
    }

    private static String high(CTarget t, boolean bf16, String u) {
        return bf16 ? t.uintAsFloat(u + " & 0xffff0000u") : "sp_half_to_float((short)(" + u + " >> 16))";
    }
}
