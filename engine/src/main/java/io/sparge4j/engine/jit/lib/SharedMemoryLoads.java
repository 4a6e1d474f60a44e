package io.sparge4j.engine.jit.lib;

/**
 * C definitions of the operations that feed tensor cores from shared memory: the warp-collective matrix load
 * ({@code KernelContext.mmaLoadMatrixX4}, PTX {@code ldmatrix}) and asynchronous global-to-local copies
 * ({@code asyncCopy16}, {@code asyncCommit}, {@code asyncWait}, PTX {@code cp.async}). Native on CUDA devices with
 * tensor-core MMA (sm_80+, which has both); elsewhere the load reads the same ints with plain local loads, each
 * lane computing its own addresses from the (sub-group uniform) arguments, and the copies are plain synchronous
 * loads and stores with commit and wait doing nothing. Results are bit-identical on every path.
 */
final class SharedMemoryLoads {
    /** Largest {@code asyncWait} argument passed through as an immediate; larger ones wait for everything. */
    static final int MAX_WAIT_IMMEDIATE = 7;

    private SharedMemoryLoads() {
    }

    /**
     * {@code void sp_ldmatrix_x4(LOCAL int* tile, int ld, int step1, int step2, int* dst, LOCAL float* sp_scratch,
     * int sp_llid)}: {@code tile} already offset to matrix 0's row 0.
     */
    static String loadMatrixX4(CTarget t) {
        String head = t.fn() + "void sp_ldmatrix_x4(" + t.local() + "int* tile, int ld, int step1, int step2, "
                + "int* dst, " + t.local() + "float* sp_scratch, int sp_llid) {\n"
                + "    int lane = sp_llid & 31;\n";
        if (t.nativeMma()) {
            // lane 8 j + r gives row r of matrix j; ldmatrix returns each lane's share of all four
            return head
                    + "    " + t.local() + "int* row = tile + (lane & 7) * ld + ((lane >> 3) & 1) * step1"
                    + " + (lane >> 4) * step2;\n"
                    + "    unsigned int address = (unsigned int)__cvta_generic_to_shared(row);\n"
                    + "    asm volatile(\"ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\"\n"
                    + "        : \"=r\"(dst[0]), \"=r\"(dst[1]), \"=r\"(dst[2]), \"=r\"(dst[3])\n"
                    + "        : \"r\"(address)\n"
                    + "        : \"memory\");\n"
                    + "}\n";
        }
        return head
                + "    int at = (lane >> 2) * ld + (lane & 3);\n"
                + "    dst[0] = tile[at];\n"
                + "    dst[1] = tile[at + step1];\n"
                + "    dst[2] = tile[at + step2];\n"
                + "    dst[3] = tile[at + step1 + step2];\n"
                + "}\n";
    }

    /**
     * {@code void sp_ldmatrix_x4_trans(LOCAL int* tile, int ld, int step1, int step2, int* dst, LOCAL float*
     * sp_scratch, int sp_llid)}: as {@link #loadMatrixX4} with each matrix transposed; the fallback picks lane l's
     * halves (column l / 4 of rows 2 (l % 4) and 2 (l % 4) + 1) with plain loads.
     */
    static String loadMatrixX4Trans(CTarget t) {
        String head = t.fn() + "void sp_ldmatrix_x4_trans(" + t.local() + "int* tile, int ld, int step1, int step2, "
                + "int* dst, " + t.local() + "float* sp_scratch, int sp_llid) {\n"
                + "    int lane = sp_llid & 31;\n";
        if (t.nativeMma()) {
            return head
                    + "    " + t.local() + "int* row = tile + (lane & 7) * ld + ((lane >> 3) & 1) * step1"
                    + " + (lane >> 4) * step2;\n"
                    + "    unsigned int address = (unsigned int)__cvta_generic_to_shared(row);\n"
                    + "    asm volatile(\"ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\"\n"
                    + "        : \"=r\"(dst[0]), \"=r\"(dst[1]), \"=r\"(dst[2]), \"=r\"(dst[3])\n"
                    + "        : \"r\"(address)\n"
                    + "        : \"memory\");\n"
                    + "}\n";
        }
        return head
                + "    int column = lane >> 2;\n"
                + "    int shift = 16 * (column & 1);\n"
                + "    int at = 2 * (lane & 3) * ld + (column >> 1);\n"
                + "    int j;\n"
                + "    for (j = 0; j < 4; j++) {\n"
                + "        int base = at + (j & 1) * step1 + (j >> 1) * step2;\n"
                + "        unsigned int lo = ((unsigned int)tile[base] >> shift) & 0xffffu;\n"
                + "        unsigned int hi = ((unsigned int)tile[base + ld] >> shift) & 0xffffu;\n"
                + "        dst[j] = (int)(lo | (hi << 16));\n"
                + "    }\n"
                + "}\n";
    }

    /** {@code void sp_async_copy16(LOCAL int* dst, GLOBAL int* src, int validInts)}: pointers already offset. */
    static String copy16(CTarget t) {
        String head = t.fn() + "void sp_async_copy16(" + t.local() + "int* dst, " + t.global()
                + "int* src, int validInts) {\n";
        if (t.nativeMma()) {
            // src-size below 16 zero-fills the rest; with 0 nothing is read
            return head
                    + "    unsigned int address = (unsigned int)__cvta_generic_to_shared(dst);\n"
                    + "    asm volatile(\"cp.async.cg.shared.global [%0], [%1], 16, %2;\"\n"
                    + "        :: \"r\"(address), \"l\"(src), \"r\"(validInts * 4) : \"memory\");\n"
                    + "}\n";
        }
        return head
                + "    int e;\n"
                + "    for (e = 0; e < 4; e++) {\n"
                + "        dst[e] = e < validInts ? src[e] : 0;\n"
                + "    }\n"
                + "}\n";
    }

    /** {@code void sp_async_commit(void)}. */
    static String commit(CTarget t) {
        return t.fn() + "void sp_async_commit(void) {\n"
                + (t.nativeMma() ? "    asm volatile(\"cp.async.commit_group;\" ::: \"memory\");\n"
                        : "    /* copies were synchronous */\n")
                + "}\n";
    }

    /**
     * {@code void sp_async_wait(int pending)}: PTX needs an immediate, so a switch over the small counts, which
     * folds away when the call is inlined with a constant.
     */
    static String waitGroups(CTarget t) {
        String head = t.fn() + "void sp_async_wait(int pending) {\n";
        if (!t.nativeMma()) {
            return head + "    /* copies were synchronous */\n}\n";
        }
        StringBuilder s = new StringBuilder(head).append("    switch (pending) {\n");
        for (int n = 1; n <= MAX_WAIT_IMMEDIATE; n++) {
            s.append("    case ").append(n).append(": asm volatile(\"cp.async.wait_group ").append(n)
                    .append(";\" ::: \"memory\"); break;\n");
        }
        // 0, and anything beyond the immediates (waiting for more than asked is always correct)
        return s.append("    default: asm volatile(\"cp.async.wait_group 0;\" ::: \"memory\"); break;\n")
                .append("    }\n")
                .append("}\n").toString();
    }
}
