package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.annotations.Constant;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

/**
 * Block-sparse FlashAttention forward on tensor cores (FA2 style) with bf16 or f16 inputs, f32 accumulation and
 * f32 outputs, and the logsumexp saved for the backward; semantics as {@link FlashForwardKernels} (CSR mask lists,
 * query blocks of {@link #QUERY_BLOCK}, key blocks of {@link #KEY_BLOCK}, natural-log lse, keys at or past n are
 * -inf, rows at or past n not written, a row keeping no block gets {@code o = 0} and {@code lse = -inf}). Dense
 * attention is the same kernel over a mask that keeps every block.
 *
 * <p>Inputs q, k, v are (heads, n, d) bf16 or f16 arrays read through int views (two elements per int, element
 * {@code 2i} in the low half: {@code IntArray.fromSegmentShallow(x.getSegment())}); o is (heads, n, d) f32 and lse
 * (heads, n) f32.
 *
 * <p>One work-group of {@link #GROUP} work-items (eight warps) per mask row; warp w owns query rows
 * {@code 16 w .. 16 w + 15} of the block. Its Q A-fragments (m16n8k16, PTX layout) are loaded from global memory
 * once and stay in registers as packed pairs. Per kept key block: {@code S = Q Kᵀ} (8 n-tiles of 8 keys, d/16 MMAs
 * each) from K staged row-major in local memory as int pairs (the Bᵀ layout of {@code GemmKernels}); the online
 * softmax on the C fragments (row maxima over the four lanes of a row by {@code simdShuffleXor(1)}, {@code (2)};
 * each lane keeps partial row sums, combined once at the end); {@code P = exp(S·scale - m·scale)} rounded to
 * bf16/f16 and packed straight into A fragments (n-tiles 2i and 2i+1 of S are k-step i of P V); {@code O += P V}
 * with V staged transposed in local memory as key pairs (keys 2p and 2p+1 of one column in one int). At the end
 * {@code o = O / l}, {@code lse = m·scale + log(l)}. The exponentials are
 * {@code exp2Ftz(fma(s, scale·log2(e), -m·scale·log2(e)))}: one fma and one {@code ex2.approx.ftz} per score
 * ({@link KernelMath#exp2Ftz}: a term below 2^-126 becomes 0, where it adds nothing to a row sum of at least 1;
 * {@code exp2} spent three more instructions per score on such terms).
 *
 * <p>Local tiles: both 64 keys x d bf16 (32 KiB at any d), one buffer each; the next kept block's K and V are
 * fetched into registers while the current block is multiplied (two barriers per block: K is overwritten after
 * S, V after P V). Layout: a row's 16-pair chunks put pairs {@code t, t+4, t+8, t+12} side by side so that one
 * 128-bit load gives lane t the B fragments of two k-steps; a per-row swizzle (unit and word XOR, see
 * {@link #keySlot} and {@link #valueSlot}) keeps those loads and the 32-bit tile stores free of bank conflicts.
 * Global loads are 32-bit and coalesced (128 bytes per warp instruction). With the MMA fallback's 6 KiB scratch
 * (devices without tensor cores) the group uses 38 KiB of static local memory, under the JIT's 48 KiB.
 *
 * <p>P is rounded to 16 bits before P V while l sums the unrounded p (as FA2): the output's extra error is at most
 * the format's unit roundoff times {@code sum p |v| / l} (2^-8 for bf16, 2^-11 for f16, plus 2^-25 per key for f16
 * subnormals).
 *
 * <p>nvcc 13 for sm_90 (ptxas -v, {@code FlashForwardMmaKernelsTest}): registers 253 (bf16, d = 128), 251 (f16,
 * d = 128), 180 (bf16, d = 64), 163 (f16, d = 64); no spills, no stack frame; 32 KiB static shared memory. So one
 * work-group (8 warps) per multiprocessor. SASS of one trip of the key-block loop (bf16, d = 128, a whole tile, no
 * new row maximum): 128 HMMA.16816, 32 LDS.128 (K) and 16 LDS.128 + 32 LDS.64 (V), 32 STS, 32 LDG, 34 MUFU.EX2,
 * about 830 instructions in all while the accurate {@code expf} cost 9 of them per score (before exp2; measured
 * before exp2Ftz, which leaves one per score). Each warp
 * reads the whole K and V tiles (32 KiB) per trip: 8 warps x 256 wavefronts plus the tile stores, about 2300
 * shared-memory cycles per trip per multiprocessor, likely the bound (16 query rows per warp; 32 would halve it but
 * needs more registers than there are with Q in registers). Launch: 1D grid {@code heads * ceil(n / 128) * 256}, local
 * size 256 ({@link FlashForwardMmaTasks}).
 */
public final class FlashForwardMmaKernels {
    /** Query rows per work-group (the mask's query block). */
    /** log2(e), folded into the softmax scale so that scores go through exp2. */
    private static final float LOG2E = 1.4426950408889634f;
    public static final int QUERY_BLOCK = 128;
    /** Keys per kept block (the mask's key block). */
    public static final int KEY_BLOCK = 64;
    /** Work-items per work-group: eight warps of 16 query rows. */
    public static final int GROUP = 256;

    private static final int WARP_ROWS = 16;
    private static final int MAX_D = 128;
    /** Ints of the K tile (64 keys x d/2 pairs) and of the transposed V tile (d columns x 32 key pairs). */
    private static final int TILE_INTS = KEY_BLOCK * MAX_D / 2;
    /** Ints per transposed V row: 64 keys as 32 pairs. */
    private static final int V_ROW = KEY_BLOCK / 2;
    /** n-tiles (8 keys) of S per key block. */
    private static final int S_TILES = KEY_BLOCK / 8;
    /** Ints of a lane's Q fragments at d = 128: d/16 k-steps x 4. */
    private static final int MAX_Q_INTS = MAX_D / 4;
    /** Floats of a lane's O accumulator at d = 128: d/8 n-tiles x 4. */
    private static final int MAX_ACC = MAX_D / 2;
    /** Ints each work-item fetches per tile (K, and V) at d = 128. */
    private static final int MAX_LOADS = TILE_INTS / GROUP;

    private FlashForwardMmaKernels() {
    }

    /**
     * bf16 forward at d = 64; see {@link #flashForward128BF16} for the arguments.
     */
    public static void flashForward64BF16(KernelContext ctx, IntArray q, IntArray k, IntArray v, FloatArray o,
            FloatArray lse, IntArray rowStart, IntArray rowBlocks, int n, float scale) {
        forward(ctx, q, k, v, o, lse, rowStart, rowBlocks, n, scale, 64, true);
    }

    /**
     * Block-sparse attention forward at d = 128 on bf16 inputs over the kept blocks of each row.
     *
     * @param ctx the work-item
     * @param q queries (heads, n, d) bf16, as an int view (pairs)
     * @param k keys (heads, n, d) bf16, as an int view
     * @param v values (heads, n, d) bf16, as an int view
     * @param o output (heads, n, d) f32, every element written
     * @param lse natural-log logsumexp of each query's scaled scores over the kept keys (heads, n), every element
     *     written
     * @param rowStart CSR offsets of the kept key blocks per row {@code bh * ceil(n / 128) + i} (rows + 1)
     * @param rowBlocks kept key-block indices of each row, ascending
     * @param n tokens per head (queries and keys)
     * @param scale softmax scale applied to q kᵀ (usually 1/sqrt(d))
     */
    public static void flashForward128BF16(KernelContext ctx, IntArray q, IntArray k, IntArray v, FloatArray o,
            FloatArray lse, IntArray rowStart, IntArray rowBlocks, int n, float scale) {
        forward(ctx, q, k, v, o, lse, rowStart, rowBlocks, n, scale, 128, true);
    }

    /**
     * f16 forward at d = 64; see {@link #flashForward128BF16} for the arguments (f16 instead of bf16).
     */
    public static void flashForward64F16(KernelContext ctx, IntArray q, IntArray k, IntArray v, FloatArray o,
            FloatArray lse, IntArray rowStart, IntArray rowBlocks, int n, float scale) {
        forward(ctx, q, k, v, o, lse, rowStart, rowBlocks, n, scale, 64, false);
    }

    /**
     * f16 forward at d = 128; see {@link #flashForward128BF16} for the arguments (f16 instead of bf16).
     */
    public static void flashForward128F16(KernelContext ctx, IntArray q, IntArray k, IntArray v, FloatArray o,
            FloatArray lse, IntArray rowStart, IntArray rowBlocks, int n, float scale) {
        forward(ctx, q, k, v, o, lse, rowStart, rowBlocks, n, scale, 128, false);
    }

