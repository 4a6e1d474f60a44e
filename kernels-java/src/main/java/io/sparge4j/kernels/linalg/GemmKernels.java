package io.sparge4j.kernels.linalg;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

/**
 * Matrix multiplies written for GPUs: a register-blocked f32 GEMM (CUDA cores) and tensor-core GEMMs in f16 and
 * bf16 with f32 accumulation. Row-major, any sizes (edges are guarded; whole tiles skip the checks). Grids:
 * <ul>
 * <li>{@link #sgemm}: 16x16 work-groups over {@code (ceil(n / 128) * 16, ceil(m / 128) * 16)};</li>
 * <li>the MMA GEMMs, {@link #mmaGemmBF16Pairs} and {@link #mmaGemmF16Pairs} (even k, operands as int views;
 * the fast ones) as {@link #mmaGemmBF16} and {@link #mmaGemmF16} (any k, 16-bit loads): 256x1 work-groups over
 * {@code (ceil(n / 128) * 256, ceil(m / 128))}.</li>
 * </ul>
 */
public final class GemmKernels {
    /** Rows and columns of C per work-group of {@link #sgemm}, {@link #mmaGemmBF16} and {@link #mmaGemmF16}. */
    public static final int BLOCK = 128;
    /** Rows of C per work-group of {@link #mmaGemmBF16Pairs} and {@link #mmaGemmF16Pairs}. */
    public static final int PAIR_BLOCK_M = 128;
    /** Columns of C per work-group of {@link #mmaGemmBF16Pairs} and {@link #mmaGemmF16Pairs}. */
    public static final int PAIR_BLOCK_N = 128;
    /** Work-group edge of {@link #sgemm}. */
    public static final int SGEMM_GROUP_EDGE = 16;
    /** Work-group size of all the MMA GEMMs: eight warps. */
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
    /** k elements per tile of the pair kernels. */
    private static final int PAIR_BK = 32;
    /**
     * Ints (k pairs) per row of a pair-kernel local tile, unpadded: a swizzle ({@link #pairSlot}) keeps the
     * 64-bit fragment loads and the tile stores free of bank conflicts.
     */
    private static final int PAIR_KP = PAIR_BK / 2;
    /**
     * Warps of a pair-kernel work-group along n (four along m); each owns 32x64 of C as 2x8 accumulator
     * fragments. (Eight warps of 64x64 over 128x256 would need 48 KiB of double-buffered tiles, more than a
     * device without tensor cores has beside the MMA fallback's scratch; 128 registers also let two work-groups
     * share a multiprocessor.)
     */
    private static final int PAIR_WARPS_N = 2;
    private static final int PAIR_WARP_M_TILES = 2;
    private static final int PAIR_WARP_N_TILES = 8;
    /** A's and Bt's tiles in ints; local memory holds two of each (double buffering). */
    private static final int PAIR_A_TILE = PAIR_BLOCK_M * PAIR_KP;
    private static final int PAIR_B_TILE = PAIR_BLOCK_N * PAIR_KP;
    /** Rows of a tile one pass of the work-group loads: 16 work-items per row of 16 ints. */
    private static final int PAIR_ROWS_PER_PASS = MMA_GROUP_SIZE / PAIR_KP;
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
        for (int i = 0; i < SGEMM_THREAD_TILE; i++) {
            int row = rowBase + (i / SGEMM_HALF_TILE) * (BLOCK / 2) + ty * SGEMM_HALF_TILE + i % SGEMM_HALF_TILE;
            for (int j = 0; j < SGEMM_THREAD_TILE; j++) {
                int col = colBase + (j / SGEMM_HALF_TILE) * (BLOCK / 2) + tx * SGEMM_HALF_TILE + j % SGEMM_HALF_TILE;
                if (row < m && col < n) {
                    c.set(row * n + col, acc[i * SGEMM_THREAD_TILE + j]);
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
     * {@link #mmaGemmBF16} reading both operands as pairs of bf16 in 32-bit words: {@code a} and {@code bt} are
     * int views of the bf16 matrices (e.g. {@code IntArray.fromSegmentShallow(bf16.getSegment())}), element
     * {@code 2p} in the low half of int {@code p}, so {@code k} must be even (for odd {@code k} use
     * {@link #mmaGemmBF16}). A work-group of eight warps computes 128x128 of C, each warp 32x64 (2x8 accumulator
     * fragments). Whole tiles inside the matrices load without bounds checks; the next k-tile is fetched into
     * registers while the tensor cores work on the current one (two local buffers, one barrier per tile).
     * Grid as {@link #mmaGemmBF16}: 256x1 work-groups over {@code (ceil(n / 128) * 256, ceil(m / 128))}.
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
        int[] as = ctx.allocateIntLocalArray(2 * PAIR_A_TILE);
        int[] bs = ctx.allocateIntLocalArray(2 * PAIR_B_TILE);
        float[] acc = new float[PAIR_WARP_M_TILES * PAIR_WARP_N_TILES * KernelContext.MMA_C_FRAGMENT];
        short[] af = new short[PAIR_WARP_M_TILES * KernelContext.MMA_A_FRAGMENT];
        short[] bf = new short[PAIR_WARP_N_TILES * KernelContext.MMA_B_FRAGMENT];
        int[] ra = new int[PAIR_BLOCK_M / PAIR_ROWS_PER_PASS];
        int[] rb = new int[PAIR_BLOCK_N / PAIR_ROWS_PER_PASS];
        mmaGemmPairs(ctx, as, bs, acc, af, bf, ra, rb, a, bt, c, m, n, k, true);
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
        int[] as = ctx.allocateIntLocalArray(2 * PAIR_A_TILE);
        int[] bs = ctx.allocateIntLocalArray(2 * PAIR_B_TILE);
        float[] acc = new float[PAIR_WARP_M_TILES * PAIR_WARP_N_TILES * KernelContext.MMA_C_FRAGMENT];
        short[] af = new short[PAIR_WARP_M_TILES * KernelContext.MMA_A_FRAGMENT];
        short[] bf = new short[PAIR_WARP_N_TILES * KernelContext.MMA_B_FRAGMENT];
        int[] ra = new int[PAIR_BLOCK_M / PAIR_ROWS_PER_PASS];
        int[] rb = new int[PAIR_BLOCK_N / PAIR_ROWS_PER_PASS];
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
        int warpRow = warp / PAIR_WARPS_N * (PAIR_WARP_M_TILES * 16);
        int warpCol = warp % PAIR_WARPS_N * (PAIR_WARP_N_TILES * 8);
        int rowBase = ctx.groupIdy * PAIR_BLOCK_M;
        int colBase = ctx.groupIdx * PAIR_BLOCK_N;
        int kp = k >> 1;
        int loadRow = tid / PAIR_KP;
        int loadCol = tid % PAIR_KP;
        // loadRow + PAIR_ROWS_PER_PASS * e keeps loadRow's swizzle: one slot serves every row this work-item stores
        int storeAt = loadRow * PAIR_KP + pairSlot(loadRow, loadCol);
        // this lane's fragment origins (pairSlot for k pair 2 tq of rows g, g + 8, g + 16, ...: same swizzle)
        int swizzle = PAIR_KP > 8 ? ((g >> 1) & 1) << 3 : 0;
        int aFragment = (warpRow + g) * PAIR_KP + 2 * tq;
        int bFragment = (warpCol + g) * PAIR_KP + 2 * tq;
        boolean rowsInside = rowBase + PAIR_BLOCK_M <= m;
        boolean colsInside = colBase + PAIR_BLOCK_N <= n;
        loadPairs(a, ra, PAIR_BLOCK_M, rowBase + loadRow, m, kp, loadCol, rowsInside && PAIR_KP <= kp);
        loadPairs(bt, rb, PAIR_BLOCK_N, colBase + loadRow, n, kp, loadCol, colsInside && PAIR_KP <= kp);
        storePairs(as, ra, PAIR_BLOCK_M, storeAt);
        storePairs(bs, rb, PAIR_BLOCK_N, storeAt);
        ctx.localBarrier();
        for (int tp = 0; tp < kp; tp += PAIR_KP) {
            int next = tp + PAIR_KP;
            // derived from tp (not toggled) so the compiler sees even fragment indices: 64-bit local loads
            int odd = tp / PAIR_KP & 1;
            int aCur = odd * PAIR_A_TILE;
            int bCur = odd * PAIR_B_TILE;
            if (next < kp) {
                // issued now, consumed after the MMAs: the loads' latency hides behind the tensor-core work
                loadPairs(a, ra, PAIR_BLOCK_M, rowBase + loadRow, m, kp, next + loadCol,
                        rowsInside && next + PAIR_KP <= kp);
                loadPairs(bt, rb, PAIR_BLOCK_N, colBase + loadRow, n, kp, next + loadCol,
                        colsInside && next + PAIR_KP <= kp);
            }
            // a loop, not written out: unrolled, the two steps' fragments take 152 registers, one work-group per
            // multiprocessor instead of two
            for (int ks = 0; ks < PAIR_KP; ks += 8) {
                pairStep(ctx, as, bs, af, bf, acc, aCur + aFragment + (ks ^ swizzle), bCur + bFragment + (ks ^ swizzle),
                        bf16);
            }
            if (next < kp) {
                // the other buffers were last read before the previous barrier
                storePairs(as, ra, PAIR_BLOCK_M, PAIR_A_TILE - aCur + storeAt);
                storePairs(bs, rb, PAIR_BLOCK_N, PAIR_B_TILE - bCur + storeAt);
            }
            ctx.localBarrier();
        }
        storeAccumulators(ctx, acc, PAIR_WARP_M_TILES, PAIR_WARP_N_TILES, c, m, n, rowBase + warpRow,
                colBase + warpCol);
    }

    /**
     * One 16-k step of a warp's 32x64: fragments from the local tiles at {@code aAt} and {@code bAt} (this lane's
     * row g and k pair 2t, swizzle applied), then 2x8 MMAs.
     */
    private static void pairStep(KernelContext ctx, int[] as, int[] bs, short[] af, short[] bf, float[] acc,
            int aAt, int bAt, boolean bf16) {
        for (int i = 0; i < PAIR_WARP_M_TILES; i++) {
            // pairs t and t + 4 are adjacent (pairSlot): one 64-bit load for each of rows g and g + 8
            int at = aAt + i * 16 * PAIR_KP;
            int f = i * KernelContext.MMA_A_FRAGMENT;
            splitPair(as[at], af, f);
            splitPair(as[at + 8 * PAIR_KP], af, f + 2);
            splitPair(as[at + 1], af, f + 4);
            splitPair(as[at + 8 * PAIR_KP + 1], af, f + 6);
        }
        for (int j = 0; j < PAIR_WARP_N_TILES; j++) {
            int at = bAt + j * 8 * PAIR_KP;
            int f = j * KernelContext.MMA_B_FRAGMENT;
            splitPair(bs[at], bf, f);
            splitPair(bs[at + 1], bf, f + 2);
        }
        for (int i = 0; i < PAIR_WARP_M_TILES; i++) {
            for (int j = 0; j < PAIR_WARP_N_TILES; j++) {
                int fa = i * KernelContext.MMA_A_FRAGMENT;
                int fb = j * KernelContext.MMA_B_FRAGMENT;
                int fc = (i * PAIR_WARP_N_TILES + j) * KernelContext.MMA_C_FRAGMENT;
                if (bf16) {
                    ctx.mmaBF16(af, fa, bf, fb, acc, fc);
                } else {
                    ctx.mmaF16(af, fa, bf, fb, acc, fc);
                }
            }
        }
    }

    /**
     * Loads one operand's share of a k-tile of int pairs into registers: rows {@code row0 + 16 * e} for
     * {@code e < tileRows / 16}, int column {@code col}; without checks when the whole tile is inside
     * ({@code inside}), else zero outside.
     */
    private static void loadPairs(IntArray src, int[] regs, int tileRows, int row0, int rows, int kp, int col,
            boolean inside) {
        if (inside) {
            for (int e = 0; e < tileRows / PAIR_ROWS_PER_PASS; e++) {
                regs[e] = src.get((row0 + e * PAIR_ROWS_PER_PASS) * kp + col);
            }
        } else {
            for (int e = 0; e < tileRows / PAIR_ROWS_PER_PASS; e++) {
                int row = row0 + e * PAIR_ROWS_PER_PASS;
                regs[e] = row < rows && col < kp ? src.get(row * kp + col) : 0;
            }
        }
    }

    /**
     * Where k pair {@code p} of tile row {@code row} sits within the row: within each group of 8 pairs (16 k)
     * the order is 0 4 1 5 2 6 3 7, so the pairs t and t + 4 that an MMA fragment takes lie side by side; rows
     * 2 and 3 of every 4 swap the two groups (rows of 16 ints), so the four rows a half-warp's 64-bit loads touch
     * cover all banks; rows of 8 ints (a 16-k tile) cover them unswizzled.
     */
    private static int pairSlot(int row, int p) {
        int swizzle = PAIR_KP > 8 ? ((row >> 1) & 1) << 3 : 0;
        return ((p & ~7) ^ swizzle) | ((p & 3) << 1) | ((p >> 2) & 1);
    }

    /** Stores a work-item's loaded ints into a local tile from {@code at}, 16 rows apart. */
    private static void storePairs(int[] tile, int[] regs, int tileRows, int at) {
        for (int e = 0; e < tileRows / PAIR_ROWS_PER_PASS; e++) {
            tile[at + e * PAIR_ROWS_PER_PASS * PAIR_KP] = regs[e];
        }
    }

    /** Splits two packed 16-bit values into fragment elements {@code at} (low half) and {@code at + 1}. */
    private static void splitPair(int pair, short[] fragment, int at) {
        fragment[at] = (short) pair;
        fragment[at + 1] = (short) (pair >>> 16);
    }

    /** Writes a warp's mTiles x nTiles accumulator fragments to C at (row0, col0), guarding the edges. */
    private static void storeAccumulators(KernelContext ctx, float[] acc, int mTiles, int nTiles, FloatArray c, int m,
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
