package io.sparge4j.kernels.linalg;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;

/**
 * Matrix multiplies written for GPUs: a register-blocked f32 GEMM (CUDA cores) and tensor-core GEMMs in f16 and
 * bf16 with f32 accumulation. Row-major, any sizes (edges are guarded). Grids: {@link #sgemm} takes 16x16
 * work-groups over a grid of {@code (ceil(n / 128) * 16, ceil(m / 128) * 16)}; the MMA GEMMs take 256x1
 * work-groups over {@code (ceil(n / 128) * 256, ceil(m / 128))}.
 */
public final class GemmKernels {
    /** Rows and columns of C per work-group. */
    public static final int BLOCK = 128;
    /** Work-group edge of {@link #sgemm}. */
    public static final int SGEMM_GROUP_EDGE = 16;
    /** Work-group size of the MMA GEMMs: eight warps. */
    public static final int MMA_GROUP_SIZE = 256;

    private static final int SGEMM_BK = 8;
    private static final int SGEMM_THREAD_TILE = 8;
    private static final int MMA_BK = 32;
    /** Row stride of the MMA kernels' local tiles: 8 elements of padding keep fragment loads free of bank conflicts. */
    private static final int MMA_LDS = MMA_BK + 8;
    private static final int WARP_M_TILES = 2;
    private static final int WARP_N_TILES = 8;

    private GemmKernels() {
    }

    /**
     * {@code C (m x n) = A (m x k) * B (k x n)} in f32. Each work-item computes an 8x8 block of C from registers;
     * A's tile is kept transposed in local memory so both operands are read as contiguous runs.
     *
     * @param ctx the work-item
     * @param a A, row-major
     * @param b B, row-major
     * @param c C, written
     * @param m rows of A and C
     * @param n columns of B and C
     * @param k columns of A, rows of B
     */
    public static void sgemm(KernelContext ctx, FloatArray a, FloatArray b, FloatArray c, int m, int n, int k) {
        float[] as = ctx.allocateFloatLocalArray(SGEMM_BK * BLOCK);
        float[] bs = ctx.allocateFloatLocalArray(SGEMM_BK * BLOCK);
        float[] acc = new float[SGEMM_THREAD_TILE * SGEMM_THREAD_TILE];
        float[] ra = new float[SGEMM_THREAD_TILE];
        float[] rb = new float[SGEMM_THREAD_TILE];
        int tx = ctx.localIdx;
        int ty = ctx.localIdy;
        int tid = ty * SGEMM_GROUP_EDGE + tx;
        int rowBase = ctx.groupIdy * BLOCK;
        int colBase = ctx.groupIdx * BLOCK;
        for (int t = 0; t < k; t += SGEMM_BK) {
            for (int e = 0; e < 4; e++) {
                int r = tid >> 1;
                int kk = (tid & 1) * 4 + e;
                int row = rowBase + r;
                int col = t + kk;
                as[kk * BLOCK + r] = row < m && col < k ? a.get(row * k + col) : 0f;
            }
            for (int e = 0; e < 4; e++) {
                int kk = tid >> 5;
                int cc = (tid & 31) * 4 + e;
                int row = t + kk;
                int col = colBase + cc;
                bs[kk * BLOCK + cc] = row < k && col < n ? b.get(row * n + col) : 0f;
            }
            ctx.localBarrier();
            for (int kk = 0; kk < SGEMM_BK; kk++) {
                for (int i = 0; i < SGEMM_THREAD_TILE; i++) {
                    ra[i] = as[kk * BLOCK + ty * SGEMM_THREAD_TILE + i];
                }
                for (int j = 0; j < SGEMM_THREAD_TILE; j++) {
                    rb[j] = bs[kk * BLOCK + tx * SGEMM_THREAD_TILE + j];
                }
                for (int i = 0; i < SGEMM_THREAD_TILE; i++) {
                    for (int j = 0; j < SGEMM_THREAD_TILE; j++) {
                        acc[i * SGEMM_THREAD_TILE + j] = KernelMath.fma(ra[i], rb[j], acc[i * SGEMM_THREAD_TILE + j]);
                    }
                }
            }
            ctx.localBarrier();
        }
        for (int i = 0; i < SGEMM_THREAD_TILE; i++) {
            int row = rowBase + ty * SGEMM_THREAD_TILE + i;
            for (int j = 0; j < SGEMM_THREAD_TILE; j++) {
                int col = colBase + tx * SGEMM_THREAD_TILE + j;
                if (row < m && col < n) {
                    c.set(row * n + col, acc[i * SGEMM_THREAD_TILE + j]);
                }
            }
        }
    }