    /** The kernel body; d and bf16 are constants at each call, so the JIT folds them and the loops unroll. */
    private static void forward(KernelContext ctx, IntArray q, IntArray k, IntArray v, FloatArray o, FloatArray lse,
            IntArray rowStart, IntArray rowBlocks, int n, float scale, int d, boolean bf16) {
        int[] ks = ctx.allocateIntLocalArray(TILE_INTS);
        int[] vs = ctx.allocateIntLocalArray(TILE_INTS);
        int[] qf = new int[MAX_Q_INTS];
        float[] s = new float[S_TILES * KernelContext.MMA_C_FRAGMENT];
        int[] pf = new int[S_TILES * 2];
        float[] acc = new float[MAX_ACC];
        int[] rk = new int[MAX_LOADS];
        int[] rv = new int[MAX_LOADS];
        short[] af = new short[KernelContext.MMA_A_FRAGMENT];
        short[] bf = new short[KernelContext.MMA_B_FRAGMENT];
        // exp(x) = exp2(x log2 e): the scores' scale takes log2(e), so each score costs one fma and one exp2
        float scale2 = scale * LOG2E;
        int tid = ctx.localIdx;
        int warp = tid >> 5;
        int g = (tid & 31) >> 2;
        int t = tid & 3;
        int dp = d / 2;
        int nq = (n + QUERY_BLOCK - 1) / QUERY_BLOCK;
        int row = ctx.groupIdx;
        int bh = row / nq;
        int q0 = (row % nq) * QUERY_BLOCK;
        int head = bh * n * dp;
        int r0 = q0 + warp * WARP_ROWS + g;
        loadQuery(q, qf, head, r0, n, dp, t);
        // Tile roles: the K loads cover whole rows of dp ints; the V loads pair two key rows per int column, a warp
        // taking 16 adjacent columns of two key pairs 4 apart (lane bit 4 is pair bit 2), so that its transposed
        // stores hit 32 banks.
        int loadCol = tid % dp;
        int loadRow = tid / dp;
        int rowStep = GROUP / dp;
        int kStore = keySlot(loadRow, loadCol, dp);
        int lane = tid & 31;
        int vCol = (warp % (dp / 16)) * 16 + (lane & 15);
        int qw = warp / (dp / 16);
        int pThread = (qw & 3) | ((qw >> 2) << 3) | ((lane >> 4) << 2);
        int vStoreLo = valueSlot(2 * vCol, pThread);
        int vStoreHi = valueSlot(2 * vCol + 1, pThread);
        // This lane's fragment reads: K row g of each n-tile, unit t of each chunk, the chunk flipped on odd rows.
        int kRead = g * dp + 4 * t;
        int kFlip = (g & 1) << 4;
        // V row 8 jd + g, unit t XOR bits 1-2 of g; the chunk bit XOR (g & 1) XOR (jd & 1) XOR cc picks the base
        int vRead = g * V_ROW + 4 * (t ^ ((g >> 1) & 3));
        int vRead0 = vRead + 16 * (g & 1);
        int vRead1 = vRead + 16 - 16 * (g & 1);
        float m0 = Float.NEGATIVE_INFINITY;
        float m1 = Float.NEGATIVE_INFINITY;
        float l0 = 0f;
        float l1 = 0f;
        int begin = rowStart.get(row);
        int end = rowStart.get(row + 1);
        if (begin < end) {
            int k0 = rowBlocks.get(begin) * KEY_BLOCK;
            loadKeys(k, rk, head, k0, loadRow, loadCol, rowStep, n, dp);
            loadValues(v, rv, head, k0, pThread, vCol, n, dp);
            storeTile(ks, rk, kStore, rowStep * dp, dp);
            storeValues(vs, rv, vStoreLo, vStoreHi, dp);
            ctx.localBarrier();
        }
        for (int e = begin; e < end; e++) {
            int k0 = rowBlocks.get(e) * KEY_BLOCK;
            boolean more = e + 1 < end;
            if (more) {
                // issued now, stored after the barriers: the loads' latency hides behind the tensor-core work
                int next = rowBlocks.get(e + 1) * KEY_BLOCK;
                loadKeys(k, rk, head, next, loadRow, loadCol, rowStep, n, dp);
                loadValues(v, rv, head, next, pThread, vCol, n, dp);
            }
            scores(ctx, ks, qf, s, af, bf, kRead, kFlip, dp, bf16);
            if (k0 + KEY_BLOCK > n) {
                for (int j = 0; j < S_TILES; j++) {
                    for (int c = 0; c < KernelContext.MMA_C_FRAGMENT; c++) {
                        if (k0 + 8 * j + 2 * t + (c & 1) >= n) {
                            s[4 * j + c] = Float.NEGATIVE_INFINITY;
                        }
                    }
                }
            }
            // Row maxima: this lane's 16 scores of rows g and g + 8, then over the row's four lanes.
            float x0 = m0;
            float x1 = m1;
            for (int j = 0; j < S_TILES; j++) {
                x0 = KernelMath.max(x0, KernelMath.max(s[4 * j], s[4 * j + 1]));
                x1 = KernelMath.max(x1, KernelMath.max(s[4 * j + 2], s[4 * j + 3]));
            }
            x0 = KernelMath.max(x0, ctx.simdShuffleXor(x0, 1));
            x0 = KernelMath.max(x0, ctx.simdShuffleXor(x0, 2));
            x1 = KernelMath.max(x1, ctx.simdShuffleXor(x1, 1));
            x1 = KernelMath.max(x1, ctx.simdShuffleXor(x1, 2));
            // A row that has seen only -inf keeps zeros instead of exp(-inf + inf) = NaN.
            float base0 = x0 == Float.NEGATIVE_INFINITY ? 0f : x0 * scale2;
            float base1 = x1 == Float.NEGATIVE_INFINITY ? 0f : x1 * scale2;
            float alpha0 = KernelMath.exp2Ftz(m0 * scale2 - base0);
            float alpha1 = KernelMath.exp2Ftz(m1 * scale2 - base1);
            m0 = x0;
            m1 = x1;
            float sum0 = 0f;
            float sum1 = 0f;
            for (int j = 0; j < S_TILES; j++) {
                float p0 = KernelMath.exp2Ftz(KernelMath.fma(s[4 * j], scale2, -base0));
                float p1 = KernelMath.exp2Ftz(KernelMath.fma(s[4 * j + 1], scale2, -base0));
                float p2 = KernelMath.exp2Ftz(KernelMath.fma(s[4 * j + 2], scale2, -base1));
                float p3 = KernelMath.exp2Ftz(KernelMath.fma(s[4 * j + 3], scale2, -base1));
                sum0 += p0 + p1;
                sum1 += p2 + p3;
                // n-tile j's row g pair and row g + 8 pair: A-fragment ints of k-step j / 2 (see pv)
                pf[2 * j] = bf16 ? bf16Pair(p0, p1) : f16Pair(p0, p1);
                pf[2 * j + 1] = bf16 ? bf16Pair(p2, p3) : f16Pair(p2, p3);
            }
            l0 = l0 * alpha0 + sum0;
            l1 = l1 * alpha1 + sum1;
            if (alpha0 != 1f || alpha1 != 1f) {
                // once the row maxima settle, most blocks skip the rescale
                for (int j = 0; j < dp / 4; j++) {
                    acc[4 * j] *= alpha0;
                    acc[4 * j + 1] *= alpha0;
                    acc[4 * j + 2] *= alpha1;
                    acc[4 * j + 3] *= alpha1;
                }
            }
            ctx.localBarrier();
            if (more) {
                // every warp has read K: overwrite it with the next block's
                storeTile(ks, rk, kStore, rowStep * dp, dp);
            }
            pv(ctx, vs, pf, acc, af, bf, vRead0, vRead1, dp, bf16);
            ctx.localBarrier();
            if (more) {
                // every warp has read V; the next P V comes after the next block's first barrier
                storeValues(vs, rv, vStoreLo, vStoreHi, dp);
            }
        }
        l0 += ctx.simdShuffleXor(l0, 1);
        l0 += ctx.simdShuffleXor(l0, 2);
        l1 += ctx.simdShuffleXor(l1, 1);
        l1 += ctx.simdShuffleXor(l1, 2);
        float inv0 = l0 > 0f ? 1f / l0 : 0f;
        float inv1 = l1 > 0f ? 1f / l1 : 0f;
        int out0 = (bh * n + r0) * d + 2 * t;
        int out1 = out0 + 8 * d;
        for (int j = 0; j < dp / 4; j++) {
            if (r0 < n) {
                o.set(out0 + 8 * j, acc[4 * j] * inv0);
                o.set(out0 + 8 * j + 1, acc[4 * j + 1] * inv0);
            }
            if (r0 + 8 < n) {
                o.set(out1 + 8 * j, acc[4 * j + 2] * inv1);
                o.set(out1 + 8 * j + 1, acc[4 * j + 3] * inv1);
            }
        }
        if (t == 0) {
            if (r0 < n) {
                lse.set(bh * n + r0, l0 > 0f ? m0 * scale + KernelMath.log(l0) : Float.NEGATIVE_INFINITY);
            }
            if (r0 + 8 < n) {
                lse.set(bh * n + r0 + 8, l1 > 0f ? m1 * scale + KernelMath.log(l1) : Float.NEGATIVE_INFINITY);
            }
        }
    }

