package io.sparge4j.engine.jit.lib;

import io.sparge4j.engine.compute.Dialect;

/**
 * The dialect's spelling of what library sources need (qualifiers, barriers, bit casts) and which native paths
 * the device allows, so that one C template serves CUDA and OpenCL.
 *
 * @param dialect the generated language
 * @param nativeWarps 32-wide warp shuffles are used (CUDA with sub-groups); else sub-groups go through local memory
 * @param nativeMma tensor-core {@code mma.sync}, {@code ldmatrix} and {@code cp.async} are used (CUDA sm_80+, where
 *     the runtime reports tensor-core MMA); else FMA, plain local loads and synchronous copies
 */
record CTarget(Dialect dialect, boolean nativeWarps, boolean nativeMma) {
    /** Sub-group width of every path: CUDA warps, and the emulated sub-groups of the fallback. */
    static final int WIDTH = 32;

    boolean cuda() {
        return dialect == Dialect.CUDA;
    }

    /** @return the declaration prefix of a library function */
    String fn() {
        return cuda() ? "static __device__ __forceinline__ " : "";
    }

    /** @return the qualifier of a local (shared) pointer */
    String local() {
        return cuda() ? "" : "__local ";
    }

    /** @return the qualifier of a global pointer */
    String global() {
        return cuda() ? "" : "__global ";
    }

    /** @return a statement waiting for every work-item of the group, local memory visible */
    String groupBarrier() {
        return cuda() ? "__syncthreads();" : "barrier(CLK_LOCAL_MEM_FENCE);";
    }

    /**
     * @return a statement waiting for the 32 work-items of one (emulated) sub-group, local memory visible: the
     *     warp alone with native warps, else the whole group
     */
    String subGroupBarrier() {
        return nativeWarps ? "__syncwarp();" : groupBarrier();
    }

    /** @return the C expression reinterpreting the unsigned int {@code e} as a float */
    String uintAsFloat(String e) {
        return (cuda() ? "__uint_as_float(" : "as_float(") + e + ")";
    }

    /** @return the C expression reinterpreting the float {@code e} as an unsigned int */
    String floatAsUint(String e) {
        return (cuda() ? "__float_as_uint(" : "as_uint(") + e + ")";
    }

    /** @return the C expression of the work-group's size in work-items */
    String groupSize() {
        return cuda() ? "(int)(blockDim.x * blockDim.y * blockDim.z)"
                : "(int)(get_local_size(0) * get_local_size(1) * get_local_size(2))";
    }
}
