package io.sparge4j.engine.jit.lib;

import io.sparge4j.engine.compute.Dialect;

import java.util.EnumSet;
import java.util.Set;

/**
 * Test scaffolding: minimal driver kernels, generated as the JIT would, that call the device library's functions
 * on data from global buffers so that tests can compare them with Java.
 */
final class DriverSources {
    /** Row strides of the tiles in the tile-MMA driver: padded, to catch a stride ignored. */
    static final int LDA = 24;
    static final int LDB = 12;
    static final int LDC = 10;

    static final Set<LibraryFunction> HALVES = EnumSet.of(LibraryFunction.HALF_TO_FLOAT,
            LibraryFunction.FLOAT_TO_HALF);
    static final Set<LibraryFunction> SIMD = EnumSet.of(LibraryFunction.SIMD_SUM, LibraryFunction.SIMD_SHUFFLE_DOWN,
            LibraryFunction.SIMD_BROADCAST_FIRST);
    static final Set<LibraryFunction> SIMD_XOR = EnumSet.of(LibraryFunction.SIMD_SHUFFLE_XOR);
    static final Set<LibraryFunction> ATOMICS = EnumSet.of(LibraryFunction.ATOMIC_ADD_GLOBAL_INT,
            LibraryFunction.ATOMIC_ADD_GLOBAL_FLOAT, LibraryFunction.ATOMIC_ADD_LOCAL_INT);

    private final Dialect dialect;
    private final DeviceLibrary library;

    DriverSources(Dialect dialect, DeviceLibrary library) {
        this.dialect = dialect;
        this.library = library;
    }

    static Set<LibraryFunction> fragments(boolean bf16) {
        return EnumSet.of(bf16 ? LibraryFunction.MMA_BF16 : LibraryFunction.MMA_F16);
    }

    static Set<LibraryFunction> tile(boolean bf16) {
        return EnumSet.of(bf16 ? LibraryFunction.MMA_TILE_BF16 : LibraryFunction.MMA_TILE_F16);
    }

    private boolean cuda() {
        return dialect == Dialect.CUDA;
    }

    private String kernel(String name, String params) {
        return (cuda() ? "extern \"C\" __global__ void " : "__kernel void ") + name + "(" + params + ") {\n";
    }

    private String g() {
        return cuda() ? "" : "__global ";
    }

    private String local() {
        return cuda() ? "__shared__ " : "__local ";
    }

    private String gid() {
        return cuda() ? "(int)(blockIdx.x * blockDim.x + threadIdx.x)" : "(int)get_global_id(0)";
    }

    private String lid() {
        return cuda() ? "(int)threadIdx.x" : "(int)get_local_id(0)";
    }

    private String barrier() {
        return cuda() ? "__syncthreads();" : "barrier(CLK_LOCAL_MEM_FENCE);";
    }

    private String asUint(String e) {
        return (cuda() ? "__float_as_uint(" : "as_uint(") + e + ")";
    }

    private String asFloat(String e) {
        return (cuda() ? "__uint_as_float(" : "as_float(") + e + ")";
    }

    /** @return the library's definitions of {@code used} followed by {@code kernels} */
    String program(Set<LibraryFunction> used, String kernels) {
        return library.functions(used) + kernels;
    }

    /** t_h2f(short* in, uint* out), t_f2h(uint* in, short* out): results as bits, so NaN payloads survive. */
    String halves() {
        return kernel("t_h2f", g() + "const short* in, " + g() + "unsigned int* out")
                + "    int i = " + gid() + ";\n"
                + "    out[i] = " + asUint("sp_half_to_float(in[i])") + ";\n"
                + "}\n"
                + kernel("t_f2h", g() + "const unsigned int* in, " + g() + "short* out")
                + "    int i = " + gid() + ";\n"
                + "    out[i] = sp_float_to_half(" + asFloat("in[i]") + ");\n"
                + "}\n";
    }