    /** Buffers of the asynchronous kernels' ring: K(e), V(e) and the next tile in flight, each 64 keys x d/2. */
    private static final int RING_SLOTS = 3;

    /**
     * The forward of {@link #flashForward128BF16} fed by {@code cp.async} and {@code ldmatrix} instead of register
     * staging: K and V tiles go from global to local memory without passing through registers
     * ({@link KernelContext#asyncCopy16}) into a ring of three tile buffers (48 KiB at d = 128, 24 KiB at d = 64):
     * the tiles K(e), V(e), K(e+1), V(e+1), ... take slots 0, 1, 2, 0, ... so that while S = Q Kᵀ runs on K(e) the
     * copy of K(e+1) is in flight, and while P V runs on V(e) the copy of V(e+1) is (the next kept block's index
     * comes from rowBlocks). Two barriers per block, as the register kernel: each also frees the slot the next copy
     * overwrites.
     *
     * <p>K is stored chunk-major (16-byte chunk c of key r at {@code 256 c + 4 r}), so that one
     * {@link KernelContext#mmaLoadMatrixX4} gives the B fragments of two n-tiles for one k-step with every bank
     * once. V stays key-major (there is no transposed {@code ldmatrix} in the kernel language), rows of d/2 ints with
     * chunk c of key r at chunk {@code c ^ (r & 6)}: lane (g, t) reads int column {@code 8u + g} of keys 2t, 2t+1,
     * 2t+8, 2t+9 of a k-step (32-bit loads, every bank once) and splits each int's two columns into the B fragments
     * of two n-tiles. So n-tile 2u of O holds d columns {@code 16u + 2n} and n-tile 2u+1 columns {@code 16u + 2n + 1}
     * (n = 0..7): a lane writes four adjacent output columns {@code 16u + 4t ..}.
     *
     * <p>Semantics, arguments and grid as {@link #flashForward128BF16} (one work-group of {@link #GROUP} per mask
     * row); q, k, v must start 16-byte aligned, as device buffers do.
     *
     * <p>nvcc 13 for sm_90 ({@code FlashForwardMmaAsyncTest}): 215 registers at d = 128 (bf16 and f16), 128 / 126 at
     * d = 64; no spills, no stack frame; 48 KiB (d = 128) or 24 KiB (d = 64) of static shared memory. Per kept block
     * the PTX has 32 (d = 128) {@code ldmatrix.x4} for K and 128 32-bit shared loads for V. Selected by
     * {@code SPARGE_FLASH_MMA_VARIANT=async} ({@link FlashForwardMmaTasks.Variant#ASYNC}).
     *
     * @param ctx the work-item
     * @param q queries (heads, n, d) bf16, as an int view (pairs)
     * @param k keys (heads, n, d) bf16, as an int view
     * @param v values (heads, n, d) bf16, as an int view
     * @param o output (heads, n, d) f32, every element written
     * @param lse natural-log logsumexp per query (heads, n), every element written
     * @param rowStart CSR offsets of the kept key blocks per row (rows + 1)
     * @param rowBlocks kept key-block indices of each row, ascending
     * @param n tokens per head (queries and keys)
     * @param scale softmax scale applied to q kᵀ
     * @param d head dimension, 64 or 128 (a compile-time constant)
     */
    public static void flashForwardAsyncBF16(KernelContext ctx, IntArray q, IntArray k, IntArray v, FloatArray o,
            FloatArray lse, IntArray rowStart, IntArray rowBlocks, int n, float scale, @Constant int d) {
        forwardAsync(ctx, q, k, v, o, lse, rowStart, rowBlocks, n, scale, d, true);
    }

    /**
     * {@link #flashForwardAsyncBF16} on f16 inputs.
     *
     * @param ctx the work-item
     * @param q queries (heads, n, d) f16, as an int view (pairs)
     * @param k keys (heads, n, d) f16, as an int view
     * @param v values (heads, n, d) f16, as an int view
     * @param o output (heads, n, d) f32, every element written
     * @param lse natural-log logsumexp per query (heads, n), every element written
     * @param rowStart CSR offsets of the kept key blocks per row (rows + 1)
     * @param rowBlocks kept key-block indices of each row, ascending
     * @param n tokens per head (queries and keys)
     * @param scale softmax scale applied to q kᵀ
     * @param d head dimension, 64 or 128 (a compile-time constant)
     */
    public static void flashForwardAsyncF16(KernelContext ctx, IntArray q, IntArray k, IntArray v, FloatArray o,
            FloatArray lse, IntArray rowStart, IntArray rowBlocks, int n, float scale, @Constant int d) {
        forwardAsync(ctx, q, k, v, o, lse, rowStart, rowBlocks, n, scale, d, false);
    }

    /** The asynchronous kernels' body (see {@link #flashForwardAsyncBF16}). */
    private static void forwardAsync(KernelContext ctx, IntArray q, IntArray k, IntArray v, FloatArray o,
            FloatArray lse, IntArray rowStart, IntArray rowBlocks, int n, float scale, int d, boolean bf16) {
        int[] ring = ctx.allocateIntLocalArray(RING_SLOTS * KEY_BLOCK * (d / 2));
        int[] qf = new int[MAX_Q_INTS];
        float[] s = new float[S_TILES * KernelContext.MMA_C_FRAGMENT];
        int[] pf = new int[S_TILES * 2];
        float[] acc = new float[MAX_ACC];
        int[] kb = new int[4];
        float[] stats = new float[4];
        short[] af = new short[KernelContext.MMA_A_FRAGMENT];
        short[] bf = new short[KernelContext.MMA_B_FRAGMENT];
        float scale2 = scale * LOG2E;
        int tid = ctx.localIdx;
        int warp = tid >> 5;
        int g = (tid & 31) >> 2;
        int t = tid & 3;
        int dp = d / 2;
        int tile = KEY_BLOCK * dp;
        int nq = (n + QUERY_BLOCK - 1) / QUERY_BLOCK;
        int row = ctx.groupIdx;
        int bh = row / nq;
        int q0 = (row % nq) * QUERY_BLOCK;
        int head = bh * n * dp;
        int r0 = q0 + warp * WARP_ROWS + g;
        loadQuery(q, qf, head, r0, n, dp, t);
        // V reads: keys 2t (+1, +8, +9) of each k-step, int column 8u + g at chunk (2u | g >> 2) ^ 2t
        int vLane = 2 * t * dp + (g & 3);
        int vXor = (g >> 2) | (2 * t);
        stats[0] = Float.NEGATIVE_INFINITY;
        stats[1] = Float.NEGATIVE_INFINITY;
        stats[2] = 0f;
        stats[3] = 0f;
        int begin = rowStart.get(row);
        int end = rowStart.get(row + 1);
        if (begin < end) {
            int k0 = rowBlocks.get(begin) * KEY_BLOCK;
            copyKeys(ctx, ring, 0, k, head, k0, n, dp, tid);
            ctx.asyncCommit();
            copyValues(ctx, ring, tile, v, head, k0, n, dp, tid);
            ctx.asyncCommit();
        }
        // slot of K(e); V(e) is the next slot, K(e+1) the one after, V(e+1) K(e)'s
        int cur = 0;
        for (int e = begin; e < end; e++) {
            int kSlot = cur * tile;
            int vSlot = (cur == 2 ? 0 : cur + 1) * tile;
            int nSlot = (cur == 0 ? 2 : cur - 1) * tile;
            boolean more = e + 1 < end;
            int next = more ? rowBlocks.get(e + 1) * KEY_BLOCK : 0;
            // K(e) landed (only V(e) may still be in flight) and every warp is done with V(e-1): reuse its slot
            ctx.asyncWait(1);
            ctx.localBarrier();
            if (more) {
                copyKeys(ctx, ring, nSlot, k, head, next, n, dp, tid);
            }
            ctx.asyncCommit();
            scoresAsync(ctx, ring, kSlot, qf, s, kb, af, bf, dp, bf16);
            softmaxStep(ctx, s, pf, acc, stats, rowBlocks.get(e) * KEY_BLOCK, n, t, scale2, dp, bf16);
            // V(e) landed (only K(e+1) may still be in flight) and every warp is done with K(e): reuse its slot
            ctx.asyncWait(1);
            ctx.localBarrier();
            if (more) {
                copyValues(ctx, ring, kSlot, v, head, next, n, dp, tid);
            }
            ctx.asyncCommit();
            pvAsync(ctx, ring, vSlot + vLane, vXor, pf, acc, af, bf, dp, bf16);
            cur = cur == 0 ? 2 : cur - 1;
        }
        float l0 = stats[2];
        float l1 = stats[3];
        l0 += ctx.simdShuffleXor(l0, 1);
        l0 += ctx.simdShuffleXor(l0, 2);
        l1 += ctx.simdShuffleXor(l1, 1);
        l1 += ctx.simdShuffleXor(l1, 2);
        float inv0 = l0 > 0f ? 1f / l0 : 0f;
        float inv1 = l1 > 0f ? 1f / l1 : 0f;
        int out0 = (bh * n + r0) * d + 4 * t;
        int out1 = out0 + 8 * d;
        for (int u = 0; u < dp / 8; u++) {
            // n-tiles 2u (even columns) and 2u + 1 (odd columns) interleave into columns 16u + 4t .. 16u + 4t + 3
            if (r0 < n) {
                o.set(out0 + 16 * u, acc[8 * u] * inv0);
                o.set(out0 + 16 * u + 1, acc[8 * u + 4] * inv0);
                o.set(out0 + 16 * u + 2, acc[8 * u + 1] * inv0);
                o.set(out0 + 16 * u + 3, acc[8 * u + 5] * inv0);
            }
            if (r0 + 8 < n) {
                o.set(out1 + 16 * u, acc[8 * u + 2] * inv1);
                o.set(out1 + 16 * u + 1, acc[8 * u + 6] * inv1);
                o.set(out1 + 16 * u + 2, acc[8 * u + 3] * inv1);
                o.set(out1 + 16 * u + 3, acc[8 * u + 7] * inv1);
            }
        }
        if (t == 0) {
            float m0 = stats[0];
            float m1 = stats[1];
            if (r0 < n) {
                lse.set(bh * n + r0, l0 > 0f ? m0 * scale + KernelMath.log(l0) : Float.NEGATIVE_INFINITY);
            }
            if (r0 + 8 < n) {
                lse.set(bh * n + r0 + 8, l1 > 0f ? m1 * scale + KernelMath.log(l1) : Float.NEGATIVE_INFINITY);
            }
        }
    }