    /**
     * {@code C (m x n, f32) = A (m x k, bf16) * Bt (n x k, bf16)^T} on tensor cores, as a linear layer
     * {@code x W^T} multiplies: both operands are read along k. Eight warps per work-group, each owning a 32x64
     * block of C as 2x8 accumulator fragments.
     *
     * @param ctx the work-item
     * @param a A, row-major m x k
     * @param bt B transposed, row-major n x k
     * @param c C, written
     * @param m rows of A and C
     * @param n rows of Bt, columns of C
     * @param k the reduction length
     */
    public static void mmaGemmBF16(KernelContext ctx, BFloat16Array a, BFloat16Array bt, FloatArray c, int m, int n,
            int k) {
        short[] as = ctx.allocateBFloat16LocalArray(BLOCK * MMA_LDS);
        short[] bs = ctx.allocateBFloat16LocalArray(BLOCK * MMA_LDS);
        float[] acc = new float[WARP_M_TILES * WARP_N_TILES * KernelContext.MMA_C_FRAGMENT];
        short[] af = new short[WARP_M_TILES * KernelContext.MMA_A_FRAGMENT];
        short[] bf = new short[WARP_N_TILES * KernelContext.MMA_B_FRAGMENT];
        int tid = ctx.localIdx;
        int warp = tid >> 5;
        int warpRow = (warp >> 1) * 32;
        int warpCol = (warp & 1) * 64;
        int rowBase = ctx.groupIdy * BLOCK;
        int colBase = ctx.groupIdx * BLOCK;
        for (int t = 0; t < k; t += MMA_BK) {
            for (int e = tid; e < BLOCK * MMA_BK; e += MMA_GROUP_SIZE) {
                int r = e >> 5;
                int kk = e & 31;
                as[r * MMA_LDS + kk] = rowBase + r < m && t + kk < k ? a.getHalfBits((rowBase + r) * k + t + kk) : 0;
                bs[r * MMA_LDS + kk] = colBase + r < n && t + kk < k ? bt.getHalfBits((colBase + r) * k + t + kk) : 0;
            }
            ctx.localBarrier();
            for (int kk = 0; kk < MMA_BK; kk += 16) {
                for (int i = 0; i < WARP_M_TILES; i++) {
                    ctx.mmaLoadA(as, (warpRow + i * 16) * MMA_LDS + kk, MMA_LDS, af, i * KernelContext.MMA_A_FRAGMENT);
                }
                for (int j = 0; j < WARP_N_TILES; j++) {
                    ctx.mmaLoadBTransposed(bs, (warpCol + j * 8) * MMA_LDS + kk, MMA_LDS, bf,
                            j * KernelContext.MMA_B_FRAGMENT);
                }
                for (int i = 0; i < WARP_M_TILES; i++) {
                    for (int j = 0; j < WARP_N_TILES; j++) {
                        ctx.mmaBF16(af, i * KernelContext.MMA_A_FRAGMENT, bf, j * KernelContext.MMA_B_FRAGMENT, acc,
                                (i * WARP_N_TILES + j) * KernelContext.MMA_C_FRAGMENT);
                    }
                }
            }
            ctx.localBarrier();
        }
        storeAccumulators(ctx, acc, c, m, n, rowBase + warpRow, colBase + warpCol);
    }

