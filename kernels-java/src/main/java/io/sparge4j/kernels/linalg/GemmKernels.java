package io.sparge4j.kernels.linalg;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.annotations.Constant;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

import java.util.List;

/**
 * Matrix multiplies written for GPUs: a register-blocked f32 GEMM (CUDA cores) and tensor-core GEMMs in f16 and
 * bf16 with f32 accumulation. Row-major, any sizes (edges are guarded; whole tiles skip the checks). Grids:
 * <ul>
 * <li>{@link #sgemm}: 16x16 work-groups over {@code (ceil(n / 128) * 16, ceil(m / 128) * 16)};</li>
 * <li>the MMA GEMMs {@link #mmaGemmBF16} and {@link #mmaGemmF16} (any k, 16-bit loads): 256x1 work-groups
 * ({@link #MMA_GROUP_SIZE}) over {@code (ceil(n / 128) * 256, ceil(m / 128))};</li>
 * <li>the fast ones, {@link #mmaGemmBF16Pairs} and {@link #mmaGemmF16Pairs} (even k, operands as int views):
 * {@link #PAIR_GROUP_SIZE} x 1 (128) work-groups over {@code (ceil(n / PAIR_BLOCK_N) * PAIR_GROUP_SIZE,
 * ceil(m / PAIR_BLOCK_M))}, blocks of 128x128;</li>
 * <li>{@link #mmaGemmBF16PairsTiled} and {@link #mmaGemmF16PairsTiled}: the pair kernels with their tiling as
 * {@code @Constant}s ({@link PairTiling}, which gives the grid), for timing {@link #PAIR_TILINGS} against each
 * other;</li>
 * <li>{@link #mmaGemmBF16PairsAsync} and {@link #mmaGemmF16PairsAsync}: the pair GEMM fed by a {@code cp.async}
 * pipeline and {@code ldmatrix}, tiled by {@link AsyncPairTiling} ({@link #ASYNC_PAIR_TILINGS}).</li>
 * </ul>
 * {@link PipelinedGemmKernels} holds the same pipeline with fragments double-buffered in registers across k-tiles
 * and rings above 48 KiB; it reuses this class's tile copies, fragment splits and accumulator stores.
 */
public final class GemmKernels {
    /** Rows and columns of C per work-group of {@link #sgemm}, {@link #mmaGemmBF16} and {@link #mmaGemmF16}. */
    public static final int BLOCK = 128;
    /** Work-group edge of {@link #sgemm}. */
    public static final int SGEMM_GROUP_EDGE = 16;
    /** Work-group size of {@link #mmaGemmBF16} and {@link #mmaGemmF16}: eight warps. */
    public static final int MMA_GROUP_SIZE = 256;

    private static final int SGEMM_BK = 8;
    private static final int SGEMM_THREAD_TILE = 8;
    /** A work-item's 8x8 is 2x2 blocks of 4x4, 64 rows and columns apart. */
    private static final int SGEMM_HALF_TILE = SGEMM_THREAD_TILE / 2;
    /** One operand's k-tile: 8 k by 128 rows or columns; local memory holds two per operand. */
    private static final int SGEMM_TILE = SGEMM_BK * BLOCK;
    /** Elements each work-item loads per operand and k-tile. */
    private static final int SGEMM_LOADS = SGEMM_TILE / (SGEMM_GROUP_EDGE * SGEMM_GROUP_EDGE);
    private static final int MMA_BK = 32;
    /** Row stride of the MMA kernels' local tiles: 8 elements of padding keep fragment loads free of bank conflicts. */
    private static final int MMA_LDS = MMA_BK + 8;
    /**
     * The pair kernels' default tiling (see {@link PairTiling}): two warps along m by two along n, each owning 64x64
     * of C as 4x8 accumulator fragments, 32-k tiles, four warps per work-group. On the H200 at 4096^3 (issue 4 run
     * 5) it measured 236.9 TFLOP/s against 209.7 for eight warps of 32x64 (128x128 w4x2), the previous default: a
     * warp's 64x64 uses each Bt fragment for four MMAs instead of two, so fewer local loads per MMA. 242 registers
     * (two work-groups per multiprocessor), 32 KiB of local memory.
     */
    private static final int PAIR_WARPS_M = 2;
    private static final int PAIR_WARPS_N = 2;
    private static final int PAIR_WARP_M_TILES = 4;
    private static final int PAIR_WARP_N_TILES = 8;
    private static final int PAIR_BK = 32;
    /** Work-group size of {@link #mmaGemmBF16Pairs} and {@link #mmaGemmF16Pairs}: four warps. */
    public static final int PAIR_GROUP_SIZE = 32 * PAIR_WARPS_M * PAIR_WARPS_N;
    /** Rows of C per work-group of {@link #mmaGemmBF16Pairs} and {@link #mmaGemmF16Pairs}: 128. */
    public static final int PAIR_BLOCK_M = PAIR_WARPS_M * PAIR_WARP_M_TILES * 16;
    /** Columns of C per work-group of {@link #mmaGemmBF16Pairs} and {@link #mmaGemmF16Pairs}: 128. */
    public static final int PAIR_BLOCK_N = PAIR_WARPS_N * PAIR_WARP_N_TILES * 8;
    /** Local (shared) memory the JIT may give a kernel: CUDA's static limit, also common on OpenCL GPUs. */
    private static final int LOCAL_MEMORY_LIMIT = 48 * 1024;
    private static final int WARP_M_TILES = 2;
    private static final int WARP_N_TILES = 8;

    private GemmKernels() {
    }