    /**
     * Requests K tile {@code k0 ..} into the chunk-major slot at {@code at}: copy id takes key
     * {@code 8 (id / (8 chunks)) + id % 8} and chunk {@code (id / 8) % chunks}, so eight consecutive copies fill 128
     * consecutive local bytes; keys at or past n repeat key n - 1 (finite data: their scores are masked to -inf).
     */
    private static void copyKeys(KernelContext ctx, int[] ring, int at, IntArray k, int head, int k0, int n, int dp,
            int tid) {
        int chunks = dp / 4;
        for (int e = 0; e < KEY_BLOCK * chunks / GROUP; e++) {
            int id = tid + e * GROUP;
            int r = id / (8 * chunks) * 8 + (id & 7);
            int c = (id >> 3) % chunks;
            ctx.asyncCopy16(ring, at + c * (KEY_BLOCK * 4) + r * 4, k,
                    head + KernelMath.min(k0 + r, n - 1) * dp + 4 * c, 4);
        }
    }

    /**
     * Requests V tile {@code k0 ..} into the key-major slot at {@code at} (whole rows per warp, chunk c of key r at
     * chunk {@code c ^ (r & 6)}); keys at or past n repeat key n - 1: finite, so their P of exactly 0 keeps them out
     * (zero-filled copies, {@code validInts < 4}, gave NaN on PoCL when one copy loop mixed valid and zeroed rows;
     * the emulator agreed with float64, so this sidesteps what looks like a PoCL or fallback problem).
     */
    private static void copyValues(KernelContext ctx, int[] ring, int at, IntArray v, int head, int k0, int n, int dp,
            int tid) {
        int chunks = dp / 4;
        for (int e = 0; e < KEY_BLOCK * chunks / GROUP; e++) {
            int id = tid + e * GROUP;
            int r = id / chunks;
            int c = id % chunks;
            ctx.asyncCopy16(ring, at + r * dp + 4 * (c ^ (r & 6)), v,
                    head + KernelMath.min(k0 + r, n - 1) * dp + 4 * c, 4);
        }
    }

    /**
     * {@code s = Q Kᵀ} (unscaled) from the chunk-major K slot at {@code at}: per k-step (two chunks) and pair of
     * n-tiles one {@code ldmatrix.x4}: matrices (keys 16jj.., chunk 2ks), (same keys, chunk 2ks + 1), then keys
     * 16jj + 8...
     */
    private static void scoresAsync(KernelContext ctx, int[] ring, int at, int[] qf, float[] s, int[] kb, short[] af,
            short[] bf, int dp, boolean bf16) {
        for (int i = 0; i < S_TILES * KernelContext.MMA_C_FRAGMENT; i++) {
            s[i] = 0f;
        }
        for (int ks = 0; ks < dp / 8; ks++) {
            splitQuery(qf, 4 * ks, af);
            for (int jj = 0; jj < S_TILES / 2; jj++) {
                ctx.mmaLoadMatrixX4(ring, at + 2 * ks * (KEY_BLOCK * 4) + 64 * jj, 4, KEY_BLOCK * 4, 32, kb, 0);
                splitPair(kb[0], bf, 0);
                splitPair(kb[1], bf, 2);
                mma(ctx, af, bf, s, 8 * jj, bf16);
                splitPair(kb[2], bf, 0);
                splitPair(kb[3], bf, 2);
                mma(ctx, af, bf, s, 8 * jj + 4, bf16);
            }
        }
    }

    /**
     * One block's online softmax on s (as in the register kernel): masks keys at or past n, updates the row maxima
     * and partial sums {@code stats = {m0, m1, l0, l1}}, rescales acc and packs P into A fragments {@code pf}.
     */
    private static void softmaxStep(KernelContext ctx, float[] s, int[] pf, float[] acc, float[] stats, int k0,
            int n, int t, float scale2, int dp, boolean bf16) {
        if (k0 + KEY_BLOCK > n) {
            for (int j = 0; j < S_TILES; j++) {
                for (int c = 0; c < KernelContext.MMA_C_FRAGMENT; c++) {
                    if (k0 + 8 * j + 2 * t + (c & 1) >= n) {
                        s[4 * j + c] = Float.NEGATIVE_INFINITY;
                    }
                }
            }
        }
        float m0 = stats[0];
        float m1 = stats[1];
        float x0 = m0;
        float x1 = m1;
        for (int j = 0; j < S_TILES; j++) {
            x0 = KernelMath.max(x0, KernelMath.max(s[4 * j], s[4 * j + 1]));
            x1 = KernelMath.max(x1, KernelMath.max(s[4 * j + 2], s[4 * j + 3]));
        }
        x0 = KernelMath.max(x0, ctx.simdShuffleXor(x0, 1));
        x0 = KernelMath.max(x0, ctx.simdShuffleXor(x0, 2));
        x1 = KernelMath.max(x1, ctx.simdShuffleXor(x1, 1));
        x1 = KernelMath.max(x1, ctx.simdShuffleXor(x1, 2));
        // a row that has seen only -inf keeps zeros instead of exp(-inf + inf) = NaN
        float base0 = x0 == Float.NEGATIVE_INFINITY ? 0f : x0 * scale2;
        float base1 = x1 == Float.NEGATIVE_INFINITY ? 0f : x1 * scale2;
        float alpha0 = KernelMath.exp2Ftz(m0 * scale2 - base0);
        float alpha1 = KernelMath.exp2Ftz(m1 * scale2 - base1);
        float sum0 = 0f;
        float sum1 = 0f;
        for (int j = 0; j < S_TILES; j++) {
            float p0 = KernelMath.exp2Ftz(KernelMath.fma(s[4 * j], scale2, -base0));
            float p1 = KernelMath.exp2Ftz(KernelMath.fma(s[4 * j + 1], scale2, -base0));
            float p2 = KernelMath.exp2Ftz(KernelMath.fma(s[4 * j + 2], scale2, -base1));
            float p3 = KernelMath.exp2Ftz(KernelMath.fma(s[4 * j + 3], scale2, -base1));
            sum0 += p0 + p1;
            sum1 += p2 + p3;
            pf[2 * j] = bf16 ? bf16Pair(p0, p1) : f16Pair(p0, p1);
            pf[2 * j + 1] = bf16 ? bf16Pair(p2, p3) : f16Pair(p2, p3);
        }
        stats[0] = x0;
        stats[1] = x1;
        stats[2] = stats[2] * alpha0 + sum0;
        stats[3] = stats[3] * alpha1 + sum1;
        if (alpha0 != 1f || alpha1 != 1f) {
            for (int j = 0; j < dp / 4; j++) {
                acc[4 * j] *= alpha0;
                acc[4 * j + 1] *= alpha0;
                acc[4 * j + 2] *= alpha1;
                acc[4 * j + 3] *= alpha1;
            }
        }
    }