    /**
     * As {@link #mmaGemmBF16} with f16 operands.
     *
     * @param ctx the work-item
     * @param a A, row-major m x k
     * @param bt B transposed, row-major n x k
     * @param c C, written
     * @param m rows of A and C
     * @param n rows of Bt, columns of C
     * @param k the reduction length
     */
    public static void mmaGemmF16(KernelContext ctx, HalfFloatArray a, HalfFloatArray bt, FloatArray c, int m, int n,
            int k) {
        short[] as = ctx.allocateHalfFloatLocalArray(BLOCK * MMA_LDS);
        short[] bs = ctx.allocateHalfFloatLocalArray(BLOCK * MMA_LDS);
        float[] acc = new float[WARP_M_TILES * WARP_N_TILES * KernelContext.MMA_C_FRAGMENT];
        short[] af = new short[WARP_M_TILES * KernelContext.MMA_A_FRAGMENT];
        short[] bf = new short[WARP_N_TILES * KernelContext.MMA_B_FRAGMENT];
        int tid = ctx.localIdx;
        int warp = tid >> 5;
        int warpRow = (warp >> 1) * 32;
        int warpCol = (warp & 1) * 64;
        int rowBase = ctx.groupIdy * BLOCK;
        int colBase = ctx.groupIdx * BLOCK;
        for (int t = 0; t < k; t += MMA_BK) {
            for (int e = tid; e < BLOCK * MMA_BK; e += MMA_GROUP_SIZE) {
                int r = e >> 5;
                int kk = e & 31;
                as[r * MMA_LDS + kk] = rowBase + r < m && t + kk < k ? a.getHalfBits((rowBase + r) * k + t + kk) : 0;
                bs[r * MMA_LDS + kk] = colBase + r < n && t + kk < k ? bt.getHalfBits((colBase + r) * k + t + kk) : 0;
            }
            ctx.localBarrier();
            for (int kk = 0; kk < MMA_BK; kk += 16) {
                for (int i = 0; i < WARP_M_TILES; i++) {
                    ctx.mmaLoadA(as, (warpRow + i * 16) * MMA_LDS + kk, MMA_LDS, af, i * KernelContext.MMA_A_FRAGMENT);
                }
                for (int j = 0; j < WARP_N_TILES; j++) {
                    ctx.mmaLoadBTransposed(bs, (warpCol + j * 8) * MMA_LDS + kk, MMA_LDS, bf,
                            j * KernelContext.MMA_B_FRAGMENT);
                }
                for (int i = 0; i < WARP_M_TILES; i++) {
                    for (int j = 0; j < WARP_N_TILES; j++) {
                        ctx.mmaF16(af, i * KernelContext.MMA_A_FRAGMENT, bf, j * KernelContext.MMA_B_FRAGMENT, acc,
                                (i * WARP_N_TILES + j) * KernelContext.MMA_C_FRAGMENT);
                    }
                }
            }
            ctx.localBarrier();
        }
        storeAccumulators(ctx, acc, c, m, n, rowBase + warpRow, colBase + warpCol);
    }

    /** Writes a warp's 2x8 accumulator fragments to C at (row0, col0), guarding the edges. */
    private static void storeAccumulators(KernelContext ctx, float[] acc, FloatArray c, int m, int n, int row0,
            int col0) {
        int lane = ctx.simdLaneId();
        int g = lane >> 2;
        int t = lane & 3;
        for (int i = 0; i < WARP_M_TILES; i++) {
            for (int j = 0; j < WARP_N_TILES; j++) {
                for (int e = 0; e < KernelContext.MMA_C_FRAGMENT; e++) {
                    int row = row0 + i * 16 + g + 8 * (e >> 1);
                    int col = col0 + j * 8 + 2 * t + (e & 1);
                    if (row < m && col < n) {
                        c.set(row * n + col, acc[(i * WARP_N_TILES + j) * KernelContext.MMA_C_FRAGMENT + e]);
                    }
                }
            }
        }
    }
}
