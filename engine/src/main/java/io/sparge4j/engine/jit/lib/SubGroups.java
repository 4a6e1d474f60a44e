package io.sparge4j.engine.jit.lib;

/**
 * C definitions of the sub-group operations over 32-wide sub-groups of consecutive linear local ids (the last
 * one of a group may be smaller). Native: CUDA warp shuffles, the sum gathering every lane and adding in lane
 * order from 0 as the emulator does, so results are bit-identical to it. Fallback: each work-item publishes its
 * value in {@code sp_scratch[sp_llid]} between two barriers; with a group barrier (no native warps) every
 * work-item of the group must reach the call.
 */
final class SubGroups {
    private SubGroups() {
    }

    /** Internal {@code int sp_lib_subgroup_lanes(int sp_llid)}: work-items in the caller's sub-group. */
    static String lanes(CTarget t) {
        return t.fn() + "int sp_lib_subgroup_lanes(int sp_llid) {\n"
                + "    int n = " + t.groupSize() + " - (sp_llid & ~31);\n"
                + "    return n < 32 ? n : 32;\n"
                + "}\n";
    }

    /** Internal {@code unsigned int sp_lib_warp_mask(int lanes)}: CUDA only. */
    static String warpMask(CTarget t) {
        return t.fn() + "unsigned int sp_lib_warp_mask(int lanes) {\n"
                + "    return lanes >= 32 ? 0xffffffffu : ((1u << lanes) - 1u);\n"
                + "}\n";
    }

    /** {@code float sp_simd_sum(float v, LOCAL float* sp_scratch, int sp_llid)}. */
    static String sum(CTarget t) {
        String head = t.fn() + "float sp_simd_sum(float v, " + t.local() + "float* sp_scratch, int sp_llid) {\n"
                + "    int lanes = sp_lib_subgroup_lanes(sp_llid);\n"
                + "    float s = 0.0f;\n"
                + "    int i;\n";
        if (t.nativeWarps()) {
            return head
                    + "    if (lanes == 32) {\n"
                    + "#pragma unroll\n"
                    + "        for (i = 0; i < 32; i++) {\n"
                    + "            s += __shfl_sync(0xffffffffu, v, i);\n"
                    + "        }\n"
                    + "    } else {\n"
                    + "        unsigned int mask = sp_lib_warp_mask(lanes);\n"
                    + "        for (i = 0; i < lanes; i++) {\n"
                    + "            s += __shfl_sync(mask, v, i);\n"
                    + "        }\n"
                    + "    }\n"
                    + "    return s;\n"
                    + "}\n";
        }
        return head
                + "    int base = sp_llid & ~31;\n"
                + "    sp_scratch[sp_llid] = v;\n"
                + "    " + t.subGroupBarrier() + "\n"
                + "    for (i = 0; i < lanes; i++) {\n"
                + "        s += sp_scratch[base + i];\n"
                + "    }\n"
                + "    " + t.subGroupBarrier() + "\n"
                + "    return s;\n"
                + "}\n";
    }

    /** {@code float sp_simd_shuffle_down(float v, int delta, LOCAL float* sp_scratch, int sp_llid)}. */
    static String shuffleDown(CTarget t) {
        String head = t.fn() + "float sp_simd_shuffle_down(float v, int delta, " + t.local()
                + "float* sp_scratch, int sp_llid) {\n"
                + "    int lanes = sp_lib_subgroup_lanes(sp_llid);\n"
                + "    int lane = sp_llid & 31;\n";
        if (t.nativeWarps()) {
            // PTX uses the offset's low 5 bits only: lanes without a partner keep v by the test, not by shfl.
            return head
                    + "    float o = __shfl_down_sync(sp_lib_warp_mask(lanes), v, (unsigned int)delta);\n"
                    + "    return (delta >= 0 && delta < lanes - lane) ? o : v;\n"
                    + "}\n";
        }
        return head
                + "    float r = v;\n"
                + "    sp_scratch[sp_llid] = v;\n"
                + "    " + t.subGroupBarrier() + "\n"
                + "    if (delta >= 0 && delta < lanes - lane) {\n"
                + "        r = sp_scratch[sp_llid + delta];\n"
                + "    }\n"
                + "    " + t.subGroupBarrier() + "\n"
                + "    return r;\n"
                + "}\n";
    }

    /**
     * {@code float sp_simd_shuffle_xor(float v, int mask, LOCAL float* sp_scratch, int sp_llid)}: lane
     * {@code lane ^ mask}'s value, or v where that lane is not in the sub-group.
     */
    static String shuffleXor(CTarget t) {
        String head = t.fn() + "float sp_simd_shuffle_xor(float v, int mask, " + t.local()
                + "float* sp_scratch, int sp_llid) {\n"
                + "    int lanes = sp_lib_subgroup_lanes(sp_llid);\n"
                + "    int partner = (sp_llid & 31) ^ mask;\n";
        if (t.nativeWarps()) {
            // PTX uses the mask's low 5 bits only: lanes without a partner keep v by the test, not by shfl.
            return head
                    + "    float o = __shfl_xor_sync(sp_lib_warp_mask(lanes), v, mask);\n"
                    + "    return (mask >= 0 && partner < lanes) ? o : v;\n"
                    + "}\n";
        }
        return head
                + "    float r = v;\n"
                + "    sp_scratch[sp_llid] = v;\n"
                + "    " + t.subGroupBarrier() + "\n"
                + "    if (mask >= 0 && partner < lanes) {\n"
                + "        r = sp_scratch[(sp_llid & ~31) + partner];\n"
                + "    }\n"
                + "    " + t.subGroupBarrier() + "\n"
                + "    return r;\n"
                + "}\n";
    }

    /** {@code float sp_simd_broadcast_first(float v, LOCAL float* sp_scratch, int sp_llid)}. */
    static String broadcastFirst(CTarget t) {
        String head = t.fn() + "float sp_simd_broadcast_first(float v, " + t.local()
                + "float* sp_scratch, int sp_llid) {\n";
        if (t.nativeWarps()) {
            return head
                    + "    return __shfl_sync(sp_lib_warp_mask(sp_lib_subgroup_lanes(sp_llid)), v, 0);\n"
                    + "}\n";
        }
        return head
                + "    float r;\n"
                + "    sp_scratch[sp_llid] = v;\n"
                + "    " + t.subGroupBarrier() + "\n"
                + "    r = sp_scratch[sp_llid & ~31];\n"
                + "    " + t.subGroupBarrier() + "\n"
                + "    return r;\n"
                + "}\n";
    }
}