    /**
     * {@code acc += P V} from the key-major V slot: {@code at} is the slot plus this lane's key 2t row and column
     * {@code g & 3}; per k-step ks and column group u the lane reads int {@code 8u + g} (chunk
     * {@code 2u ^ vXor}) of keys 16ks + 2t, +1, +8, +9; the low halves are n-tile 2u's B fragment, the high halves
     * n-tile 2u + 1's.
     */
    private static void pvAsync(KernelContext ctx, int[] ring, int at, int vXor, int[] pf, float[] acc, short[] af,
            short[] bf, int dp, boolean bf16) {
        for (int ks = 0; ks < KEY_BLOCK / 16; ks++) {
            splitPair(pf[4 * ks], af, 0);
            splitPair(pf[4 * ks + 1], af, 2);
            splitPair(pf[4 * ks + 2], af, 4);
            splitPair(pf[4 * ks + 3], af, 6);
            for (int u = 0; u < dp / 8; u++) {
                int x = at + 16 * ks * dp + 4 * ((2 * u) ^ vXor);
                int w0 = ring[x];
                int w1 = ring[x + dp];
                int w2 = ring[x + 8 * dp];
                int w3 = ring[x + 9 * dp];
                bf[0] = (short) w0;
                bf[1] = (short) w1;
                bf[2] = (short) w2;
                bf[3] = (short) w3;
                mma(ctx, af, bf, acc, 8 * u, bf16);
                bf[0] = (short) (w0 >>> 16);
                bf[1] = (short) (w1 >>> 16);
                bf[2] = (short) (w2 >>> 16);
                bf[3] = (short) (w3 >>> 16);
                mma(ctx, af, bf, acc, 8 * u + 4, bf16);
            }
        }
    }

    /** Work-items per group of the FA2 kernels ({@link #flashForwardFa2BF16}): four warps of 32 query rows. */
    public static final int FA2_GROUP = 128;
    /** Query rows per warp in the FA2 kernels: two m16 tiles. */
    private static final int FA2_WARP_ROWS = 32;
    /** K and V tiles in flight in the FA2 kernels: two stages of each. */
    private static final int FA2_KV_TILES = 4;

    /**
     * The forward of {@link #flashForward128BF16} organised as FlashAttention-2 does on sm_80/90: one work-group of
     * {@link #FA2_GROUP} work-items (four warps) per mask row, each warp owning 32 query rows (two m16 tiles), so
     * that every K and V fragment read from local memory feeds two MMAs. Q is staged once in local memory and read
     * with {@link KernelContext#mmaLoadMatrixX4} per k-step (it would take 64 registers per lane); K and V tiles go
     * from global to local memory by {@link KernelContext#asyncCopy16} into two stages each, the next kept block's
     * tiles (its index comes from rowBlocks) copied while this block is multiplied; K fragments come from
     * {@link KernelContext#mmaLoadMatrixX4}, V fragments from {@link KernelContext#mmaLoadMatrixX4Trans} (V stays
     * key-major, as in global memory). P stays in registers as A fragments, the online softmax uses exp2, the
     * logsumexp is written as by the other kernels.
     *
     * <p>Local memory, all tiles chunk-major (16-byte chunk c of row r at {@code c * rows * 4 + 4 r}, so each 8x8
     * matrix an ldmatrix reads is 128 contiguous bytes, every bank once): Q 128 x d, and K(0), K(1), V(0), V(1) of
     * 64 x d: 96 KiB at d = 128 (over the 48 KiB of CUDA's static shared memory, so the JIT makes it dynamic and
     * the runtime raises the kernel's limit; two work-groups fit on an H200 multiprocessor), 48 KiB at d = 64.
     * One barrier per block: once K(e) and V(e) have landed (they were requested when block e - 1 began), it also
     * frees the stages of block e - 1, into which K(e+1) and V(e+1) are requested at once, in flight during the
     * whole of block e.
     *
     * <p>Semantics, arguments and the accuracy of P as {@link #flashForward128BF16}; grid {@code heads * ceil(n /
     * 128) * FA2_GROUP}, local size {@link #FA2_GROUP} ({@link FlashForwardMmaTasks}, {@code
     * SPARGE_FLASH_MMA_VARIANT=fa2}); q, k, v must start 16-byte aligned, as device buffers do. Rows at or past n
     * read row n - 1 (finite; not written), keys at or past n too (their scores are masked to -inf, so P is 0).
     *
     * <p>nvcc 13 for sm_90 ({@code FlashForwardMmaFa2Test}): 253 registers (bf16 and f16, d = 128), 215
     * at d = 64; no spills, no stack frame; 98304 bytes of dynamic shared memory at d = 128, 49152 static at d = 64.
     * So two work-groups (eight warps) per H200 multiprocessor at d = 128, by registers (128 x 256) and shared
     * memory (2 x 96 KiB). Per kept block and warp the PTX has 256 {@code mma.sync}, 48 {@code ldmatrix.x4} (Q 16,
     * K 32), 32 {@code ldmatrix.x4.trans} (V), 16 {@code cp.async} per work-item and 64 + 4 {@code ex2}.
     *
     * @param ctx the work-item
     * @param q queries (heads, n, d) bf16, as an int view (pairs)
     * @param k keys (heads, n, d) bf16, as an int view
     * @param v values (heads, n, d) bf16, as an int view
     * @param o output (heads, n, d) f32, every element written
     * @param lse natural-log logsumexp per query (heads, n), every element written
     * @param rowStart CSR offsets of the kept key blocks per row (rows + 1)
     * @param rowBlocks kept key-block indices of each row, ascending
     * @param n tokens per head (queries and keys)
     * @param scale softmax scale applied to q kᵀ
     * @param d head dimension, 64 or 128 (a compile-time constant)
     */
    public static void flashForwardFa2BF16(KernelContext ctx, IntArray q, IntArray k, IntArray v, FloatArray o,
            FloatArray lse, IntArray rowStart, IntArray rowBlocks, int n, float scale, @Constant int d) {
        forwardFa2(ctx, q, k, v, o, lse, rowStart, rowBlocks, n, scale, d, true);
    }

    /**
     * {@link #flashForwardFa2BF16} on f16 inputs.
     *
     * @param ctx the work-item
     * @param q queries (heads, n, d) f16, as an int view (pairs)
     * @param k keys (heads, n, d) f16, as an int view
     * @param v values (heads, n, d) f16, as an int view
     * @param o output (heads, n, d) f32, every element written
     * @param lse natural-log logsumexp per query (heads, n), every element written
     * @param rowStart CSR offsets of the kept key blocks per row (rows + 1)
     * @param rowBlocks kept key-block indices of each row, ascending
     * @param n tokens per head (queries and keys)
     * @param scale softmax scale applied to q kᵀ
     * @param d head dimension, 64 or 128 (a compile-time constant)
     */
    public static void flashForwardFa2F16(KernelContext ctx, IntArray q, IntArray k, IntArray v, FloatArray o,
            FloatArray lse, IntArray rowStart, IntArray rowBlocks, int n, float scale, @Constant int d) {
        forwardFa2(ctx, q, k, v, o, lse, rowStart, rowBlocks, n, scale, d, false);
    }