    /**
     * {@code C (m x n) = A (m x k) * B (k x n)} in f32. Each work-item computes an 8x8 block of C from registers,
     * as 2x2 blocks of 4x4 that lie 64 rows and columns apart, so a warp's 128-bit local loads are free of bank
     * conflicts. A's tile is kept transposed in local memory so both operands are read as contiguous runs. Two
     * local buffers: the next k-tile is fetched into registers while the current one is multiplied (one barrier
     * per tile), and tiles wholly inside the matrices load without bounds checks.
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
        float[] as = ctx.allocateFloatLocalArray(2 * SGEMM_TILE);
        float[] bs = ctx.allocateFloatLocalArray(2 * SGEMM_TILE);
        float[] acc = new float[SGEMM_THREAD_TILE * SGEMM_THREAD_TILE];
        float[] ra = new float[SGEMM_THREAD_TILE];
        float[] rb = new float[SGEMM_THREAD_TILE];
        float[] pa = new float[SGEMM_LOADS];
        float[] pb = new float[SGEMM_LOADS];
        int tx = ctx.localIdx;
        int ty = ctx.localIdy;
        int tid = ty * SGEMM_GROUP_EDGE + tx;
        int rowBase = ctx.groupIdy * BLOCK;
        int colBase = ctx.groupIdx * BLOCK;
        // A: two work-items per tile row, 4 k each; B: 32 work-items per k row, 4 columns each
        int aRow = tid >> 1;
        int aK = (tid & 1) * SGEMM_LOADS;
        int bK = tid >> 5;
        int bCol = (tid & 31) * SGEMM_LOADS;
        boolean rowsInside = rowBase + BLOCK <= m;
        boolean colsInside = colBase + BLOCK <= n;
        sgemmLoadA(a, pa, rowBase + aRow, m, k, aK, rowsInside && SGEMM_BK <= k);
        sgemmLoadB(b, pb, bK, k, n, colBase + bCol, colsInside && SGEMM_BK <= k);
        sgemmStore(as, pa, aK * BLOCK + aRow, BLOCK);
        sgemmStore(bs, pb, bK * BLOCK + bCol, 1);
        ctx.localBarrier();
        int aFragment = ty * SGEMM_HALF_TILE;
        int bFragment = tx * SGEMM_HALF_TILE;
        for (int t = 0; t < k; t += SGEMM_BK) {
            int next = t + SGEMM_BK;
            // derived from t so the compiler sees 16-byte aligned fragment reads (128-bit local loads)
            int cur = (t / SGEMM_BK & 1) * SGEMM_TILE;
            if (next < k) {
                // issued now, stored after the FMAs: the loads' latency hides behind the arithmetic
                sgemmLoadA(a, pa, rowBase + aRow, m, k, next + aK, rowsInside && next + SGEMM_BK <= k);
                sgemmLoadB(b, pb, next + bK, k, n, colBase + bCol, colsInside && next + SGEMM_BK <= k);
            }
            // two k per trip: the compiler leaves this loop rolled, so the trip overhead is halved by hand
            for (int kk = 0; kk < SGEMM_BK; kk += 2) {
                sgemmStep(as, bs, ra, rb, acc, cur + kk * BLOCK + aFragment, cur + kk * BLOCK + bFragment);
                sgemmStep(as, bs, ra, rb, acc, cur + (kk + 1) * BLOCK + aFragment,
                        cur + (kk + 1) * BLOCK + bFragment);
            }
            if (next < k) {
                // the other buffer was last read before the previous barrier
                sgemmStore(as, pa, SGEMM_TILE - cur + aK * BLOCK + aRow, BLOCK);
                sgemmStore(bs, pb, SGEMM_TILE - cur + bK * BLOCK + bCol, 1);
            }
            ctx.localBarrier();
        }
        sgemmStoreC(acc, c, 0, rowBase, colBase, m, n, tx, ty);
    }

    /**
     * {@code C_z (m x n) = A[k0 .. k1)^T * B[k0 .. k1)} in f32, where A is (k x m) and B (k x n), both row-major, and
     * slice z = {@code groupIdz} covers rows {@code k0 = z * kSlice} to {@code k1 = min(k, k0 + kSlice)} of both;
     * C_z is written at {@code c[z * m * n ..]}. With one slice this is the weight gradient {@code dW = dy^T x}
     * with no transposed copy of dy; with several it is split-K: a long reduction (a batch of clips' tokens) over a
     * small output (a 128 x 128 weight) keeps the whole device busy instead of one work-group, and the caller adds
     * the slices in order. Tiles as {@link #sgemm}; A's k-rows load like B's (consecutive columns of C per row).
     * Grid: {@code (ceil(n / BLOCK) * 16, ceil(m / BLOCK) * 16, slices)} with local size 16 x 16 x 1.
     *
     * @param ctx the work-item
     * @param a A (k x m), row-major
     * @param b B (k x n), row-major
     * @param c the slices' products (slices x m x n), written
     * @param m columns of A, rows of C
     * @param n columns of B and C
     * @param k rows of A and B
     * @param kSlice rows of A and B per slice, a positive multiple of 8
     */
    public static void sgemmTransposedA(KernelContext ctx, FloatArray a, FloatArray b, FloatArray c, int m, int n,
            int k, int kSlice) {
        float[] as = ctx.allocateFloatLocalArray(2 * SGEMM_TILE);
        float[] bs = ctx.allocateFloatLocalArray(2 * SGEMM_TILE);
        float[] acc = new float[SGEMM_THREAD_TILE * SGEMM_THREAD_TILE];
        float[] ra = new float[SGEMM_THREAD_TILE];
        float[] rb = new float[SGEMM_THREAD_TILE];
        float[] pa = new float[SGEMM_LOADS];
        float[] pb = new float[SGEMM_LOADS];
        int tx = ctx.localIdx;
        int ty = ctx.localIdy;
        int tid = ty * SGEMM_GROUP_EDGE + tx;
        int rowBase = ctx.groupIdy * BLOCK;
        int colBase = ctx.groupIdx * BLOCK;
        int k0 = ctx.groupIdz * kSlice;
        int k1 = KernelMath.min(k, k0 + kSlice);
        // both operands: 32 work-items per k row, 4 consecutive columns (of C's rows for A, of C's columns for B)
        int lK = tid >> 5;
        int lCol = (tid & 31) * SGEMM_LOADS;
        boolean rowsInside = rowBase + BLOCK <= m;
        boolean colsInside = colBase + BLOCK <= n;
        sgemmLoadB(a, pa, k0 + lK, k1, m, rowBase + lCol, rowsInside && k0 + SGEMM_BK <= k1);
        sgemmLoadB(b, pb, k0 + lK, k1, n, colBase + lCol, colsInside && k0 + SGEMM_BK <= k1);
        sgemmStore(as, pa, lK * BLOCK + lCol, 1);
        sgemmStore(bs, pb, lK * BLOCK + lCol, 1);
        ctx.localBarrier();
        int aFragment = ty * SGEMM_HALF_TILE;
        int bFragment = tx * SGEMM_HALF_TILE;
        for (int t = k0; t < k1; t += SGEMM_BK) {
            int next = t + SGEMM_BK;
            // derived from t (kSlice is a multiple of SGEMM_BK) so the compiler sees aligned fragment reads
            int cur = ((t - k0) / SGEMM_BK & 1) * SGEMM_TILE;
            if (next < k1) {
                sgemmLoadB(a, pa, next + lK, k1, m, rowBase + lCol, rowsInside && next + SGEMM_BK <= k1);
                sgemmLoadB(b, pb, next + lK, k1, n, colBase + lCol, colsInside && next + SGEMM_BK <= k1);
            }
            for (int kk = 0; kk < SGEMM_BK; kk += 2) {
                sgemmStep(as, bs, ra, rb, acc, cur + kk * BLOCK + aFragment, cur + kk * BLOCK + bFragment);
                sgemmStep(as, bs, ra, rb, acc, cur + (kk + 1) * BLOCK + aFragment,
                        cur + (kk + 1) * BLOCK + bFragment);
            }
            if (next < k1) {
                sgemmStore(as, pa, SGEMM_TILE - cur + lK * BLOCK + lCol, 1);
                sgemmStore(bs, pb, SGEMM_TILE - cur + lK * BLOCK + lCol, 1);
            }
            ctx.localBarrier();
        }
        sgemmStoreC(acc, c, ctx.groupIdz * m * n, rowBase, colBase, m, n, tx, ty);
    }

    /**
     * Writes a work-item's 8x8 accumulators (2x2 blocks of 4x4, 64 rows and columns apart) into C at
     * {@code cBase}, guarding the edges.
     */
    private static void sgemmStoreC(float[] acc, FloatArray c, int cBase, int rowBase, int colBase, int m, int n,
            int tx, int ty) {
        for (int i = 0; i < SGEMM_THREAD_TILE; i++) {
            int row = rowBase + (i / SGEMM_HALF_TILE) * (BLOCK / 2) + ty * SGEMM_HALF_TILE + i % SGEMM_HALF_TILE;
            for (int j = 0; j < SGEMM_THREAD_TILE; j++) {
                int col = colBase + (j / SGEMM_HALF_TILE) * (BLOCK / 2) + tx * SGEMM_HALF_TILE + j % SGEMM_HALF_TILE;
                if (row < m && col < n) {
                    c.set(cBase + row * n + col, acc[i * SGEMM_THREAD_TILE + j]);
                }
            }
        }
    }

    /** One k of the 8x8 outer product: A's fragment from {@code as[aAt ..]}, B's from {@code bs[bAt ..]}. */
    private static void sgemmStep(float[] as, float[] bs, float[] ra, float[] rb, float[] acc, int aAt, int bAt) {
        for (int i = 0; i < SGEMM_HALF_TILE; i++) {
            ra[i] = as[aAt + i];
            ra[SGEMM_HALF_TILE + i] = as[aAt + BLOCK / 2 + i];
            rb[i] = bs[bAt + i];
            rb[SGEMM_HALF_TILE + i] = bs[bAt + BLOCK / 2 + i];
        }
        for (int i = 0; i < SGEMM_THREAD_TILE; i++) {
            for (int j = 0; j < SGEMM_THREAD_TILE; j++) {
                acc[i * SGEMM_THREAD_TILE + j] = KernelMath.fma(ra[i], rb[j], acc[i * SGEMM_THREAD_TILE + j]);
            }
        }
    }