    /** t_exp2(float* in, float* out): out[i] = sp_exp2_ftz(in[i]). */
    String exp2Ftz() {
        return kernel("t_exp2", g() + "const float* in, " + g() + "float* out")
                + "    int i = " + gid() + ";\n"
                + "    out[i] = sp_exp2_ftz(in[i]);\n"
                + "}\n";
    }

    /** t_simd(float* in, float* sum, float* down, float* first, int delta). */
    String simd(int workGroupSize) {
        Set<LibraryFunction> used = SIMD;
        return kernel("t_simd", g() + "const float* in, " + g() + "float* sum, " + g() + "float* down, " + g()
                        + "float* first, int delta")
                + library.kernelPrologue(used, workGroupSize)
                + "    int i = " + gid() + ";\n"
                + "    float v = in[i];\n"
                + "    sum[i] = sp_simd_sum(v, sp_scratch, sp_llid);\n"
                + "    down[i] = sp_simd_shuffle_down(v, delta, sp_scratch, sp_llid);\n"
                + "    first[i] = sp_simd_broadcast_first(v, sp_scratch, sp_llid);\n"
                + "}\n";
    }

    /** t_xor(float* in, float* out, int mask): out[i] = sp_simd_shuffle_xor(in[i], mask). */
    String simdXor(int workGroupSize) {
        return kernel("t_xor", g() + "const float* in, " + g() + "float* out, int mask")
                + library.kernelPrologue(SIMD_XOR, workGroupSize)
                + "    int i = " + gid() + ";\n"
                + "    out[i] = sp_simd_shuffle_xor(in[i], mask, sp_scratch, sp_llid);\n"
                + "}\n";
    }

    /** t_mma(short* a, short* b, float* c): per work-item fragments a[8i..], b[4i..], c[4i..] (c updated). */
    String mmaFragments(int workGroupSize, boolean bf16) {
        Set<LibraryFunction> used = fragments(bf16);
        return kernel("t_mma", g() + "const short* a, " + g() + "const short* b, " + g() + "float* c")
                + library.kernelPrologue(used, workGroupSize)
                + "    int w = " + gid() + ";\n"
                + "    short fa[8];\n"
                + "    short fb[4];\n"
                + "    float fc[4];\n"
                + "    int i;\n"
                + "    for (i = 0; i < 8; i++) { fa[i] = a[w * 8 + i]; }\n"
                + "    for (i = 0; i < 4; i++) { fb[i] = b[w * 4 + i]; fc[i] = c[w * 4 + i]; }\n"
                + "    " + (bf16 ? "sp_mma_bf16" : "sp_mma_f16") + "(fa, fb, fc, sp_scratch, sp_llid);\n"
                + "    for (i = 0; i < 4; i++) { c[w * 4 + i] = fc[i]; }\n"
                + "}\n";
    }

    /**
     * t_tile(short* a, short* b, float* c): sub-group s of the launch multiplies dense tiles a[256 s..] (16x16),
     * b[128 s..] (16x8) into c[128 s..] (16x8) through local tiles with strides {@link #LDA}, {@link #LDB},
     * {@link #LDC}. Launch groups of {@code 32 * subGroups}.
     */
    String mmaTile(int subGroups, boolean bf16) {
        Set<LibraryFunction> used = tile(bf16);
        int wgs = 32 * subGroups;
        return kernel("t_tile", g() + "const short* a, " + g() + "const short* b, " + g() + "float* c")
                + library.kernelPrologue(used, wgs)
                + "    " + local() + "short ta[" + subGroups * 16 * LDA + "];\n"
                + "    " + local() + "short tb[" + subGroups * 16 * LDB + "];\n"
                + "    " + local() + "float tc[" + subGroups * 16 * LDC + "];\n"
                + "    int l = " + lid() + ";\n"
                + "    int w = l >> 5;\n"
                + "    int s = " + gid() + " >> 5;\n"
                + "    int e;\n"
                + "    for (e = l & 31; e < 256; e += 32) { ta[w * 16 * " + LDA + " + (e >> 4) * " + LDA
                + " + (e & 15)] = a[s * 256 + e]; }\n"
                + "    for (e = l & 31; e < 128; e += 32) {\n"
                + "        tb[w * 16 * " + LDB + " + (e >> 3) * " + LDB + " + (e & 7)] = b[s * 128 + e];\n"
                + "        tc[w * 16 * " + LDC + " + (e >> 3) * " + LDC + " + (e & 7)] = c[s * 128 + e];\n"
                + "    }\n"
                + "    " + barrier() + "\n"
                + "    " + (bf16 ? "sp_mma_tile_bf16" : "sp_mma_tile_f16") + "(ta + w * 16 * " + LDA + ", " + LDA
                + ", tb + w * 16 * " + LDB + ", " + LDB + ", tc + w * 16 * " + LDC + ", " + LDC
                + ", sp_scratch, sp_llid);\n"
                + "    " + barrier() + "\n"
                + "    for (e = l & 31; e < 128; e += 32) { c[s * 128 + e] = tc[w * 16 * " + LDC + " + (e >> 3) * "
                + LDC + " + (e & 7)]; }\n"
                + "}\n";
    }