    /** The FA2 kernels' body (see {@link #flashForwardFa2BF16}); d and bf16 are constants, the loops unroll. */
    private static void forwardFa2(KernelContext ctx, IntArray q, IntArray k, IntArray v, FloatArray o,
            FloatArray lse, IntArray rowStart, IntArray rowBlocks, int n, float scale, int d, boolean bf16) {
        int[] qs = ctx.allocateIntLocalArray(QUERY_BLOCK * (d / 2));
        int[] kv = ctx.allocateIntLocalArray(FA2_KV_TILES * KEY_BLOCK * (d / 2));
        float[] s = new float[2 * S_TILES * KernelContext.MMA_C_FRAGMENT];
        int[] pf = new int[2 * S_TILES * 2];
        float[] acc = new float[2 * MAX_ACC];
        float[] stats = new float[8];
        int[] qa = new int[8];
        int[] kb = new int[4];
        short[] af = new short[KernelContext.MMA_A_FRAGMENT];
        short[] bf = new short[KernelContext.MMA_B_FRAGMENT];
        float scale2 = scale * LOG2E;
        int tid = ctx.localIdx;
        int warp = tid >> 5;
        int g = (tid & 31) >> 2;
        int t = tid & 3;
        int dp = d / 2;
        int tile = KEY_BLOCK * dp;
        int nq = (n + QUERY_BLOCK - 1) / QUERY_BLOCK;
        int row = ctx.groupIdx;
        int bh = row / nq;
        int q0 = (row % nq) * QUERY_BLOCK;
        int head = bh * n * dp;
        int wr = warp * FA2_WARP_ROWS;
        copyChunkMajor(ctx, qs, 0, q, head, q0, QUERY_BLOCK, n, dp, tid);
        ctx.asyncCommit();
        for (int mt = 0; mt < 2; mt++) {
            stats[4 * mt] = Float.NEGATIVE_INFINITY;
            stats[4 * mt + 1] = Float.NEGATIVE_INFINITY;
            stats[4 * mt + 2] = 0f;
            stats[4 * mt + 3] = 0f;
        }
        int begin = rowStart.get(row);
        int end = rowStart.get(row + 1);
        if (begin < end) {
            int first = rowBlocks.get(begin) * KEY_BLOCK;
            copyChunkMajor(ctx, kv, 0, k, head, first, KEY_BLOCK, n, dp, tid);
            copyChunkMajor(ctx, kv, 2 * tile, v, head, first, KEY_BLOCK, n, dp, tid);
            ctx.asyncCommit();
        }
        for (int e = begin; e < end; e++) {
            int stage = (e - begin) & 1;
            // Q, K(e) and V(e) landed (requested a whole block ago), and every warp is done with block e - 1, whose
            // stages now take block e + 1: one barrier per block
            ctx.asyncWait(0);
            ctx.localBarrier();
            if (e + 1 < end) {
                int next = rowBlocks.get(e + 1) * KEY_BLOCK;
                copyChunkMajor(ctx, kv, (1 - stage) * tile, k, head, next, KEY_BLOCK, n, dp, tid);
                copyChunkMajor(ctx, kv, (3 - stage) * tile, v, head, next, KEY_BLOCK, n, dp, tid);
                ctx.asyncCommit();
            }
            scoresFa2(ctx, qs, kv, stage * tile, wr, s, qa, kb, af, bf, dp, bf16);
            int k0 = rowBlocks.get(e) * KEY_BLOCK;
            softmaxFa2(ctx, s, pf, acc, stats, 0, k0, n, t, scale2, dp, bf16);
            softmaxFa2(ctx, s, pf, acc, stats, 1, k0, n, t, scale2, dp, bf16);
            pvFa2(ctx, kv, (2 + stage) * tile, pf, acc, kb, af, bf, dp, bf16);
        }
        ctx.asyncWait(0);
        for (int mt = 0; mt < 2; mt++) {
            float l0 = stats[4 * mt + 2];
            float l1 = stats[4 * mt + 3];
            l0 += ctx.simdShuffleXor(l0, 1);
            l0 += ctx.simdShuffleXor(l0, 2);
            l1 += ctx.simdShuffleXor(l1, 1);
            l1 += ctx.simdShuffleXor(l1, 2);
            float inv0 = l0 > 0f ? 1f / l0 : 0f;
            float inv1 = l1 > 0f ? 1f / l1 : 0f;
            int r0 = q0 + wr + 16 * mt + g;
            int out0 = (bh * n + r0) * d + 2 * t;
            int out1 = out0 + 8 * d;
            int a = MAX_ACC * mt;
            for (int j = 0; j < dp / 4; j++) {
                if (r0 < n) {
                    o.set(out0 + 8 * j, acc[a + 4 * j] * inv0);
                    o.set(out0 + 8 * j + 1, acc[a + 4 * j + 1] * inv0);
                }
                if (r0 + 8 < n) {
                    o.set(out1 + 8 * j, acc[a + 4 * j + 2] * inv1);
                    o.set(out1 + 8 * j + 1, acc[a + 4 * j + 3] * inv1);
                }
            }
            if (t == 0) {
                float m0 = stats[4 * mt];
                float m1 = stats[4 * mt + 1];
                if (r0 < n) {
                    lse.set(bh * n + r0, l0 > 0f ? m0 * scale + KernelMath.log(l0) : Float.NEGATIVE_INFINITY);
                }
                if (r0 + 8 < n) {
                    lse.set(bh * n + r0 + 8, l1 > 0f ? m1 * scale + KernelMath.log(l1) : Float.NEGATIVE_INFINITY);
                }
            }
        }
    }

    /**
     * Requests {@code rows} rows from {@code r0} of a (n, dp-int) head into the chunk-major tile at {@code at}
     * (chunk c of row r at {@code at + c * rows * 4 + 4 r}): copy id takes row {@code 8 (id / (8 chunks)) + id % 8}
     * and chunk {@code (id / 8) % chunks}, so eight consecutive copies fill 128 consecutive local bytes and a warp
     * reads 64 contiguous bytes of each of 8 rows; rows at or past n repeat row n - 1 (finite).
     */
    private static void copyChunkMajor(KernelContext ctx, int[] tile, int at, IntArray src, int head, int r0,
            int rows, int n, int dp, int tid) {
        int chunks = dp / 4;
        for (int e = 0; e < rows * chunks / FA2_GROUP; e++) {
            int id = tid + e * FA2_GROUP;
            int r = id / (8 * chunks) * 8 + (id & 7);
            int c = (id >> 3) % chunks;
            ctx.asyncCopy16(tile, at + c * (rows * 4) + r * 4, src, head + KernelMath.min(r0 + r, n - 1) * dp + 4 * c,
                    4);
        }
    }

    /**
     * {@code s = Q Kᵀ} (unscaled) for the warp's two m-tiles (rows {@code wr ..} and {@code wr + 16 ..}; s offsets 0
     * and 32): per k-step one {@code ldmatrix.x4} of Q per m-tile, and per pair of n-tiles one of K, which feeds
     * both m-tiles.
     */
    private static void scoresFa2(KernelContext ctx, int[] qs, int[] kv, int kSlot, int wr, float[] s, int[] qa,
            int[] kb, short[] af, short[] bf, int dp, boolean bf16) {
        for (int i = 0; i < 2 * S_TILES * KernelContext.MMA_C_FRAGMENT; i++) {
            s[i] = 0f;
        }
        for (int ks = 0; ks < dp / 8; ks++) {
            int qChunk = 2 * ks * (QUERY_BLOCK * 4);
            ctx.mmaLoadMatrixX4(qs, qChunk + 4 * wr, 4, 32, QUERY_BLOCK * 4, qa, 0);
            ctx.mmaLoadMatrixX4(qs, qChunk + 4 * (wr + 16), 4, 32, QUERY_BLOCK * 4, qa, 4);
            for (int jj = 0; jj < S_TILES / 2; jj++) {
                ctx.mmaLoadMatrixX4(kv, kSlot + 2 * ks * (KEY_BLOCK * 4) + 64 * jj, 4, KEY_BLOCK * 4, 32, kb, 0);
                for (int mt = 0; mt < 2; mt++) {
                    splitQuery(qa, 4 * mt, af);
                    splitPair(kb[0], bf, 0);
                    splitPair(kb[1], bf, 2);
                    mma(ctx, af, bf, s, 32 * mt + 8 * jj, bf16);
                    splitPair(kb[2], bf, 0);
                    splitPair(kb[3], bf, 2);
                    mma(ctx, af, bf, s, 32 * mt + 8 * jj + 4, bf16);
                }
            }
        }
    }

