package io.sparge4j.engine.jit.lib;

/**
 * The device functions generated kernels call for what differs between dialects and devices. The JIT emits calls
 * with exactly these C signatures; {@link DeviceLibrary} defines them for one dialect and device, natively or
 * through a fallback.
 *
 * <p>{@code GLOBAL}, {@code LOCAL} stand for OpenCL's {@code __global}, {@code __local} (nothing in CUDA); an
 * unqualified pointer is a private (per-work-item) array. Collective functions take the kernel's scratch array
 * {@code sp_scratch} and the work-item's linear local id {@code sp_llid}, both defined by
 * {@link DeviceLibrary#kernelPrologue}; their native forms ignore them.
 */
public enum LibraryFunction {
    /** {@code float sp_half_to_float(short bits)}: exact, as {@code Float.float16ToFloat}. */
    HALF_TO_FLOAT("sp_half_to_float", false),
    /** {@code short sp_float_to_half(float x)}: round to nearest even, as {@code Float.floatToFloat16}. */
    FLOAT_TO_HALF("sp_float_to_half", false),
    /**
     * {@code float sp_exp2_ftz(float x)}: {@code KernelMath.exp2Ftz}, 2^x with results below 2^-126 flushed to zero
     * (PTX {@code ex2.approx.ftz.f32}).
     */
    EXP2_FTZ("sp_exp2_ftz", false),
    /** {@code void sp_atomic_add_gi(GLOBAL int* p, int index, int value)}. */
    ATOMIC_ADD_GLOBAL_INT("sp_atomic_add_gi", false),
    /** {@code void sp_atomic_add_gf(GLOBAL float* p, int index, float value)}: a CAS loop where there is no float atomic. */
    ATOMIC_ADD_GLOBAL_FLOAT("sp_atomic_add_gf", false),
    /** {@code void sp_atomic_add_li(LOCAL int* p, int index, int value)}. */
    ATOMIC_ADD_LOCAL_INT("sp_atomic_add_li", false),
    /** {@code float sp_simd_sum(float v, LOCAL float* sp_scratch, int sp_llid)}: lanes added in lane order. */
    SIMD_SUM("sp_simd_sum", true),
    /** {@code float sp_simd_shuffle_down(float v, int delta, LOCAL float* sp_scratch, int sp_llid)}. */
    SIMD_SHUFFLE_DOWN("sp_simd_shuffle_down", true),
    /** {@code float sp_simd_shuffle_xor(float v, int mask, LOCAL float* sp_scratch, int sp_llid)}. */
    SIMD_SHUFFLE_XOR("sp_simd_shuffle_xor", true),
    /** {@code float sp_simd_broadcast_first(float v, LOCAL float* sp_scratch, int sp_llid)}. */
    SIMD_BROADCAST_FIRST("sp_simd_broadcast_first", true),
    /**
     * {@code void sp_mma_f16(short* a, short* b, float* c, LOCAL float* sp_scratch, int sp_llid)}: fragment-level
     * m16n8k16 in PTX's register layout (see {@code KernelContext.mmaF16}); a, b, c point at this lane's fragments.
     */
    MMA_F16("sp_mma_f16", true),
    /** As {@link #MMA_F16} with bf16 inputs: {@code sp_mma_bf16}. */
    MMA_BF16("sp_mma_bf16", true),
    /**
     * {@code void sp_mma_tile_f16(LOCAL short* a, int lda, LOCAL short* b, int ldb, C float* c, int ldc,
     * LOCAL float* sp_scratch, int sp_llid)}: tile-level {@code KernelContext.mma16x8x16F16} over local tiles
     * (pointers already offset); {@code C} is {@code LOCAL} (the JIT refuses other address spaces).
     */
    MMA_TILE_F16("sp_mma_tile_f16", true),
    /** As {@link #MMA_TILE_F16} with bf16 inputs: {@code sp_mma_tile_bf16}. */
    MMA_TILE_BF16("sp_mma_tile_bf16", true),
    /**
     * {@code void sp_ldmatrix_x4(LOCAL int* tile, int ld, int step1, int step2, int* dst, LOCAL float* sp_scratch,
     * int sp_llid)}: {@code KernelContext.mmaLoadMatrixX4} with {@code tile} offset to matrix 0's row 0 and
     * {@code dst} to this lane's four ints (PTX {@code ldmatrix.sync.aligned.m8n8.x4.shared.b16}).
     */
    LOAD_MATRIX_X4("sp_ldmatrix_x4", true),
    /**
     * As {@link #LOAD_MATRIX_X4} with each matrix transposed ({@code KernelContext.mmaLoadMatrixX4Trans}, PTX
     * {@code ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16}): {@code sp_ldmatrix_x4_trans}.
     */
    LOAD_MATRIX_X4_TRANS("sp_ldmatrix_x4_trans", true),
    /**
     * {@code void sp_async_copy16(LOCAL int* dst, GLOBAL int* src, int validInts)}: {@code KernelContext.asyncCopy16}
     * with both pointers offset (PTX {@code cp.async.cg.shared.global}, 16 bytes).
     */
    ASYNC_COPY_16("sp_async_copy16", false),
    /** {@code void sp_async_commit(void)}: PTX {@code cp.async.commit_group}. */
    ASYNC_COMMIT("sp_async_commit", false),
    /** {@code void sp_async_wait(int pending)}: PTX {@code cp.async.wait_group pending}. */
    ASYNC_WAIT("sp_async_wait", false);

    private final String cName;
    private final boolean collective;

    LibraryFunction(String cName, boolean collective) {
        this.cName = cName;
        this.collective = collective;
    }

    /** @return the function's name in generated C */
    public String cName() {
        return cName;
    }

    /** @return whether it takes {@code sp_scratch, sp_llid} and must be reached by the whole sub-group (or group) */
    public boolean collective() {
        return collective;
    }
}