    /**
     * t_atomic(int* gi, float* gf, int* li_out, int* vi, float* vf): work-item i adds vi[i] to gi[i % 4] and to
     * a local li[i % 4] (then each group adds li to li_out), vf[i] to gf[i % 4].
     */
    String atomics() {
        return kernel("t_atomic", g() + "int* gi, " + g() + "float* gf, " + g() + "int* li_out, " + g()
                        + "const int* vi, " + g() + "const float* vf")
                + "    " + local() + "int li[4];\n"
                + "    int i = " + gid() + ";\n"
                + "    int l = " + lid() + ";\n"
                + "    if (l < 4) { li[l] = 0; }\n"
                + "    " + barrier() + "\n"
                + "    sp_atomic_add_gi(gi, i % 4, vi[i]);\n"
                + "    sp_atomic_add_gf(gf, i % 4, vf[i]);\n"
                + "    sp_atomic_add_li(li, i % 4, vi[i]);\n"
                + "    " + barrier() + "\n"
                + "    if (l < 4) { sp_atomic_add_gi(li_out, l, li[l]); }\n"
                + "}\n";
    }

    /**
     * t_shared(int* in, int* out): copies in[0 .. 256) into a local tile with sp_async_copy16 (4 ints per work-item,
     * {@code i % 5} valid), commits and waits, then each warp loads four matrices (rows of 8 ints from int 4) and
     * writes them to out[4 i ..], then the same matrices transposed (sp_ldmatrix_x4_trans) to out[256 + 4 i ..].
     * Launch one group of 64.
     */
    String sharedLoads() {
        java.util.Set<LibraryFunction> used = java.util.EnumSet.of(LibraryFunction.LOAD_MATRIX_X4,
                LibraryFunction.LOAD_MATRIX_X4_TRANS, LibraryFunction.ASYNC_COPY_16, LibraryFunction.ASYNC_COMMIT, LibraryFunction.ASYNC_WAIT);
        return kernel("t_shared", g() + "int* in, " + g() + "int* out")
                + library.kernelPrologue(used, 64)
                + "    " + local() + "int tile[256];\n"
                + "    int l = " + lid() + ";\n"
                + "    int r[4];\n"
                + "    int j;\n"
                + "    sp_async_copy16(tile + 4 * l, in + 4 * l, l % 5);\n"
                + "    sp_async_commit();\n"
                + "    sp_async_wait(0);\n"
                + "    " + barrier() + "\n"
                + "    sp_ldmatrix_x4(tile + 4 + 64 * (l >> 5), 8, 32, 4, r, sp_scratch, sp_llid);\n"
                + "    for (j = 0; j < 4; j++) { out[4 * l + j] = r[j]; }\n"
                + "    sp_ldmatrix_x4_trans(tile + 4 + 64 * (l >> 5), 8, 32, 4, r, sp_scratch, sp_llid);\n"
                + "    for (j = 0; j < 4; j++) { out[256 + 4 * l + j] = r[j]; }\n"
                + "}\n";
    }
}