    /**
     * {@link #softmaxStep} for m-tile mt of the FA2 kernels: s at {@code 32 mt}, P fragments at {@code 16 mt}, the
     * accumulator at {@code MAX_ACC mt}, {@code stats[4 mt ..] = {m0, m1, l0, l1}}.
     */
    private static void softmaxFa2(KernelContext ctx, float[] s, int[] pf, float[] acc, float[] stats, int mt,
            int k0, int n, int t, float scale2, int dp, boolean bf16) {
        int so = 32 * mt;
        int po = 16 * mt;
        int ao = MAX_ACC * mt;
        if (k0 + KEY_BLOCK > n) {
            for (int j = 0; j < S_TILES; j++) {
                for (int c = 0; c < KernelContext.MMA_C_FRAGMENT; c++) {
                    if (k0 + 8 * j + 2 * t + (c & 1) >= n) {
                        s[so + 4 * j + c] = Float.NEGATIVE_INFINITY;
                    }
                }
            }
        }
        float m0 = stats[4 * mt];
        float m1 = stats[4 * mt + 1];
        float x0 = m0;
        float x1 = m1;
        for (int j = 0; j < S_TILES; j++) {
            x0 = KernelMath.max(x0, KernelMath.max(s[so + 4 * j], s[so + 4 * j + 1]));
            x1 = KernelMath.max(x1, KernelMath.max(s[so + 4 * j + 2], s[so + 4 * j + 3]));
        }
        x0 = KernelMath.max(x0, ctx.simdShuffleXor(x0, 1));
        x0 = KernelMath.max(x0, ctx.simdShuffleXor(x0, 2));
        x1 = KernelMath.max(x1, ctx.simdShuffleXor(x1, 1));
        x1 = KernelMath.max(x1, ctx.simdShuffleXor(x1, 2));
        // a row that has seen only -inf keeps zeros instead of exp(-inf + inf) = NaN
        float base0 = x0 == Float.NEGATIVE_INFINITY ? 0f : x0 * scale2;
        float base1 = x1 == Float.NEGATIVE_INFINITY ? 0f : x1 * scale2;
        float alpha0 = KernelMath.exp2Ftz(m0 * scale2 - base0);
        float alpha1 = KernelMath.exp2Ftz(m1 * scale2 - base1);
        float sum0 = 0f;
        float sum1 = 0f;
        for (int j = 0; j < S_TILES; j++) {
            float p0 = KernelMath.exp2Ftz(KernelMath.fma(s[so + 4 * j], scale2, -base0));
            float p1 = KernelMath.exp2Ftz(KernelMath.fma(s[so + 4 * j + 1], scale2, -base0));
            float p2 = KernelMath.exp2Ftz(KernelMath.fma(s[so + 4 * j + 2], scale2, -base1));
            float p3 = KernelMath.exp2Ftz(KernelMath.fma(s[so + 4 * j + 3], scale2, -base1));
            sum0 += p0 + p1;
            sum1 += p2 + p3;
            pf[po + 2 * j] = bf16 ? bf16Pair(p0, p1) : f16Pair(p0, p1);
            pf[po + 2 * j + 1] = bf16 ? bf16Pair(p2, p3) : f16Pair(p2, p3);
        }
        stats[4 * mt] = x0;
        stats[4 * mt + 1] = x1;
        stats[4 * mt + 2] = stats[4 * mt + 2] * alpha0 + sum0;
        stats[4 * mt + 3] = stats[4 * mt + 3] * alpha1 + sum1;
        if (alpha0 != 1f || alpha1 != 1f) {
            for (int j = 0; j < dp / 4; j++) {
                acc[ao + 4 * j] *= alpha0;
                acc[ao + 4 * j + 1] *= alpha0;
                acc[ao + 4 * j + 2] *= alpha1;
                acc[ao + 4 * j + 3] *= alpha1;
            }
        }
    }

    /**
     * {@code acc += P V} for both m-tiles from the chunk-major V stage at {@code vSlot}: per k-step kk (16 keys) and
     * column group u (16 columns, chunks 2u and 2u + 1) one {@code ldmatrix.x4.trans} gives the B fragments of
     * n-tiles 2u (keys 16kk .. + 7, then + 8 .. + 15) and 2u + 1, each feeding both m-tiles.
     */
    private static void pvFa2(KernelContext ctx, int[] kv, int vSlot, int[] pf, float[] acc, int[] vb, short[] af,
            short[] bf, int dp, boolean bf16) {
        for (int kk = 0; kk < KEY_BLOCK / 16; kk++) {
            for (int u = 0; u < dp / 8; u++) {
                ctx.mmaLoadMatrixX4Trans(kv, vSlot + 2 * u * (KEY_BLOCK * 4) + 64 * kk, 4, 32, KEY_BLOCK * 4, vb, 0);
                for (int mt = 0; mt < 2; mt++) {
                    splitQuery(pf, 16 * mt + 4 * kk, af);
                    splitPair(vb[0], bf, 0);
                    splitPair(vb[1], bf, 2);
                    mma(ctx, af, bf, acc, MAX_ACC * mt + 8 * u, bf16);
                    splitPair(vb[2], bf, 0);
                    splitPair(vb[3], bf, 2);
                    mma(ctx, af, bf, acc, MAX_ACC * mt + 8 * u + 4, bf16);
                }
            }
        }
    }

    /**
     * Loads this lane's Q A-fragments for every k-step s (16 columns): ints {@code 4s ..} hold rows r0 and r0 + 8
     * at pair {@code 8s + t}, then the same rows at pair {@code 8s + t + 4} (PTX's a0a1, a2a3, a4a5, a6a7). Rows at
     * or past n load as zeros.
     */
    private static void loadQuery(IntArray q, int[] qf, int head, int r0, int n, int dp, int t) {
        for (int s = 0; s < dp / 8; s++) {
            int at = head + r0 * dp + 8 * s + t;
            qf[4 * s] = r0 < n ? q.get(at) : 0;
            qf[4 * s + 1] = r0 + 8 < n ? q.get(at + 8 * dp) : 0;
            qf[4 * s + 2] = r0 < n ? q.get(at + 4) : 0;
            qf[4 * s + 3] = r0 + 8 < n ? q.get(at + 8 * dp + 4) : 0;
        }
    }

    /**
     * {@code s = Q Kᵀ} (unscaled) for this warp's 16 rows and the tile's 64 keys: per 16-pair chunk c and n-tile j
     * one 128-bit local load gives the B fragments of k-steps 2c and 2c + 1.
     */
    private static void scores(KernelContext ctx, int[] ks, int[] qf, float[] s, short[] af, short[] bf, int kRead,
            int kFlip, int dp, boolean bf16) {
        for (int i = 0; i < S_TILES * KernelContext.MMA_C_FRAGMENT; i++) {
            s[i] = 0f;
        }
        for (int c = 0; c < dp / 16; c++) {
            for (int j = 0; j < S_TILES; j++) {
                int at = kRead + 8 * j * dp + ((c << 4) ^ kFlip);
                int w0 = ks[at];
                int w1 = ks[at + 1];
                int w2 = ks[at + 2];
                int w3 = ks[at + 3];
                splitQuery(qf, 8 * c, af);
                splitPair(w0, bf, 0);
                splitPair(w1, bf, 2);
                mma(ctx, af, bf, s, 4 * j, bf16);
                splitQuery(qf, 8 * c + 4, af);
                splitPair(w2, bf, 0);
                splitPair(w3, bf, 2);
                mma(ctx, af, bf, s, 4 * j, bf16);
            }
        }
    }

    /**
     * {@code acc += P V}: per 16-pair chunk cc of keys and n-tile jd of columns, the transposed V row
     * {@code 8 jd + g} holds the B fragments of k-steps 2cc (logical words 0, 1) and 2cc + 1 (words 2, 3), each a
     * 64-bit load; P's A fragment of k-step i is {@code pf[4i .. 4i + 3]}.
     */
    private static void pv(KernelContext ctx, int[] vs, int[] pf, float[] acc, short[] af, short[] bf, int vRead0,
            int vRead1, int dp, boolean bf16) {
        for (int cc = 0; cc < V_ROW / 16; cc++) {
            for (int half = 0; half < 2; half++) {
                int f = 8 * cc + 4 * half;
                splitPair(pf[f], af, 0);
                splitPair(pf[f + 1], af, 2);
                splitPair(pf[f + 2], af, 4);
                splitPair(pf[f + 3], af, 6);
                for (int jd = 0; jd < dp / 4; jd++) {
                    // the unit's chunk bit flips with cc and jd: one of two lane bases, plus a constant
                    int at = (((cc ^ jd) & 1) == 0 ? vRead0 : vRead1) + 8 * jd * V_ROW
                            + (2 * half ^ valueWordSwizzle(8 * jd));
                    splitPair(vs[at], bf, 0);
                    splitPair(vs[at + 1], bf, 2);
                    mma(ctx, af, bf, acc, 4 * jd, bf16);
                }
            }
        }
    }

    private static void mma(KernelContext ctx, short[] af, short[] bf, float[] c, int at, boolean bf16) {
        if (bf16) {
            ctx.mmaBF16(af, 0, bf, 0, c, at);
        } else {
            ctx.mmaF16(af, 0, bf, 0, c, at);
        }
    }

