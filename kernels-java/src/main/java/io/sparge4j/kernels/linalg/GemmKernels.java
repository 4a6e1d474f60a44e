package io.sparge4j.kernels.linalg;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

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
    /** k elements per tile of the pair kernels. */
    private static final int PAIR_BK = 32;
    /** Ints (k pairs) per row of a pair-kernel tile. */
    private static final int PAIR_KP = PAIR_BK / 2;
    /**
     * Row stride in ints of the pair kernels' local tiles: 8 ints of padding put a half-warp's four rows of 64-bit
     * fragment loads on all 32 banks.
     */
    private static final int PAIR_LD = PAIR_KP + 8;
    /** One operand's tile in ints; local memory holds two per operand (double buffering). */
    private static final int PAIR_TILE = BLOCK * PAIR_LD;
    /** Rows of a tile one pass of the work-group loads: 16 work-items per row of 16 ints. */
    private static final int PAIR_ROWS_PER_PASS = MMA_GROUP_SIZE / PAIR_KP;
    /** Ints each work-item loads per operand and tile. */
    private static final int PAIR_LOADS = BLOCK / PAIR_ROWS_PER_PASS;
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

    /**
     * {@link #mmaGemmBF16} reading both operands as pairs of bf16 in 32-bit words: {@code a} and {@code bt} are
     * int views of the bf16 matrices (e.g. {@code IntArray.fromSegmentShallow(bf16.getSegment())}), element
     * {@code 2p} in the low half of int {@code p}, so {@code k} must be even (for odd {@code k} use
     * {@link #mmaGemmBF16}). Whole tiles inside the matrices load without bounds checks; the next k-tile is
     * fetched into registers while the tensor cores work on the current one (two local buffers, one barrier per
     * tile). Grid as {@link #mmaGemmBF16}: 256x1 work-groups over {@code (ceil(n / 128) * 256, ceil(m / 128))}.
     *
     * @param ctx the work-item
     * @param a A as int pairs, row-major m x k/2
     * @param bt B transposed as int pairs, row-major n x k/2
     * @param c C (m x n, f32), written
     * @param m rows of A and C
     * @param n rows of Bt, columns of C
     * @param k the reduction length in bf16 elements, even
     */
    public static void mmaGemmBF16Pairs(KernelContext ctx, IntArray a, IntArray bt, FloatArray c, int m, int n,
            int k) {
        int[] as = ctx.allocateIntLocalArray(2 * PAIR_TILE);
        int[] bs = ctx.allocateIntLocalArray(2 * PAIR_TILE);
        float[] acc = new float[WARP_M_TILES * WARP_N_TILES * KernelContext.MMA_C_FRAGMENT];
        short[] af = new short[WARP_M_TILES * KernelContext.MMA_A_FRAGMENT];
        short[] bf = new short[WARP_N_TILES * KernelContext.MMA_B_FRAGMENT];
        int[] ra = new int[PAIR_LOADS];
        int[] rb = new int[PAIR_LOADS];
        mmaGemmPairs(ctx, as, bs, acc, af, bf, ra, rb, a, bt, c, m, n, k, true);
    }

    /**
     * As {@link #mmaGemmBF16Pairs} with f16 operands (int views of f16 matrices); for odd {@code k} use
     * {@link #mmaGemmF16}.
     *
     * @param ctx the work-item
     * @param a A as int pairs, row-major m x k/2
     * @param bt B transposed as int pairs, row-major n x k/2
     * @param c C (m x n, f32), written
     * @param m rows of A and C
     * @param n rows of Bt, columns of C
     * @param k the reduction length in f16 elements, even
     */
    public static void mmaGemmF16Pairs(KernelContext ctx, IntArray a, IntArray bt, FloatArray c, int m, int n,
            int k) {
        int[] as = ctx.allocateIntLocalArray(2 * PAIR_TILE);
        int[] bs = ctx.allocateIntLocalArray(2 * PAIR_TILE);
        float[] acc = new float[WARP_M_TILES * WARP_N_TILES * KernelContext.MMA_C_FRAGMENT];
        short[] af = new short[WARP_M_TILES * KernelContext.MMA_A_FRAGMENT];
        short[] bf = new short[WARP_N_TILES * KernelContext.MMA_B_FRAGMENT];
        int[] ra = new int[PAIR_LOADS];
        int[] rb = new int[PAIR_LOADS];
        mmaGemmPairs(ctx, as, bs, acc, af, bf, ra, rb, a, bt, c, m, n, k, false);
    }

    /** The pair kernels' body: double-buffered local tiles, register prefetch of the next k-tile. */
    private static void mmaGemmPairs(KernelContext ctx, int[] as, int[] bs, float[] acc, short[] af, short[] bf,
            int[] ra, int[] rb, IntArray a, IntArray bt, FloatArray c, int m, int n, int k, boolean bf16) {
        int tid = ctx.localIdx;
        int warp = tid >> 5;
        int lane = tid & 31;
        int g = lane >> 2;
        int tq = lane & 3;
        int warpRow = (warp >> 1) * 32;
        int warpCol = (warp & 1) * 64;
        int rowBase = ctx.groupIdy * BLOCK;
        int colBase = ctx.groupIdx * BLOCK;
        int kp = k >> 1;
        int loadRow = tid / PAIR_KP;
        int loadCol = tid % PAIR_KP;
        int storeAt = loadRow * PAIR_LD + interleavePairs(loadCol);
        // this lane's fragment origins; pairs t and t + 4 are adjacent (interleavePairs), so each fragment row
        // is one 64-bit load
        int aFragment = (warpRow + g) * PAIR_LD + 2 * tq;
        int bFragment = (warpCol + g) * PAIR_LD + 2 * tq;
        loadPairs(a, ra, rowBase + loadRow, m, kp, loadCol, rowBase + BLOCK <= m && PAIR_KP <= kp);
        loadPairs(bt, rb, colBase + loadRow, n, kp, loadCol, colBase + BLOCK <= n && PAIR_KP <= kp);
        storePairs(as, ra, storeAt);
        storePairs(bs, rb, storeAt);
        ctx.localBarrier();
        for (int tp = 0; tp < kp; tp += PAIR_KP) {
            int next = tp + PAIR_KP;
            // derived from tp (not toggled) so the compiler sees fragment indices are even: 64-bit local loads
            int cur = (tp / PAIR_KP & 1) * PAIR_TILE;
            if (next < kp) {
                // issued now, consumed after the MMAs: the loads' latency hides behind the tensor-core work
                loadPairs(a, ra, rowBase + loadRow, m, kp, next + loadCol,
                        rowBase + BLOCK <= m && next + PAIR_KP <= kp);
                loadPairs(bt, rb, colBase + loadRow, n, kp, next + loadCol,
                        colBase + BLOCK <= n && next + PAIR_KP <= kp);
            }
            for (int ks = 0; ks < PAIR_KP; ks += 8) {
                for (int i = 0; i < WARP_M_TILES; i++) {
                    int at = cur + aFragment + i * 16 * PAIR_LD + ks;
                    int f = i * KernelContext.MMA_A_FRAGMENT;
                    splitPair(as[at], af, f);
                    splitPair(as[at + 8 * PAIR_LD], af, f + 2);
                    splitPair(as[at + 1], af, f + 4);
                    splitPair(as[at + 8 * PAIR_LD + 1], af, f + 6);
                }
                for (int j = 0; j < WARP_N_TILES; j++) {
                    int at = cur + bFragment + j * 8 * PAIR_LD + ks;
                    int f = j * KernelContext.MMA_B_FRAGMENT;
                    splitPair(bs[at], bf, f);
                    splitPair(bs[at + 1], bf, f + 2);
                }
                for (int i = 0; i < WARP_M_TILES; i++) {
                    for (int j = 0; j < WARP_N_TILES; j++) {
                        int fa = i * KernelContext.MMA_A_FRAGMENT;
                        int fb = j * KernelContext.MMA_B_FRAGMENT;
                        int fc = (i * WARP_N_TILES + j) * KernelContext.MMA_C_FRAGMENT;
                        if (bf16) {
                            ctx.mmaBF16(af, fa, bf, fb, acc, fc);
                        } else {
                            ctx.mmaF16(af, fa, bf, fb, acc, fc);
                        }
                    }
                }
            }
            if (next < kp) {
                // the other buffer was last read before the previous barrier
                storePairs(as, ra, PAIR_TILE - cur + storeAt);
                storePairs(bs, rb, PAIR_TILE - cur + storeAt);
            }
            ctx.localBarrier();
        }
        storeAccumulators(ctx, acc, c, m, n, rowBase + warpRow, colBase + warpCol);
    }

    /**
     * Loads one operand's share of a k-tile of int pairs into registers: rows {@code row0 + 16 * e}, int column
     * {@code col}; without checks when the whole tile is inside ({@code inside}), else zero outside.
     */
    private static void loadPairs(IntArray src, int[] regs, int row0, int rows, int kp, int col, boolean inside) {
        if (inside) {
            for (int e = 0; e < PAIR_LOADS; e++) {
                regs[e] = src.get((row0 + e * PAIR_ROWS_PER_PASS) * kp + col);
            }
        } else {
            for (int e = 0; e < PAIR_LOADS; e++) {
                int row = row0 + e * PAIR_ROWS_PER_PASS;
                regs[e] = row < rows && col < kp ? src.get(row * kp + col) : 0;
            }
        }
    }

    /**
     * Where k pair {@code p} of a tile row sits: within each group of 8 pairs (16 k) the order is 0 4 1 5 2 6 3 7,
     * so the pairs t and t + 4 that an MMA fragment takes lie side by side.
     */
    private static int interleavePairs(int p) {
        return (p & ~7) | ((p & 3) << 1) | ((p >> 2) & 1);
    }

    /** Stores a work-item's loaded ints into a local tile from {@code at}, 16 rows apart. */
    private static void storePairs(int[] tile, int[] regs, int at) {
        for (int e = 0; e < PAIR_LOADS; e++) {
            tile[at + e * PAIR_ROWS_PER_PASS * PAIR_LD] = regs[e];
        }
    }

    /** Splits two packed 16-bit values into fragment elements {@code at} (low half) and {@code at + 1}. */
    private static void splitPair(int pair, short[] fragment, int at) {
        fragment[at] = (short) pair;
        fragment[at + 1] = (short) (pair >>> 16);
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