    /** Loads A[row][col .. col + 3] into registers; unchecked when the tile is inside, else zero outside. */
    private static void sgemmLoadA(FloatArray a, float[] regs, int row, int m, int k, int col, boolean inside) {
        if (inside) {
            for (int e = 0; e < SGEMM_LOADS; e++) {
                regs[e] = a.get(row * k + col + e);
            }
        } else {
            for (int e = 0; e < SGEMM_LOADS; e++) {
                regs[e] = row < m && col + e < k ? a.get(row * k + col + e) : 0f;
            }
        }
    }

    /** Loads B[row][col .. col + 3] into registers; unchecked when the tile is inside, else zero outside. */
    private static void sgemmLoadB(FloatArray b, float[] regs, int row, int k, int n, int col, boolean inside) {
        if (inside) {
            for (int e = 0; e < SGEMM_LOADS; e++) {
                regs[e] = b.get(row * n + col + e);
            }
        } else {
            for (int e = 0; e < SGEMM_LOADS; e++) {
                regs[e] = row < k && col + e < n ? b.get(row * n + col + e) : 0f;
            }
        }
    }

    /** Stores loaded registers into a local tile from {@code at}, {@code stride} apart. */
    private static void sgemmStore(float[] tile, float[] regs, int at, int stride) {
        for (int e = 0; e < SGEMM_LOADS; e++) {
            tile[at + e * stride] = regs[e];
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
        storeAccumulators(ctx, acc, WARP_M_TILES, WARP_N_TILES, c, m, n, rowBase + warpRow, colBase + warpCol);
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
        storeAccumulators(ctx, acc, WARP_M_TILES, WARP_N_TILES, c, m, n, rowBase + warpRow, colBase + warpCol);
    }

    /**
     * A tile configuration of the pair MMA GEMMs: {@code warpsM x warpsN} warps per work-group, each owning
     * {@code warpMTiles x warpNTiles} accumulator fragments of 16x8 (so a work-group computes
     * {@link #blockM()} x {@link #blockN()} of C), over k-tiles of {@code bk} elements held twice (double buffering)
     * in local memory. The values are the {@code @Constant}s of {@link #mmaGemmBF16PairsTiled} and
     * {@link #mmaGemmF16PairsTiled}; launch those with work-groups of {@link #groupSize()} x 1 over
     * {@code (ceil(n / blockN) * groupSize, ceil(m / blockM))}.
     *
     * @param warpsM warps along m
     * @param warpsN warps along n
     * @param warpMTiles 16-row accumulator fragments per warp along m
     * @param warpNTiles 8-column accumulator fragments per warp along n
     * @param bk k elements per tile: 16 or 32
     */
    public record PairTiling(int warpsM, int warpsN, int warpMTiles, int warpNTiles, int bk) {
        /**
         * @throws IllegalArgumentException when the work-group cannot load its tiles in whole passes of a power of
         *     two of at least 8 rows (which keep the swizzles and A's row pairing), has more than 1024 work-items,
         *     or needs more than 48 KiB of local memory
         */
        public PairTiling {
            if (warpsM < 1 || warpsN < 1 || warpMTiles < 1 || warpNTiles < 1 || (bk != 16 && bk != 32)) {
                throw new IllegalArgumentException("PairTiling: warpsM " + warpsM + ", warpsN " + warpsN
                        + ", warpMTiles " + warpMTiles + ", warpNTiles " + warpNTiles + ", bk " + bk
                        + ": expected positive counts and bk 16 or 32");
            }
            int group = 32 * warpsM * warpsN;
            int rowsPerPass = group / (bk / 2);
            int blockM = warpsM * warpMTiles * 16;
            int blockN = warpsN * warpNTiles * 8;
            if (group > 1024 || rowsPerPass < 8 || Integer.bitCount(rowsPerPass) != 1 || blockM % rowsPerPass != 0
                    || blockN % rowsPerPass != 0) {
                throw new IllegalArgumentException("PairTiling " + warpsM + "x" + warpsN + " warps of " + warpMTiles
                        + "x" + warpNTiles + " fragments, bk " + bk + ": " + group + " work-items load " + rowsPerPass
                        + " rows per pass, expected at most 1024 work-items and a power of two of at least 8 rows "
                        + "dividing both tiles' rows (" + blockM + " and " + blockN + ")");
            }
            int bytes = 2 * (blockM + blockN) * bk * 2;
            if (bytes > LOCAL_MEMORY_LIMIT) {
                throw new IllegalArgumentException("PairTiling " + blockM + "x" + blockN + ", bk " + bk + " needs "
                        + bytes + " bytes of local memory, expected at most " + LOCAL_MEMORY_LIMIT);
            }
        }

        /** @return rows of C per work-group */
        public int blockM() {
            return warpsM * warpMTiles * 16;
        }

        /** @return columns of C per work-group */
        public int blockN() {
            return warpsN * warpNTiles * 8;
        }

        /** @return work-items per work-group */
        public int groupSize() {
            return 32 * warpsM * warpsN;
        }

        /** @return bytes of local memory the tiles take (two buffers of A's and Bt's, 2 bytes per element) */
        public int localMemoryBytes() {
            return 2 * (blockM() + blockN()) * bk * 2;
        }

        /** @return e.g. {@code 128x128 w4x2 32x64 bk32}: block, warps (m x n), warp tile, k-tile */
        public String label() {
            return blockM() + "x" + blockN() + " w" + warpsM + "x" + warpsN + " " + warpMTiles * 16 + "x"
                    + warpNTiles * 8 + " bk" + bk;
        }
    }

    /** The tiling of {@link #mmaGemmBF16Pairs} and {@link #mmaGemmF16Pairs}. */
    public static final PairTiling DEFAULT_PAIR_TILING = new PairTiling(PAIR_WARPS_M, PAIR_WARPS_N,
            PAIR_WARP_M_TILES, PAIR_WARP_N_TILES, PAIR_BK);

    /**
     * Tilings worth timing against each other (the default first); every one passes the emulator tests and compiles
     * for sm_90 without spills.
     */
    public static final List<PairTiling> PAIR_TILINGS = List.of(
            DEFAULT_PAIR_TILING,
            new PairTiling(4, 2, 2, 8, 32),
            new PairTiling(4, 2, 4, 8, 32),
            new PairTiling(2, 4, 4, 8, 32),
            new PairTiling(4, 2, 2, 8, 16),
            new PairTiling(2, 2, 4, 8, 16),
            new PairTiling(4, 2, 4, 8, 16),
            new PairTiling(2, 4, 4, 8, 16),
            new PairTiling(2, 2, 2, 8, 32),
            new PairTiling(8, 2, 2, 8, 32),
            new PairTiling(4, 4, 2, 8, 32),
            new PairTiling(8, 2, 2, 8, 16),
            new PairTiling(4, 4, 2, 8, 16));

    /**
     * A tile configuration of the asynchronous pair GEMMs ({@link #mmaGemmBF16PairsAsync}, {@link #mmaGemmF16PairsAsync}):
     * {@code warpsM x warpsN} warps, each owning {@code warpMTiles x warpNTiles} accumulator fragments of 16x8, over
     * k-tiles of {@code bk} elements in a ring of {@code stages} local buffers filled by {@code cp.async} and read by
     * {@code ldmatrix}. Local tiles are chunk-major: each 16-byte chunk of k (8 elements, 4 ints) of all the tile's
     * rows lies contiguous, so the eight rows an {@code ldmatrix} reads are 128 consecutive bytes (every bank once)
     * with no padding, and a warp's copies fill 8 rows x 4 chunks, which keeps both sides conflict-free and
     * coalesced. Launch with work-groups of {@link #groupSize()} x 1 over
     * {@code (ceil(n / blockN) * groupSize, ceil(m / blockM))}.
     *
     * @param warpsM warps along m
     * @param warpsN warps along n
     * @param warpMTiles 16-row accumulator fragments per warp along m
     * @param warpNTiles 8-column accumulator fragments per warp along n, even ({@code ldmatrix} loads two at once)
     * @param bk k elements per tile: 16, 32 or 64
     * @param stages local buffers in the ring: 2 to 4 (copies of {@code stages - 1} tiles are in flight)
     */
    public record AsyncPairTiling(int warpsM, int warpsN, int warpMTiles, int warpNTiles, int bk, int stages)
            implements RingTiling {
        /**
         * @throws IllegalArgumentException when a count is out of range, the work-group has more than 1024
         *     work-items, or the ring needs more than 48 KiB of local memory
         */
        public AsyncPairTiling {
            if (warpsM < 1 || warpsN < 1 || warpMTiles < 1 || warpNTiles < 2 || warpNTiles % 2 != 0
                    || (bk != 16 && bk != 32 && bk != 64) || stages < 2 || stages > 4) {
                throw new IllegalArgumentException("AsyncPairTiling: warpsM " + warpsM + ", warpsN " + warpsN
                        + ", warpMTiles " + warpMTiles + ", warpNTiles " + warpNTiles + ", bk " + bk + ", stages "
                        + stages + ": expected positive warp counts and warpMTiles, an even warpNTiles, bk 16, 32 or"
                        + " 64 and 2 to 4 stages");
            }
            if (32 * warpsM * warpsN > 1024) {
                throw new IllegalArgumentException("AsyncPairTiling " + warpsM + "x" + warpsN + " warps: "
                        + 32 * warpsM * warpsN + " work-items, expected at most 1024");
            }
            int bytes = stages * (warpsM * warpMTiles * 16 + warpsN * warpNTiles * 8) * bk * 2;
            if (bytes > LOCAL_MEMORY_LIMIT) {
                throw new IllegalArgumentException("AsyncPairTiling " + warpsM * warpMTiles * 16 + "x"
                        + warpsN * warpNTiles * 8 + ", bk " + bk + ", " + stages + " stages needs " + bytes
                        + " bytes of local memory, expected at most " + LOCAL_MEMORY_LIMIT);
            }
        }

        @Override
        public String stagesWord() {
            return "async";
        }
    }

    /**
     * Tilings of the asynchronous pair GEMMs worth timing (see {@link AsyncPairTiling}); every one passes the
     * emulator tests and compiles for sm_90 without spills.
     */
    public static final List<AsyncPairTiling> ASYNC_PAIR_TILINGS = List.of(
            new AsyncPairTiling(4, 2, 2, 8, 32, 3),
            new AsyncPairTiling(4, 2, 2, 8, 32, 2),
            new AsyncPairTiling(4, 2, 2, 8, 16, 3),
            new AsyncPairTiling(4, 2, 2, 8, 16, 4),
            new AsyncPairTiling(8, 2, 2, 8, 32, 2),
            new AsyncPairTiling(8, 2, 2, 8, 16, 3),
            new AsyncPairTiling(4, 4, 2, 8, 32, 2),
            new AsyncPairTiling(4, 2, 4, 8, 16, 3),
            new AsyncPairTiling(2, 2, 4, 8, 32, 3),
            new AsyncPairTiling(2, 2, 2, 8, 64, 2),
            new AsyncPairTiling(8, 2, 2, 8, 16, 4),
            new AsyncPairTiling(4, 4, 2, 8, 16, 4));

    /**
     * {@link #mmaGemmBF16Pairs} with a {@code cp.async} pipeline and {@code ldmatrix} fragment loads: k-tiles go
     * from global to local memory without passing through registers ({@link KernelContext#asyncCopy16}), into a ring
     * of {@code stages} buffers so that {@code stages - 1} tiles are in flight while the tensor cores work, one
     * barrier per tile; fragments come from local memory four registers per {@link KernelContext#mmaLoadMatrixX4}.
     * Operands as for {@link #mmaGemmBF16Pairs} (int views, even {@code k}); when {@code k} is not a multiple of 8
     * the rows are not 16-byte aligned and the tiles are loaded with plain loads instead (same ring, slower). With k a
     * multiple of 8, {@code a} and {@code bt} must start 16-byte aligned, as device buffers do (a view at another
     * offset: use {@link #mmaGemmBF16PairsTiled}). The tiling's values are {@code @Constant}s (an
     * {@link AsyncPairTiling}, which gives the grid).
     *
     * @param ctx the work-item
     * @param a A as int pairs, row-major m x k/2
     * @param bt B transposed as int pairs, row-major n x k/2
     * @param c C (m x n, f32), written
     * @param m rows of A and C
     * @param n rows of Bt, columns of C
     * @param k the reduction length in bf16 elements, even
     * @param warpsM {@link AsyncPairTiling#warpsM()}
     * @param warpsN {@link AsyncPairTiling#warpsN()}
     * @param warpMTiles {@link AsyncPairTiling#warpMTiles()}
     * @param warpNTiles {@link AsyncPairTiling#warpNTiles()}
     * @param bk {@link AsyncPairTiling#bk()}
     * @param stages {@link AsyncPairTiling#stages()}
     */
    public static void mmaGemmBF16PairsAsync(KernelContext ctx, IntArray a, IntArray bt, FloatArray c, int m, int n,
            int k, @Constant int warpsM, @Constant int warpsN, @Constant int warpMTiles, @Constant int warpNTiles,
            @Constant int bk, @Constant int stages) {
        mmaGemmPairsAsync(ctx, a, bt, c, m, n, k, true, warpsM, warpsN, warpMTiles, warpNTiles, bk, stages);
    }

    /**
     * {@link #mmaGemmBF16PairsAsync} with f16 operands.
     *
     * @param ctx the work-item
     * @param a A as int pairs, row-major m x k/2
     * @param bt B transposed as int pairs, row-major n x k/2
     * @param c C (m x n, f32), written
     * @param m rows of A and C
     * @param n rows of Bt, columns of C
     * @param k the reduction length in f16 elements, even
     * @param warpsM {@link AsyncPairTiling#warpsM()}
     * @param warpsN {@link AsyncPairTiling#warpsN()}
     * @param warpMTiles {@link AsyncPairTiling#warpMTiles()}
     * @param warpNTiles {@link AsyncPairTiling#warpNTiles()}
     * @param bk {@link AsyncPairTiling#bk()}
     * @param stages {@link AsyncPairTiling#stages()}
     */
    public static void mmaGemmF16PairsAsync(KernelContext ctx, IntArray a, IntArray bt, FloatArray c, int m, int n,
            int k, @Constant int warpsM, @Constant int warpsN, @Constant int warpMTiles, @Constant int warpNTiles,
            @Constant int bk, @Constant int stages) {
        mmaGemmPairsAsync(ctx, a, bt, c, m, n, k, false, warpsM, warpsN, warpMTiles, warpNTiles, bk, stages);
    }

    /** Allocates the asynchronous kernels' arrays (sizes as expressions of the constants) and runs the body. */
    private static void mmaGemmPairsAsync(KernelContext ctx, IntArray a, IntArray bt, FloatArray c, int m, int n,
            int k, boolean bf16, int warpsM, int warpsN, int mTiles, int nTiles, int bk, int stages) {
        int[] as = ctx.allocateIntLocalArray(stages * (warpsM * mTiles * 16) * (bk / 2));
        int[] bs = ctx.allocateIntLocalArray(stages * (warpsN * nTiles * 8) * (bk / 2));
        float[] acc = new float[mTiles * nTiles * KernelContext.MMA_C_FRAGMENT];
        int[] ra = new int[mTiles * 4];
        int[] rb = new int[nTiles * 2];
        short[] af = new short[mTiles * KernelContext.MMA_A_FRAGMENT];
        short[] bf = new short[nTiles * KernelContext.MMA_B_FRAGMENT];
        asyncPipeline(ctx, as, bs, acc, ra, rb, af, bf, a, bt, c, m, n, k, bf16, warpsN, mTiles, nTiles,
                warpsM * mTiles * 16, warpsN * nTiles * 8, bk / 2, stages, 32 * warpsM * warpsN);
    }

    /**
     * The ring: tiles 0 .. stages - 2 are requested up front, one commit group per tile (empty past the end, so
     * that waiting for all but {@code stages - 2} groups always means "tile t has landed"). Each trip waits for
     * tile t, synchronises (which also frees the buffer read in the previous trip), loads tile t's first fragments,
     * requests tile {@code t + stages - 1} into the freed buffer (checked copies only for edge tiles) and multiplies
     * tile t. Tiles hold {@code kp} ints of k per row,
     * chunk-major: int p of row r at {@code (p >> 2) * (rows * 4) + r * 4 + (p & 3)}.
     */
    private static void asyncPipeline(KernelContext ctx, int[] as, int[] bs, float[] acc, int[] ra, int[] rb,
            short[] af, short[] bf, IntArray a, IntArray bt, FloatArray c, int m, int n, int k, boolean bf16,
            int warpsN, int mTiles, int nTiles, int blockM, int blockN, int kp, int stages, int group) {
        int tid = ctx.localIdx;
        int warp = tid >> 5;
        int warpRow = warp / warpsN * (mTiles * 16);
        int warpCol = warp % warpsN * (nTiles * 8);
        int rowBase = ctx.groupIdy * blockM;
        int colBase = ctx.groupIdx * blockN;
        int kPairs = k >> 1;
        // 16-byte copies need 16-byte aligned rows: k a multiple of 8
        boolean aligned = (kPairs & 3) == 0;
        int tiles = (kPairs + kp - 1) / kp;
        for (int s = 0; s < stages - 1; s++) {
            if (s < tiles) {
                loadTileAsync(ctx, as, s * (blockM * kp), a, rowBase, m, kPairs, s * kp, tid, blockM, group,
                        kp / 4, aligned);
                loadTileAsync(ctx, bs, s * (blockN * kp), bt, colBase, n, kPairs, s * kp, tid, blockN, group,
                        kp / 4, aligned);
            }
            ctx.asyncCommit();
        }
        // whole row blocks with 16-byte aligned rows: every k-tile but a partial last one copies without checks
        boolean aInside = aligned && rowBase + blockM <= m;
        boolean bInside = aligned && colBase + blockN <= n;
        for (int tile = 0; tile < tiles; tile++) {
            ctx.asyncWait(stages - 2);
            ctx.localBarrier();
            int cur = tile % stages;
            // this tile's first fragments, then the copies (their address arithmetic overlaps the ldmatrix
            // latency, and they go out a whole tile ahead of the MMAs), then the MMAs; the slot the copies fill was
            // last read before this trip's barrier
            matrixLoad(ctx, as, bs, ra, rb, af, bf, cur * (blockM * kp) + warpRow * 4,
                    cur * (blockN * kp) + warpCol * 4, blockM * 4, blockN * 4, mTiles, nTiles);
            int next = tile + stages - 1;
            if (next < tiles) {
                int slot = next % stages;
                boolean wholeK = next * kp + kp <= kPairs;
                if (aInside && wholeK) {
                    loadTileAsyncInside(ctx, as, slot * (blockM * kp), a, rowBase, kPairs, next * kp, tid, blockM,
                            group, kp / 4);
                } else {
                    loadTileAsync(ctx, as, slot * (blockM * kp), a, rowBase, m, kPairs, next * kp, tid, blockM,
                            group, kp / 4, aligned);
                }
                if (bInside && wholeK) {
                    loadTileAsyncInside(ctx, bs, slot * (blockN * kp), bt, colBase, kPairs, next * kp, tid, blockN,
                            group, kp / 4);
                } else {
                    loadTileAsync(ctx, bs, slot * (blockN * kp), bt, colBase, n, kPairs, next * kp, tid, blockN,
                            group, kp / 4, aligned);
                }
            }
            matrixMma(ctx, af, bf, acc, bf16, mTiles, nTiles);
            for (int ks = 8; ks < kp; ks += 8) {
                // ks ints of k = chunk ks / 4 of every row
                matrixLoad(ctx, as, bs, ra, rb, af, bf, cur * (blockM * kp) + ks / 4 * (blockM * 4) + warpRow * 4,
                        cur * (blockN * kp) + ks / 4 * (blockN * 4) + warpCol * 4, blockM * 4, blockN * 4, mTiles,
                        nTiles);
                matrixMma(ctx, af, bf, acc, bf16, mTiles, nTiles);
            }
            ctx.asyncCommit();
        }
        storeAccumulators(ctx, acc, mTiles, nTiles, c, m, n, rowBase + warpRow, colBase + warpCol);
    }

    /**
     * {@link #loadTileAsync} for a k-tile wholly inside the matrix with 16-byte aligned rows: no checks, and the
     * per-copy row and chunk depend on the work-item only, so the compiler keeps them out of the k loop.
     */
    static void loadTileAsyncInside(KernelContext ctx, int[] tile, int at, IntArray src, int row0,
            int kPairs, int col0, int tid, int tileRows, int group, int chunksPerRow) {
        for (int e = 0; e < (tileRows * chunksPerRow + group - 1) / group; e++) {
            int id = tid + e * group;
            if (id < tileRows * chunksPerRow) {
                int r = id / (8 * chunksPerRow) * 8 + (id & 7);
                int chunk = (id >> 3) % chunksPerRow;
                ctx.asyncCopy16(tile, at + chunk * (tileRows * 4) + r * 4, src, (row0 + r) * kPairs + col0 + chunk * 4,
                        KernelContext.ASYNC_COPY_INTS);
            }
        }
    }

    /**
     * Requests one operand's k-tile (rows {@code row0 .. row0 + rows} of {@code src}, int columns
     * {@code col0 .. col0 + 4 chunksPerRow}) into the chunk-major {@code tile} from {@code at}; zeros outside the
     * matrix. Copy {@code id} takes row {@code 8 (id / (8 chunksPerRow)) + id % 8} and chunk
     * {@code (id / 8) % chunksPerRow}: eight consecutive copies fill 128 consecutive local bytes, and a warp reads
     * whole 64-byte row segments. Unaligned rows take plain loads and stores.
     */
    static void loadTileAsync(KernelContext ctx, int[] tile, int at, IntArray src, int row0, int rows,
            int kPairs, int col0, int tid, int tileRows, int group, int chunksPerRow, boolean aligned) {
        for (int e = 0; e < (tileRows * chunksPerRow + group - 1) / group; e++) {
            int id = tid + e * group;
            if (id < tileRows * chunksPerRow) {
                int r = id / (8 * chunksPerRow) * 8 + (id & 7);
                int chunk = (id >> 3) % chunksPerRow;
                int col = col0 + chunk * 4;
                int row = row0 + r;
                int left = kPairs - col;
                int valid = row >= rows || left <= 0 ? 0 : left >= 4 ? 4 : left;
                int local = at + chunk * (tileRows * 4) + r * 4;
                if (aligned) {
                    ctx.asyncCopy16(tile, local, src, valid > 0 ? row * kPairs + col : 0, valid);
                } else {
                    for (int q = 0; q < 4; q++) {
                        tile[local + q] = q < valid ? src.get(row * kPairs + col + q) : 0;
                    }
                }
            }
        }
    }

    /**
     * The fragments of one 16-k step of a warp's mTiles x nTiles, through {@code ldmatrix} from the chunk-major
     * tiles: A's 16x16 tiles from {@code aAt} (the warp's row 0 in this step's first chunk; the next chunk, k + 8, is
     * {@code aChunk} ints on), Bt's pairs of 8-column tiles from {@code bAt}; {@link #matrixMma} multiplies them.
     */
    private static void matrixLoad(KernelContext ctx, int[] as, int[] bs, int[] ra, int[] rb, short[] af,
            short[] bf, int aAt, int bAt, int aChunk, int bChunk, int mTiles, int nTiles) {
        for (int i = 0; i < mTiles; i++) {
            // matrices: rows 0-7, rows 8-15 (32 ints on), then both at k + 8 (the next chunk)
            ctx.mmaLoadMatrixX4(as, aAt + i * 64, 4, 32, aChunk, ra, i * 4);
        }
        for (int j = 0; j < nTiles / 2; j++) {
            // matrices: columns 0-7 at k, at k + 8 (next chunk), then columns 8-15 at k, at k + 8
            ctx.mmaLoadMatrixX4(bs, bAt + j * 64, 4, bChunk, 32, rb, j * 4);
        }
        for (int i = 0; i < mTiles * 4; i++) {
            splitPair(ra[i], af, 2 * i);
        }
        for (int j = 0; j < nTiles * 2; j++) {
            splitPair(rb[j], bf, 2 * j);
        }
    }

    /** The MMAs of one 16-k step of a warp's mTiles x nTiles fragments (loaded by {@link #matrixLoad}). */
    private static void matrixMma(KernelContext ctx, short[] af, short[] bf, float[] acc, boolean bf16, int mTiles,
            int nTiles) {
        for (int i = 0; i < mTiles; i++) {
            for (int j = 0; j < nTiles; j++) {
                int fa = i * KernelContext.MMA_A_FRAGMENT;
                int fb = j * KernelContext.MMA_B_FRAGMENT;
                int fc = (i * nTiles + j) * KernelContext.MMA_C_FRAGMENT;
                if (bf16) {
                    ctx.mmaBF16(af, fa, bf, fb, acc, fc);
                } else {
                    ctx.mmaF16(af, fa, bf, fb, acc, fc);
                }
            }
        }
    }

    /**
     * {@link #mmaGemmBF16} reading both operands as pairs of bf16 in 32-bit words: {@code a} and {@code bt} are
     * int views of the bf16 matrices (e.g. {@code IntArray.fromSegmentShallow(bf16.getSegment())}), element
     * {@code 2p} in the low half of int {@code p}, so {@code k} must be even (for odd {@code k} use
     * {@link #mmaGemmBF16}). A work-group of four warps computes 128x128 of C, each warp 64x64 (4x8 accumulator
     * fragments): {@link #DEFAULT_PAIR_TILING}. Whole tiles inside the matrices load without bounds checks; the
     * next k-tile is fetched into registers while the tensor cores work on the current one (two local buffers, one
     * barrier per tile). Grid: {@link #PAIR_GROUP_SIZE} x 1 (128x1) work-groups over
     * {@code (ceil(n / PAIR_BLOCK_N) * PAIR_GROUP_SIZE, ceil(m / PAIR_BLOCK_M))}.
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
        mmaGemmPairsTiled(ctx, a, bt, c, m, n, k, true, PAIR_WARPS_M, PAIR_WARPS_N, PAIR_WARP_M_TILES,
                PAIR_WARP_N_TILES, PAIR_BK);
    }

    /**
     * As {@link #mmaGemmBF16Pairs} with f16 operands (int views of f16 matrices); for odd {@code k} use
     * {@link #mmaGemmF16}. Same grid.
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
        mmaGemmPairsTiled(ctx, a, bt, c, m, n, k, false, PAIR_WARPS_M, PAIR_WARPS_N, PAIR_WARP_M_TILES,
                PAIR_WARP_N_TILES, PAIR_BK);
    }

    /**
     * {@link #mmaGemmBF16Pairs} with the tiling as specialisation constants, the values of a valid
     * {@link PairTiling} (each tiling compiles its own kernel), for timing tilings against each other. Grid: see
     * {@link PairTiling}.
     *
     * @param ctx the work-item
     * @param a A as int pairs, row-major m x k/2
     * @param bt B transposed as int pairs, row-major n x k/2
     * @param c C (m x n, f32), written
     * @param m rows of A and C
     * @param n rows of Bt, columns of C
     * @param k the reduction length in bf16 elements, even
     * @param warpsM {@link PairTiling#warpsM()}
     * @param warpsN {@link PairTiling#warpsN()}
     * @param warpMTiles {@link PairTiling#warpMTiles()}
     * @param warpNTiles {@link PairTiling#warpNTiles()}
     * @param bk {@link PairTiling#bk()}
     */
    public static void mmaGemmBF16PairsTiled(KernelContext ctx, IntArray a, IntArray bt, FloatArray c, int m, int n,
            int k, @Constant int warpsM, @Constant int warpsN, @Constant int warpMTiles, @Constant int warpNTiles,
            @Constant int bk) {
        mmaGemmPairsTiled(ctx, a, bt, c, m, n, k, true, warpsM, warpsN, warpMTiles, warpNTiles, bk);
    }

    /**
     * {@link #mmaGemmF16Pairs} with the tiling as specialisation constants: see {@link #mmaGemmBF16PairsTiled}.
     *
     * @param ctx the work-item
     * @param a A as int pairs, row-major m x k/2
     * @param bt B transposed as int pairs, row-major n x k/2
     * @param c C (m x n, f32), written
     * @param m rows of A and C
     * @param n rows of Bt, columns of C
     * @param k the reduction length in f16 elements, even
     * @param warpsM {@link PairTiling#warpsM()}
     * @param warpsN {@link PairTiling#warpsN()}
     * @param warpMTiles {@link PairTiling#warpMTiles()}
     * @param warpNTiles {@link PairTiling#warpNTiles()}
     * @param bk {@link PairTiling#bk()}
     */
    public static void mmaGemmF16PairsTiled(KernelContext ctx, IntArray a, IntArray bt, FloatArray c, int m, int n,
            int k, @Constant int warpsM, @Constant int warpsN, @Constant int warpMTiles, @Constant int warpNTiles,
            @Constant int bk) {
        mmaGemmPairsTiled(ctx, a, bt, c, m, n, k, false, warpsM, warpsN, warpMTiles, warpNTiles, bk);
    }

    /**
     * Allocates the pair kernels' arrays for a tiling and runs the body. The JIT folds constants through
     * expressions and helper arguments but not through local variables, so every size below is written as an
     * expression of the tiling's arguments. Rows per load pass: {@code 32 * warpsM * warpsN / (bk / 2)}. Bt's
     * fragments hold every 16-k step of a k-tile ({@code bk / 16} fragments per 8-column tile).
     */
    private static void mmaGemmPairsTiled(KernelContext ctx, IntArray a, IntArray bt, FloatArray c, int m, int n,
            int k, boolean bf16, int warpsM, int warpsN, int mTiles, int nTiles, int bk) {
        int[] as = ctx.allocateIntLocalArray(2 * (warpsM * mTiles * 16) * (bk / 2));
        int[] bs = ctx.allocateIntLocalArray(2 * (warpsN * nTiles * 8) * (bk / 2));
        float[] acc = new float[mTiles * nTiles * KernelContext.MMA_C_FRAGMENT];
        short[] af = new short[mTiles * KernelContext.MMA_A_FRAGMENT];
        short[] bf = new short[nTiles * (bk / 16) * KernelContext.MMA_B_FRAGMENT];
        int[] ra = new int[warpsM * mTiles * 16 / (32 * warpsM * warpsN / (bk / 2))];
        int[] rb = new int[warpsN * nTiles * 8 / (32 * warpsM * warpsN / (bk / 2))];
        mmaGemmPairs(ctx, as, bs, acc, af, bf, ra, rb, a, bt, c, m, n, k, bf16, warpsN, mTiles, nTiles,
                warpsM * mTiles * 16, warpsN * nTiles * 8, bk / 2, 32 * warpsM * warpsN / (bk / 2));
    }

    /**
     * The pair kernels' body: double-buffered local tiles, register prefetch of the next k-tile. Tiles are
     * {@code blockM} (A) and {@code blockN} (Bt) rows of {@code kp} ints; a load pass covers {@code rowsPerPass}
     * rows, {@code kp} work-items per row.
     * <p>
     * With 64-row warp tiles ({@code mTiles >= 4}) the MMAs see k permuted, the same way for A and Bt (so the sums
     * are unchanged): in a k-tile, the k pairs {@code t} and {@code t + 4} of 16-k step {@code s} of lane
     * {@code tq = t} are the tile's pairs {@code 4t + 2s} and {@code 4t + 2s + 1} (32-k tiles; {@code 2t} and
     * {@code 2t + 1} in 16-k tiles). A lane's Bt fragments of every step of a tile are then one run of
     * {@code kp / 4} ints of its row: Bt's local tile is plain row-major, and each 8-column tile's fragments for the
     * whole k-tile are one 128-bit local load (64-bit for 16-k tiles), already in MMA register order. 32-row warp
     * tiles keep k in order and load one step's 64-bit Bt fragments at a time ({@link #pairSlot}), to stay within
     * their registers. A's tile pairs rows either way (see {@link #pairedSlot}).
     */
    private static void mmaGemmPairs(KernelContext ctx, int[] as, int[] bs, float[] acc, short[] af, short[] bf,
            int[] ra, int[] rb, IntArray a, IntArray bt, FloatArray c, int m, int n, int k, boolean bf16,
            int warpsN, int mTiles, int nTiles, int blockM, int blockN, int kp, int rowsPerPass) {
        int tid = ctx.localIdx;
        int warp = tid >> 5;
        int lane = tid & 31;
        int g = lane >> 2;
        int tq = lane & 3;
        int warpRow = warp / warpsN * (mTiles * 16);
        int warpCol = warp % warpsN * (nTiles * 8);
        int rowBase = ctx.groupIdy * blockM;
        int colBase = ctx.groupIdx * blockN;
        int kPairs = k >> 1;
        int loadRow = tid / kp;
        int loadCol = tid % kp;
        // 64-row warp tiles (mTiles >= 4) see k permuted: Bt row-major, as in memory. 32-row warp tiles keep k in
        // order, with Bt's pairs t and t + 4 side by side (pairSlot) and one step's 64-bit fragments at a time:
        // loading both steps' at once there took 157-162 registers instead of 123-128 (one 256-work-item group per
        // multiprocessor instead of two, and more than 512-work-item groups may have). loadRow + rowsPerPass * e
        // keeps loadRow's swizzle (rowsPerPass is a multiple of 8): one slot serves every row this work-item stores
        int storeAt = loadRow * kp + (mTiles >= 4 ? loadCol : pairSlot(loadRow, loadCol, kp));
        // A: pass e loads tile row pairedRow(rowsPerPass * e + loadRow), whose slot is this one plus
        // rowsPerPass * kp * e (see pairedSlot)
        int aStoreAt = pairedSlot(pairedRow(loadRow), loadCol, kp, mTiles >= 4);
        // this lane's fragment origins: A's paired rows g and g + 8 of each 16 are one row of 2 kp ints, its
        // fragment for step s at 16 (s ^ aSwizzle) + 4 tq; Bt's row g from int tq kp / 4 (permuted k) or 2 tq
        int aSwizzle = kp > 8 ? g & 1 : 0;
        int bSwizzle = kp > 8 ? ((g >> 1) & 1) << 3 : 0;
        int aFragment = (warpRow / 2 + g) * (2 * kp) + 4 * tq;
        int bFragment = (warpCol + g) * kp + (mTiles >= 4 ? tq * (kp >> 2) : 2 * tq);
        boolean rowsInside = rowBase + blockM <= m;
        boolean colsInside = colBase + blockN <= n;
        // pairedRow(rowsPerPass * e + loadRow) = pairedRow(rowsPerPass * e) + pairedRow(loadRow): rowsPerPass is a
        // power of two of at least 8, so the two have no bits in common and pairedRow moves bits, never mixes them
        int aRow0 = rowBase + pairedRow(loadRow);
        int bRow0 = colBase + loadRow;
        loadPairs(a, ra, blockM / rowsPerPass, rowsPerPass, aRow0, true, m, kPairs, loadCol,
                rowsInside && kp <= kPairs);
        loadPairs(bt, rb, blockN / rowsPerPass, rowsPerPass, bRow0, false, n, kPairs, loadCol,
                colsInside && kp <= kPairs);
        storePairs(as, ra, blockM / rowsPerPass, rowsPerPass * kp, aStoreAt);
        storePairs(bs, rb, blockN / rowsPerPass, rowsPerPass * kp, storeAt);
        ctx.localBarrier();
        for (int tp = 0; tp < kPairs; tp += kp) {
            int next = tp + kp;
            // derived from tp (not toggled) so the compiler sees aligned fragment indices: 128-bit local loads
            int odd = tp / kp & 1;
            int aCur = odd * (blockM * kp);
            int bCur = odd * (blockN * kp);
            if (mTiles >= 4) {
                // 64-row warp tiles: Bt's fragments of the whole k-tile at once, one 128-bit load per 8 columns,
                // issued before the next tile's global loads so that their latency overlaps those
                loadBFragments(bs, bf, bCur + bFragment, nTiles, kp, kp >> 2, 0);
            }
            if (next < kPairs) {
                // issued now, consumed after the MMAs: the loads' latency hides behind the tensor-core work
                loadPairs(a, ra, blockM / rowsPerPass, rowsPerPass, aRow0, true, m, kPairs, next + loadCol,
                        rowsInside && next + kp <= kPairs);
                loadPairs(bt, rb, blockN / rowsPerPass, rowsPerPass, bRow0, false, n, kPairs, next + loadCol,
                        colsInside && next + kp <= kPairs);
            }
            // a loop, not written out: ptxas unrolls it where registers allow
            for (int ks = 0; ks < kp; ks += 8) {
                pairStep(ctx, as, bs, af, bf, acc, aCur + aFragment + (((ks >> 3) ^ aSwizzle) << 4),
                        bCur + bFragment + (ks ^ bSwizzle), ks >> 2, bf16, mTiles, nTiles, kp);
            }
            if (next < kPairs) {
                // the other buffers were last read before the previous barrier
                storePairs(as, ra, blockM / rowsPerPass, rowsPerPass * kp, blockM * kp - aCur + aStoreAt);
                storePairs(bs, rb, blockN / rowsPerPass, rowsPerPass * kp, blockN * kp - bCur + storeAt);
            }
            ctx.localBarrier();
        }
        storeAccumulators(ctx, acc, mTiles, nTiles, c, m, n, rowBase + warpRow, colBase + warpCol);
    }

    /**
     * Bt's fragments for each of the warp's 8-column tiles: {@code ints} consecutive ints of row g from
     * {@code bAt}, which is {@code first} ints into the lane's run of {@code kp / 4} (see {@link #mmaGemmPairs}:
     * ints 2s and 2s + 1 of the run are step s's fragment). All of the run ({@code ints = kp / 4}, one 128-bit local
     * load for 32-k tiles) or one step's fragment ({@code ints = 2}, 64-bit). Tile j's step s fragment lands at
     * {@code (j kp / 4 + 2 s) * 2} either way.
     */
    private static void loadBFragments(int[] bs, short[] bf, int bAt, int nTiles, int kp, int ints, int first) {
        for (int j = 0; j < nTiles; j++) {
            for (int q = 0; q < ints; q++) {
                splitPair(bs[bAt + j * 8 * kp + q], bf, (j * (kp >> 2) + first + q) * 2);
            }
        }
    }

    /**
     * One 16-k step of a warp's mTiles x nTiles fragments: A's from its paired tile ({@link #pairedSlot}) at
     * {@code aAt} (this lane's pair of rows g and g + 8, swizzle applied); Bt's, for 64-row warp tiles, already
     * loaded (step {@code bStep} = 2 s ints into each tile's run), else now from {@code bAt} (row g, pairs t and
     * t + 4 side by side: {@link #pairSlot}); then the MMAs.
     */
    private static void pairStep(KernelContext ctx, int[] as, int[] bs, short[] af, short[] bf, float[] acc,
            int aAt, int bAt, int bStep, boolean bf16, int mTiles, int nTiles, int kp) {
        for (int i = 0; i < mTiles; i++) {
            // the fragment's four registers lie side by side in its order (pairedSlot): one 128-bit load, and the
            // MMA takes the loaded registers as they are (rows g and g + 8 apart took four moves per MMA)
            int at = aAt + i * 16 * kp;
            int f = i * KernelContext.MMA_A_FRAGMENT;
            splitPair(as[at], af, f);
            splitPair(as[at + 1], af, f + 2);
            splitPair(as[at + 2], af, f + 4);
            splitPair(as[at + 3], af, f + 6);
        }
        if (mTiles < 4) {
            // 32-row warp tiles: one step's fragments at a time, one 64-bit load each, as step 0's of the run
            loadBFragments(bs, bf, bAt, nTiles, kp, 2, 0);
        }
        for (int i = 0; i < mTiles; i++) {
            for (int j = 0; j < nTiles; j++) {
                int fa = i * KernelContext.MMA_A_FRAGMENT;
                int fb = (j * (kp >> 2) + (mTiles < 4 ? 0 : bStep)) * 2;
                int fc = (i * nTiles + j) * KernelContext.MMA_C_FRAGMENT;
                if (bf16) {
                    ctx.mmaBF16(af, fa, bf, fb, acc, fc);
                } else {
                    ctx.mmaF16(af, fa, bf, fb, acc, fc);
                }
            }
        }
    }

    /**
     * Loads one operand's share of a k-tile of int pairs into registers: {@code passes} rows, pass e's
     * {@code row0 + rowsPerPass * e} (A's paired tile: {@code row0 + pairedRow(rowsPerPass * e)}, where
     * {@code row0} already holds {@code pairedRow(loadRow)}: see {@link PairTiling}), int column {@code col};
     * without checks when the whole tile is inside ({@code inside}), else zero outside. The per-pass offsets are
     * constants, so each load's address is one multiply-add from the last.
     */
    private static void loadPairs(IntArray src, int[] regs, int passes, int rowsPerPass, int row0, boolean paired,
            int rows, int kp, int col, boolean inside) {
        if (inside) {
            for (int e = 0; e < passes; e++) {
                regs[e] = src.get((row0 + (paired ? pairedRow(e * rowsPerPass) : e * rowsPerPass)) * kp + col);
            }
        } else {
            for (int e = 0; e < passes; e++) {
                int row = row0 + (paired ? pairedRow(e * rowsPerPass) : e * rowsPerPass);
                regs[e] = row < rows && col < kp ? src.get(row * kp + col) : 0;
            }
        }
    }

    /**
     * The tile row that load row {@code x} of A's paired tile fills: within each 16 rows, load rows 2j and 2j + 1
     * are tile rows j and j + 8, so the two rows a warp stores (bk 32; four, j and j + 8 twice, for bk 16) share
     * a paired row and their stores cover all banks.
     */
    private static int pairedRow(int x) {
        return (x & ~15) | ((x >> 1) & 7) | ((x & 1) << 3);
    }

    /**
     * Where k pair {@code p} of tile row {@code row} sits in A's paired tile: rows r and r + 8 of every 16 (r < 8)
     * form one row of {@code 2 kp} ints, and the four ints of each MMA A fragment lie side by side in fragment
     * order: for lane t of step s, (r, t) (r + 8, t) (r, t + 4) (r + 8, t + 4) in the MMA's k pairs, at
     * {@code 16 s + 4 t}. The MMA's pairs t and t + 4 of step s are the tile's pairs {@code 8s + t} and
     * {@code 8s + t + 4}, or, {@code permuted} (see {@link #mmaGemmPairs}), {@code 4t + 2s} and {@code 4t + 2s + 1}
     * (32-k tiles; {@code 2t} and {@code 2t + 1} in 16-k tiles). With 32-k tiles odd paired rows swap their two
     * steps, so the 128-bit loads of a quarter warp (two paired rows) cover all banks; 16-k paired rows of 64 bytes
     * cover them unswizzled. A warp's stores (two load rows, r and r + 8, of 16 pairs) fill one paired row.
     */
    private static int pairedSlot(int row, int p, int kp, boolean permuted) {
        int paired = (row >> 4) * 8 + (row & 7);
        int swizzle = kp > 8 ? paired & 1 : 0;
        int t = permuted ? (kp > 8 ? p >> 2 : p >> 1) : p & 3;
        int high = permuted ? p & 1 : (p >> 2) & 1;
        int step = permuted ? (kp > 8 ? (p >> 1) & 1 : 0) : p >> 3;
        return paired * 2 * kp + ((step ^ swizzle) << 4) + (t << 2) + (high << 1) + ((row >> 3) & 1);
    }

    /**
     * Where k pair {@code p} of tile row {@code row} (rows of {@code kp} ints) sits within Bt's row when k is not
     * permuted (32-row warp tiles): within each group of 8 pairs (16 k) the order is 0 4 1 5 2 6 3 7, so the pairs t
     * and t + 4 that an MMA fragment takes lie side by side; with rows of 16 ints, rows 2 and 3 of every 4 swap the
     * two groups, so the four rows a half-warp's 64-bit loads touch cover all banks; rows of 8 ints (a 16-k tile)
     * cover them unswizzled.
     */
    private static int pairSlot(int row, int p, int kp) {
        int swizzle = kp > 8 ? ((row >> 1) & 1) << 3 : 0;
        return ((p & ~7) ^ swizzle) | ((p & 3) << 1) | ((p >> 2) & 1);
    }

    /** Stores a work-item's {@code passes} loaded ints into a local tile from {@code at}, {@code stride} apart. */
    private static void storePairs(int[] tile, int[] regs, int passes, int stride, int at) {
        for (int e = 0; e < passes; e++) {
            tile[at + e * stride] = regs[e];
        }
    }

    /** Splits two packed 16-bit values into fragment elements {@code at} (low half) and {@code at + 1}. */
    static void splitPair(int pair, short[] fragment, int at) {
        fragment[at] = (short) pair;
        fragment[at + 1] = (short) (pair >>> 16);
    }

    /** Writes a warp's mTiles x nTiles accumulator fragments to C at (row0, col0), guarding the edges. */
    static void storeAccumulators(KernelContext ctx, float[] acc, int mTiles, int nTiles, FloatArray c, int m,
            int n, int row0, int col0) {
        int lane = ctx.simdLaneId();
        int g = lane >> 2;
        int t = lane & 3;
        for (int i = 0; i < mTiles; i++) {
            for (int j = 0; j < nTiles; j++) {
                for (int e = 0; e < KernelContext.MMA_C_FRAGMENT; e++) {
                    int row = row0 + i * 16 + g + 8 * (e >> 1);
                    int col = col0 + j * 8 + 2 * t + (e & 1);
                    if (row < m && col < n) {
                        c.set(row * n + col, acc[(i * nTiles + j) * KernelContext.MMA_C_FRAGMENT + e]);
                    }
                }
            }
        }
    }
}