    /** Q's A fragment of one k-step from {@code qf[at .. at + 3]}. */
    private static void splitQuery(int[] qf, int at, short[] af) {
        splitPair(qf[at], af, 0);
        splitPair(qf[at + 1], af, 2);
        splitPair(qf[at + 2], af, 4);
        splitPair(qf[at + 3], af, 6);
    }

    /** Splits two packed 16-bit values into fragment elements {@code at} (low half) and {@code at + 1}. */
    private static void splitPair(int pair, short[] fragment, int at) {
        fragment[at] = (short) pair;
        fragment[at + 1] = (short) (pair >>> 16);
    }

    /**
     * Where pair p of key row r sits in the K tile (rows of dp ints): within each 16-pair chunk, pair p is word
     * {@code (p >> 2) & 3} of 4-int unit {@code p & 3}, so that lane t's unit holds pairs t, t+4, t+8, t+12; odd
     * rows swap the chunks of each chunk pair, so a quarter-warp's 128-bit loads (rows g, g + 1) cover all banks.
     */
    private static int keySlot(int r, int p, int dp) {
        return r * dp + (((p >> 4) << 4) ^ ((r & 1) << 4)) + ((p & 3) << 2) + ((p >> 2) & 3);
    }

    /**
     * Where key pair p of column r sits in the transposed V tile (rows of 32 ints, one per column): unit
     * {@code ((p >> 4) << 2 | (p & 3)) ^ valueUnitSwizzle(r)}, word {@code ((p >> 2) & 3) ^ valueWordSwizzle(r)}.
     * A warp's stores (16 columns 2 apart, rows bits 1-4 from lane bits 0-3, and two pairs differing in bit 2 from
     * lane bit 4) then hit 32 banks, and a quarter-warp's fragment loads (rows g, g + 1 of an n-tile) too.
     */
    private static int valueSlot(int r, int p) {
        int unit = (((p >> 4) << 2) | (p & 3)) ^ valueUnitSwizzle(r);
        return r * V_ROW + 4 * unit + (((p >> 2) & 3) ^ valueWordSwizzle(r));
    }

    /** Unit XOR of transposed V row r: bits 1-2 of r, and bit 0 xor bit 3 as the chunk bit. */
    private static int valueUnitSwizzle(int r) {
        return ((r >> 1) & 3) | (((r ^ (r >> 3)) & 1) << 2);
    }

    /**
     * Word XOR of transposed V row r: bit 4 of r onto the word's high bit, so that a fragment's two words stay in
     * order (no register moves) and a reader knows the XOR at compile time.
     */
    private static int valueWordSwizzle(int r) {
        return ((r >> 4) & 1) << 1;
    }

    /**
     * Loads this work-item's share of a K tile (keys {@code k0 ..}, all dp ints of rows {@code loadRow + rowStep
     * e}) into registers; keys at or past n as zeros. A tile wholly inside loads without checks.
     */
    private static void loadKeys(IntArray k, int[] regs, int head, int k0, int loadRow, int loadCol, int rowStep,
            int n, int dp) {
        int at = head + (k0 + loadRow) * dp + loadCol;
        if (k0 + KEY_BLOCK <= n) {
            for (int e = 0; e < KEY_BLOCK / rowStep; e++) {
                regs[e] = k.get(at + rowStep * dp * e);
            }
        } else {
            for (int e = 0; e < KEY_BLOCK / rowStep; e++) {
                regs[e] = k0 + loadRow + rowStep * e < n ? k.get(at + rowStep * dp * e) : 0;
            }
        }
    }

    /** Stores the registers of {@link #loadKeys} at {@code at + stride e}. */
    private static void storeTile(int[] tile, int[] regs, int at, int stride, int dp) {
        for (int e = 0; e < KEY_BLOCK * dp / GROUP; e++) {
            tile[at + stride * e] = regs[e];
        }
    }

    /**
     * Loads this work-item's share of a V tile: int column {@code vCol} of key rows {@code 2 p} and {@code 2 p + 1}
     * for key pairs {@code p = pThread | valuePairs(e)}; keys at or past n as zeros (their P is 0, but a garbage V
     * could be NaN). A warp reads 16 adjacent ints of two rows per load (four whole sectors). A tile wholly inside
     * loads without checks.
     */
    private static void loadValues(IntArray v, int[] regs, int head, int k0, int pThread, int vCol, int n, int dp) {
        int at = head + (k0 + 2 * pThread) * dp + vCol;
        if (k0 + KEY_BLOCK <= n) {
            for (int e = 0; e < dp / 8; e++) {
                int delta = 2 * valuePairs(e, dp) * dp;
                regs[2 * e] = v.get(at + delta);
                regs[2 * e + 1] = v.get(at + delta + dp);
            }
        } else {
            for (int e = 0; e < dp / 8; e++) {
                int delta = 2 * valuePairs(e, dp) * dp;
                int key = k0 + 2 * (pThread | valuePairs(e, dp));
                regs[2 * e] = key < n ? v.get(at + delta) : 0;
                regs[2 * e + 1] = key + 1 < n ? v.get(at + delta + dp) : 0;
            }
        }
    }

    /**
     * The key-pair bits that load e adds to a work-item's own (bits 0 and 2 at d = 128, bits 0, 1 and 2 at d = 64):
     * the work-group's dp/8 loads of dp/16 column chunks times 32 key pairs, enumerated as
     * {@code warp + 8 e = q * (dp / 16) + chunk}, with q's bits 0-1 the pair's bits 0-1 and q's bits 2-3 the pair's
     * bits 3-4 (bit 2 is the lane's bit 4).
     */
    private static int valuePairs(int e, int dp) {
        int q = 8 * e / (dp / 16);
        return (q & 3) | ((q >> 2) << 3);
    }

    /**
     * Stores the registers of {@link #loadValues} transposed: columns {@code 2 vCol} (low halves) and
     * {@code 2 vCol + 1} (high halves) of each key pair as one int, at the slots of pThread XOR
     * {@link #pairShift} of load e's pair bits.
     */
    private static void storeValues(int[] vs, int[] regs, int lo, int hi, int dp) {
        for (int e = 0; e < dp / 8; e++) {
            int a = regs[2 * e];
            int b = regs[2 * e + 1];
            int shift = pairShift(valuePairs(e, dp));
            vs[lo ^ shift] = (a & 0xffff) | (b << 16);
            vs[hi ^ shift] = (a >>> 16) | (b & 0xffff0000);
        }
    }

    /**
     * The slot of key pair {@code p | delta} (p and delta with no common bits) is p's slot XOR this: the slot's
     * word takes pair bits 2-3, its unit pair bits 0-1 and 4, and {@link #valueSlot} XORs only constants of the
     * row into those fields, all within the low 5 bits of the slot.
     */
    private static int pairShift(int delta) {
        return (((delta >> 4) & 1) << 4) | ((delta & 3) << 2) | ((delta >> 2) & 3);
    }

    /**
     * bf16 bits of two values in [0, 1], each rounded to nearest with ties away from zero (one add: cheaper than
     * ties to even, and as accurate, within half a bf16 ulp; softmax weights are never NaN for finite inputs),
     * {@code lo} in the low half. Public for tests.
     *
     * @param lo the value for the low 16 bits
     * @param hi the value for the high 16 bits
     * @return the packed pair
     */
    public static int bf16Pair(float lo, float hi) {
        int a = Float.floatToRawIntBits(lo) + 0x8000;
        int b = Float.floatToRawIntBits(hi) + 0x8000;
        return (a >>> 16) | (b & 0xffff0000);
    }

    /**
     * f16 bits of two values in [0, 1] (round to nearest even, subnormals included), {@code lo} in the low half.
     * Public for tests.
     *
     * @param lo the value for the low 16 bits
     * @param hi the value for the high 16 bits
     * @return the packed pair
     */
    public static int f16Pair(float lo, float hi) {
        return f16OfUnit(lo) | (f16OfUnit(hi) << 16);
    }

    /**
     * f16 bits of x in [0, 1], round to nearest even: normal results by rounding the float's bits at bit 13,
     * subnormal ones (x below 2^-14) by adding 0.5, whose float ulp is 2^-24, the f16 subnormal step.
     */
    private static int f16OfUnit(float x) {
        int bits = Float.floatToRawIntBits(x);
        int normal = ((bits + 0xfff + ((bits >>> 13) & 1)) >>> 13) - (112 << 10);
        int subnormal = Float.floatToRawIntBits(x + 0.5f) - 0x3f000000;
        return x < 6.103515625e-5f ? subnormal : normal;
    }
}
