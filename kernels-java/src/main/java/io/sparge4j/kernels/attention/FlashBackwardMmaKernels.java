package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.annotations.Constant;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

/**
 * Block-sparse FlashAttention backward on tensor cores: bf16 or f16 operands, f32 accumulation, f32 gradients.
 * Same semantics as the f32 {@link FlashBackwardKernels}, deterministic and free of atomics. Launch order:
 * <ol>
 * <li>{@link #rowDeltaBF16} (or the f16 / half-output variants): {@code delta = rowsum(dO * O)} per query row, f32.
 * Its own small kernel rather than the f32 {@link FlashBackwardKernels#rowStats}, because dO is only in the operand
 * type here; O may be f32 (the MMA forward accumulates in f32) or the operand type;</li>
 * <li>{@link #packFragments} for K and for V (dkdv's A operands in fragment order);</li>
 * <li>{@link #dqBF16} / {@link #dqF16}: one work-group per 64 query rows walks the kept key blocks of their query
 * block ({@code rowStart}/{@code rowBlocks}) and writes {@code dQ = scale * dS K};</li>
 * <li>{@link #dkdvBF16} / {@link #dkdvF16}: one work-group per 64 keys walks the query blocks that keep their key
 * block ({@code colStart}/{@code colBlocks}) and writes {@code dV = P^T dO}, {@code dK = scale * dS^T Q}.</li>
 * </ol>
 * q, k, v and dO are int views of (heads, tokens, d) bf16 or f16 arrays ({@code IntArray.fromSegmentShallow}),
 * element {@code 2p} in the low half of int {@code p}; lse (natural log, as the forward writes it) and delta are
 * f32 (heads, tokens); dq, dk, dv are written in f32 (heads, tokens, d). Scores are recomputed from the logsumexp,
 * {@code P = exp(scale * Q K^T - lse)}, {@code dS = P * (dO V^T - delta)}, in f32 from the MMA accumulators;
 * P and dS are rounded to the operand type (bf16 or f16) to enter the gradient products, which is where this
 * backward's error comes from (relative 2^-8 per term in bf16, 2^-11 in f16).
 *
 * <p>Layout of the work: a work-group is four warps; warp w owns 16 rows (queries in dq, keys in dkdv) of the
 * group's 64, with every head-dimension column. The other side (the kept blocks' keys in dq, the keeping blocks'
 * queries in dkdv) is walked as one sequence of 16-row steps, staged in local memory as bf16 pairs both
 * row-major (pairs along d: the B operand of {@code Q K^T}-like products) and transposed (pairs along the 16 rows:
 * the B operand of {@code dS K}-like products, since an m16n8k16 fragment pairs elements along k). Two buffers:
 * while the MMAs read one, the next step's rows are fetched into registers and stored into the other, one barrier a
 * step. The score accumulators become the A fragments of the gradient products in registers (C fragments of
 * n-tiles 0 and 1 are exactly the A fragment of the step's 16-deep k-step), so P and dS never go through local
 * memory, and dkdv computes {@code S^T = K Q^T} directly instead of transposing P. In dq the warp's Q and dO
 * fragments stay in registers for the whole walk; in dkdv the K and V fragments are re-read from global memory
 * every step (L1 hits after the first), one k-step ahead of their MMAs, because the dK and dV accumulators for
 * d = 128 already take 128 registers and local memory holds no more within 48 KiB. To make those reads cheap, K and
 * V are first rewritten in fragment order ({@link #packFragments}): each warp-wide fragment load is then 128
 * contiguous bytes instead of 16 bytes from each of 8 rows.
 *
 * <p>Local memory (ints; padded or swizzled so that the fragment loads, each one 64-bit {@code ld.shared.v2}, are
 * free of bank conflicts): dq 6656 ints (26 KiB: two buffers of K and V row-major and K transposed), dkdv 8704
 * ints + 64 floats (34.3 KiB: two buffers of Q and dO both ways, lse and delta), each within 48 KiB together with
 * the MMA fallback's scratch (3 KiB for four warps) on devices without tensor cores. ptxas for sm_90 (nvcc 13,
 * -Xptxas -v; checked by FlashBackwardMmaKernelsTest's {@code cudaCompilesWithoutSpills}): no spills, no stack
 * frame; registers dqBF16 210 (d = 128) / 123 (d = 64), dkdvBF16 233 / 159 (f16 within 2), so two work-groups
 * (eight warps) share a multiprocessor at d = 128.
 *
 * <p>Grids: {@link #rowDeltaBF16} and friends 1D, one sub-group per row (any size works: they stride over the
 * rows; {@code 32 * heads * tokens} is one pass), {@link #packFragments} 1D over {@link #fragmentInts} (any local
 * size); dq and dkdv 1D {@link #groups}{@code (heads, tokens) * GROUP} with local size {@link #GROUP}. Their
 * {@code @Constant geometry} is {@link #geometry}{@code (d, queryBlock, keyBlock)}. Query and key blocks must be
 * multiples of {@link #TILE}.
 */
public final class FlashBackwardMmaKernels {
    /** Rows (queries in dq, keys in dkdv) per work-group; blocks must be multiples of it. */
    public static final int TILE = 64;
    /** Work-group size of the dq and dkdv kernels: four warps. */
    public static final int GROUP = 128;
    /** Largest head dimension. */
    public static final int MAX_D = 128;
    /** d must be a multiple of this (one MMA k-step). */
    public static final int D_STEP = 16;

    /**
     * Rows of the streamed side per step: 16, one k-step of the gradient products, so that two buffers of the
     * staged tiles fit and the next step's tiles load while this one's MMAs run.
     */
    private static final int INNER = 16;
    /**
     * Padding (ints) of a row-major tile's rows: a stride of 8 mod 32 ints puts the four rows a half-warp's 64-bit
     * fragment loads touch on distinct banks.
     */
    private static final int PAD = 8;
    /** Largest row stride of a row-major tile (pairs along d). */
    private static final int LDR_MAX = MAX_D / 2 + PAD;
    /** A row-major tile: INNER rows of d / 2 ints (+ pad). */
    private static final int ROW_TILE = INNER * LDR_MAX;
    /** Row stride of a transposed tile: INNER / 2 pairs; rows of 8 ints put a half-warp's 4 rows on 4 bank octets. */
    private static final int LDT = INNER / 2;
    /** A transposed tile: d rows of INNER / 2 ints. */
    private static final int T_TILE = MAX_D * LDT;
    /** 8-wide n-tiles of a warp's 16 x INNER score block. */
    private static final int SCORE_TILES = INNER / 8;
    /** 16-deep k-steps over d. */
    private static final int D_FRAGS = MAX_D / 16;
    /** 8-wide n-tiles over d. */
    private static final int D_TILES = MAX_D / 8;
    /** Floats of a C fragment, shorts of an A and a B fragment. */
    private static final int C = KernelContext.MMA_C_FRAGMENT;
    private static final int A = KernelContext.MMA_A_FRAGMENT;
    private static final int B = KernelContext.MMA_B_FRAGMENT;
    /** Staging items (row pair, column pair) per work-item and step, for the largest d. */
    private static final int STAGE_ITEMS = INNER / 2 * (MAX_D / 2) / GROUP;
    /** One buffer of dq's tiles: K and V row-major, K transposed. */
    private static final int DQ_BUFFER = 2 * ROW_TILE + T_TILE;
    /** One buffer of dkdv's tiles: Q and dO row-major, then transposed. */
    private static final int DKDV_BUFFER = 2 * ROW_TILE + 2 * T_TILE;
    /** One buffer of dkdv's step statistics: lse then delta of the INNER queries. */
    private static final int STATS = 2 * INNER;
    private static final int DQ_LOCAL = 2 * DQ_BUFFER;
    private static final int DKDV_LOCAL = 2 * DKDV_BUFFER;

    private FlashBackwardMmaKernels() {
    }

    /**
     * Work-groups of the dq and dkdv kernels: one per 64 tokens of each head.
     *
     * @param heads B * H
     * @param tokens N
     * @return {@code heads * ceil(tokens / TILE)}
     */
    public static int groups(int heads, int tokens) {
        return heads * ((tokens + TILE - 1) / TILE);
    }

    /**
     * The {@code @Constant geometry} of the dq and dkdv kernels, after checking the sizes.
     *
     * @param d head dimension: a multiple of {@link #D_STEP}, at most {@link #MAX_D}
     * @param queryBlock tokens per query block, a multiple of {@link #TILE}
     * @param keyBlock tokens per key block, a multiple of {@link #TILE}
     * @return {@code d | (queryBlock / 64) << 8 | (keyBlock / 64) << 16}
     * @throws IllegalArgumentException naming the size that does not fit
     */
    public static int geometry(int d, int queryBlock, int keyBlock) {
        if (d <= 0 || d % D_STEP != 0 || d > MAX_D) {
            throw new IllegalArgumentException("FlashBackwardMmaKernels: d is " + d
                    + ", expected a positive multiple of " + D_STEP + " up to " + MAX_D);
        }
        if (queryBlock <= 0 || queryBlock % TILE != 0 || queryBlock / TILE > 255 || keyBlock <= 0
                || keyBlock % TILE != 0 || keyBlock / TILE > 255) {
            throw new IllegalArgumentException("FlashBackwardMmaKernels: blocks are " + queryBlock + " x " + keyBlock
                    + ", expected positive multiples of " + TILE + " up to " + 255 * TILE);
        }
        return d | queryBlock / TILE << 8 | keyBlock / TILE << 16;
    }

    /**
     * Checks that 32-bit indices cover the arrays.
     *
     * @param heads B * H
     * @param tokens N
     * @param d head dimension
     * @throws IllegalArgumentException if {@code heads * tokens * d} (tokens rounded up to a whole {@link #TILE})
     *     exceeds {@code Integer.MAX_VALUE}
     */
    public static void checkSizes(int heads, int tokens, int d) {
        if (heads <= 0 || tokens <= 0 || d <= 0
                || (long) heads * ((tokens + TILE - 1) / TILE * (long) TILE) * d > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("FlashBackwardMmaKernels: heads " + heads + ", tokens " + tokens
                    + ", d " + d + ": expected positive sizes with heads * tokens * d at most " + Integer.MAX_VALUE
                    + " (32-bit indices); split the batch");
        }
    }

    /**
     * {@code delta[r] = sum_c dOut[r, c] * out[r, c]} with dO in bf16 pairs and the forward's output in f32.
     *
     * @param ctx the work-item
     * @param dOut gradient of the output, int view of (rows, d) bf16
     * @param out the forward's output (rows, d) f32
     * @param delta written (rows)
     * @param rows heads * tokens
     * @param d head dimension, even
     */
    public static void rowDeltaBF16(KernelContext ctx, IntArray dOut, FloatArray out, FloatArray delta, int rows,
            @Constant int d) {
        rowDelta(ctx, dOut, out, delta, rows, d, true);
    }

    /**
     * As {@link #rowDeltaBF16} with dO in f16 pairs.
     *
     * @param ctx the work-item
     * @param dOut gradient of the output, int view of (rows, d) f16
     * @param out the forward's output (rows, d) f32
     * @param delta written (rows)
     * @param rows heads * tokens
     * @param d head dimension, even
     */
    public static void rowDeltaF16(KernelContext ctx, IntArray dOut, FloatArray out, FloatArray delta, int rows,
            @Constant int d) {
        rowDelta(ctx, dOut, out, delta, rows, d, false);
    }

    /**
     * As {@link #rowDeltaBF16} with the forward's output also in bf16 pairs.
     *
     * @param ctx the work-item
     * @param dOut gradient of the output, int view of (rows, d) bf16
     * @param out the forward's output, int view of (rows, d) bf16
     * @param delta written (rows)
     * @param rows heads * tokens
     * @param d head dimension, even
     */
    public static void rowDeltaHalfOutBF16(KernelContext ctx, IntArray dOut, IntArray out, FloatArray delta, int rows,
            @Constant int d) {
        rowDeltaHalfOut(ctx, dOut, out, delta, rows, d, true);
    }

    /**
     * As {@link #rowDeltaBF16} with dO and the forward's output in f16 pairs.
     *
     * @param ctx the work-item
     * @param dOut gradient of the output, int view of (rows, d) f16
     * @param out the forward's output, int view of (rows, d) f16
     * @param delta written (rows)
     * @param rows heads * tokens
     * @param d head dimension, even
     */
    public static void rowDeltaHalfOutF16(KernelContext ctx, IntArray dOut, IntArray out, FloatArray delta, int rows,
            @Constant int d) {
        rowDeltaHalfOut(ctx, dOut, out, delta, rows, d, false);
    }

    /**
     * One sub-group per row (grid-stride, so any grid and sub-group width work): lanes read adjacent ints of the row
     * and {@link KernelContext#simdSum} adds their partial sums.
     */
    private static void rowDelta(KernelContext ctx, IntArray dOut, FloatArray out, FloatArray delta, int rows, int d,
            boolean bf16) {
        int width = ctx.simdGroupSize();
        int lane = ctx.simdLaneId();
        for (int r = ctx.globalIdx / width; r < rows; r += ctx.globalGroupSizeX / width) {
            float sum = 0f;
            for (int p = lane; p < d / 2; p += width) {
                int pair = dOut.get(r * (d / 2) + p);
                sum = KernelMath.fma(low(pair, bf16), out.get(r * d + 2 * p), sum);
                sum = KernelMath.fma(high(pair, bf16), out.get(r * d + 2 * p + 1), sum);
            }
            float total = ctx.simdSum(sum);
            if (lane == 0) {
                delta.set(r, total);
            }
        }
    }

    /** As {@link #rowDelta} with O in the operand type. */
    private static void rowDeltaHalfOut(KernelContext ctx, IntArray dOut, IntArray out, FloatArray delta, int rows,
            int d, boolean bf16) {
        int width = ctx.simdGroupSize();
        int lane = ctx.simdLaneId();
        for (int r = ctx.globalIdx / width; r < rows; r += ctx.globalGroupSizeX / width) {
            float sum = 0f;
            for (int p = lane; p < d / 2; p += width) {
                int pair = dOut.get(r * (d / 2) + p);
                int o = out.get(r * (d / 2) + p);
                sum = KernelMath.fma(low(pair, bf16), low(o, bf16), sum);
                sum = KernelMath.fma(high(pair, bf16), high(o, bf16), sum);
            }
            float total = ctx.simdSum(sum);
            if (lane == 0) {
                delta.set(r, total);
            }
        }
    }

    /**
     * Ints of a {@link #packFragments} array: each head's tokens padded to whole {@link #TILE}s.
     *
     * @param heads B * H
     * @param tokens N
     * @param d head dimension
     * @return {@code heads * ceil(tokens / TILE) * TILE * d / 2}
     */
    public static int fragmentInts(int heads, int tokens, int d) {
        return heads * ((tokens + TILE - 1) / TILE) * TILE * (d / 2);
    }

    /**
     * Rewrites a (heads, tokens, d) bf16 or f16 pair array (K or V) in the order the dkdv kernels read their m16n8k16
     * A fragments, so that each of a warp's fragment loads is 128 contiguous bytes instead of 16 bytes from each of 8
     * rows: int {@code e = ((tile * (d / 16) + f) * 4 + i) * 32 + lane} holds, for the 16-row tile {@code tile}
     * (counted over all heads, each padded to whole 64-row tiles), k-step f and lane (g = lane / 4, t = lane % 4),
     * the pair of row {@code g + 8 (i & 1)} at int column {@code 8 f + t + 4 (i >> 1)}; padding rows are 0. The same
     * for bf16 and f16 (it moves ints).
     *
     * @param ctx the work-item
     * @param src int view of (heads, tokens, d)
     * @param dst written, {@link #fragmentInts}{@code (heads, tokens, d)} ints
     * @param tokens N
     * @param total {@link #fragmentInts}{@code (heads, tokens, d)}
     * @param d head dimension, a multiple of 16
     */
    public static void packFragments(KernelContext ctx, IntArray src, IntArray dst, int tokens, int total,
            @Constant int d) {
        int e = ctx.globalIdx;
        if (e < total) {
            int lane = e & 31;
            int i = e >> 5 & 3;
            int rest = e >> 7;
            int f = rest % (d / 16);
            int tile = rest / (d / 16);
            int padded = (tokens + TILE - 1) / TILE * TILE;
            int bh = tile * 16 / padded;
            int row = tile * 16 % padded + (lane >> 2) + 8 * (i & 1);
            int pair = 8 * f + (lane & 3) + 4 * (i >> 1);
            dst.set(e, row < tokens ? src.get((bh * tokens + row) * (d / 2) + pair) : 0);
        }
    }

    /**
     * dQ pass, bf16: work-group g handles query rows {@code [t * 64, t * 64 + 64)} of head {@code g / tiles}
     * ({@code t = g % tiles}, {@code tiles = ceil(tokens / 64)}), over the key blocks its query block keeps. Every
     * dq element of those rows is written (zero for a row whose block keeps nothing).
     *
     * @param ctx the work-item
     * @param q queries, int view of (heads, tokens, d) bf16
     * @param k keys, likewise
     * @param v values, likewise
     * @param dOut gradient of the output, likewise
     * @param lse the forward's logsumexp (heads, tokens), natural log of the sum of {@code exp(scale * q.k)}
     * @param delta {@code rowsum(dO * O)} (heads, tokens)
     * @param rowStart CSR offsets per (head, query block), heads * nq + 1
     * @param rowBlocks kept key blocks per row
     * @param dq written (heads, tokens, d) f32
     * @param tokens N
     * @param scale softmax scale
     * @param geometry {@link #geometry}{@code (d, queryBlock, keyBlock)}
     */
    public static void dqBF16(KernelContext ctx, IntArray q, IntArray k, IntArray v, IntArray dOut, FloatArray lse,
            FloatArray delta, IntArray rowStart, IntArray rowBlocks, FloatArray dq, int tokens, float scale,
            @Constant int geometry) {
        int[] smem = ctx.allocateIntLocalArray(DQ_LOCAL);
        dqBody(ctx, smem, q, k, v, dOut, lse, delta, rowStart, rowBlocks, dq, tokens, scale, geometry, true);
    }

    /**
     * As {@link #dqBF16} with f16 operands.
     *
     * @param ctx the work-item
     * @param q queries, int view of (heads, tokens, d) f16
     * @param k keys, likewise
     * @param v values, likewise
     * @param dOut gradient of the output, likewise
     * @param lse the forward's logsumexp (heads, tokens)
     * @param delta {@code rowsum(dO * O)} (heads, tokens)
     * @param rowStart CSR offsets per (head, query block), heads * nq + 1
     * @param rowBlocks kept key blocks per row
     * @param dq written (heads, tokens, d) f32
     * @param tokens N
     * @param scale softmax scale
     * @param geometry {@link #geometry}{@code (d, queryBlock, keyBlock)}
     */
    public static void dqF16(KernelContext ctx, IntArray q, IntArray k, IntArray v, IntArray dOut, FloatArray lse,
            FloatArray delta, IntArray rowStart, IntArray rowBlocks, FloatArray dq, int tokens, float scale,
            @Constant int geometry) {
        int[] smem = ctx.allocateIntLocalArray(DQ_LOCAL);
        dqBody(ctx, smem, q, k, v, dOut, lse, delta, rowStart, rowBlocks, dq, tokens, scale, geometry, false);
    }

    /**
     * dK/dV pass, bf16: work-group g handles keys {@code [t * 64, t * 64 + 64)} of head {@code g / tiles}, over the
     * query blocks that keep their key block. Every dk and dv element of those keys is written (zero where no query
     * block keeps the block).
     *
     * @param ctx the work-item
     * @param q queries, int view of (heads, tokens, d) bf16
     * @param kFrag keys in A-fragment order, from {@link #packFragments}
     * @param vFrag values in A-fragment order, likewise
     * @param dOut gradient of the output, int view of (heads, tokens, d) bf16
     * @param lse the forward's logsumexp (heads, tokens)
     * @param delta {@code rowsum(dO * O)} (heads, tokens)
     * @param colStart CSR offsets per (head, key block), heads * nk + 1
     * @param colBlocks query blocks keeping each key block, ascending
     * @param dk written (heads, tokens, d) f32
     * @param dv written (heads, tokens, d) f32
     * @param tokens N
     * @param scale softmax scale
     * @param geometry {@link #geometry}{@code (d, queryBlock, keyBlock)}
     */
    public static void dkdvBF16(KernelContext ctx, IntArray q, IntArray kFrag, IntArray vFrag, IntArray dOut,
            FloatArray lse,
            FloatArray delta, IntArray colStart, IntArray colBlocks, FloatArray dk, FloatArray dv, int tokens,
            float scale, @Constant int geometry) {
        int[] smem = ctx.allocateIntLocalArray(DKDV_LOCAL);
        float[] stats = ctx.allocateFloatLocalArray(2 * STATS);
        dkdvBody(ctx, smem, stats, q, kFrag, vFrag, dOut, lse, delta, colStart, colBlocks, dk, dv, tokens, scale,
                geometry,
                true);
    }

    /**
     * As {@link #dkdvBF16} with f16 operands.
     *
     * @param ctx the work-item
     * @param q queries, int view of (heads, tokens, d) f16
     * @param kFrag keys in A-fragment order, from {@link #packFragments}
     * @param vFrag values in A-fragment order, likewise
     * @param dOut gradient of the output, int view of (heads, tokens, d) f16
     * @param lse the forward's logsumexp (heads, tokens)
     * @param delta {@code rowsum(dO * O)} (heads, tokens)
     * @param colStart CSR offsets per (head, key block), heads * nk + 1
     * @param colBlocks query blocks keeping each key block, ascending
     * @param dk written (heads, tokens, d) f32
     * @param dv written (heads, tokens, d) f32
     * @param tokens N
     * @param scale softmax scale
     * @param geometry {@link #geometry}{@code (d, queryBlock, keyBlock)}
     */
    public static void dkdvF16(KernelContext ctx, IntArray q, IntArray kFrag, IntArray vFrag, IntArray dOut,
            FloatArray lse,
            FloatArray delta, IntArray colStart, IntArray colBlocks, FloatArray dk, FloatArray dv, int tokens,
            float scale, @Constant int geometry) {
        int[] smem = ctx.allocateIntLocalArray(DKDV_LOCAL);
        float[] stats = ctx.allocateFloatLocalArray(2 * STATS);
        dkdvBody(ctx, smem, stats, q, kFrag, vFrag, dOut, lse, delta, colStart, colBlocks, dk, dv, tokens, scale,
                geometry,
                false);
    }

    /**
     * The dq kernels' body. The kept key blocks are walked as one sequence of INNER-key steps; local memory holds
     * two buffers (K and V row-major, K transposed): while the MMAs read one, the next step's tiles are fetched into
     * registers and stored into the other, one barrier per step.
     */
    private static void dqBody(KernelContext ctx, int[] smem, IntArray q, IntArray k, IntArray v, IntArray dOut,
            FloatArray lse, FloatArray delta, IntArray rowStart, IntArray rowBlocks, FloatArray dq, int tokens,
            float scale, int geometry, boolean bf16) {
        short[] qf = new short[D_FRAGS * A];
        short[] of = new short[D_FRAGS * A];
        short[] bfr = new short[B];
        short[] dsf = new short[A];
        float[] s = new float[SCORE_TILES * C];
        float[] dp = new float[SCORE_TILES * C];
        float[] acc = new float[D_TILES * C];
        int[] rk = new int[2 * STAGE_ITEMS];
        int[] rv = new int[2 * STAGE_ITEMS];
        int d = geometry & 255;
        int queryBlock = (geometry >> 8 & 255) * TILE;
        int keyBlock = (geometry >> 16) * TILE;
        int half = d / 2;
        int ldr = half + PAD;
        int tid = ctx.localIdx;
        int lane = tid & 31;
        int g = lane >> 2;
        int t = lane & 3;
        int tiles = (tokens + TILE - 1) / TILE;
        int bh = ctx.groupIdx / tiles;
        int rowBase = ctx.groupIdx % tiles * TILE;
        int warpRow = rowBase + (tid >> 5) * 16;
        int head = bh * tokens;
        int nq = (tokens + queryBlock - 1) / queryBlock;
        int maskRow = bh * nq + rowBase / queryBlock;
        int perBlock = keyBlock / INNER;
        int first = rowStart.get(maskRow);
        int steps = (rowStart.get(maskRow + 1) - first) * perBlock;
        if (steps > 0) {
            int start = rowBlocks.get(first) * keyBlock;
            int end = KernelMath.min(start + keyBlock, tokens);
            fetch(k, head, start, end, half, tid, rk);
            fetch(v, head, start, end, half, tid, rv);
        }
        for (int f = 0; f < D_FRAGS; f++) {
            if (f < d / 16) {
                loadOwnA(q, head, warpRow, tokens, half, f, g, t, qf, f * A);
                loadOwnA(dOut, head, warpRow, tokens, half, f, g, t, of, f * A);
            }
        }
        for (int i = 0; i < D_TILES * C; i++) {
            acc[i] = 0f;
        }
        // this lane's rows g and g + 8 of the warp's 16
        float lse0 = warpRow + g < tokens ? lse.get(head + warpRow + g) : 0f;
        float lse8 = warpRow + g + 8 < tokens ? lse.get(head + warpRow + g + 8) : 0f;
        float delta0 = warpRow + g < tokens ? delta.get(head + warpRow + g) : 0f;
        float delta8 = warpRow + g + 8 < tokens ? delta.get(head + warpRow + g + 8) : 0f;
        if (steps > 0) {
            put(rk, smem, 0, 2 * ROW_TILE, half, ldr, tid, true);
            put(rv, smem, ROW_TILE, 0, half, ldr, tid, false);
        }
        ctx.localBarrier();
        for (int step = 0; step < steps; step++) {
            int buf = (step & 1) * DQ_BUFFER;
            int blockStart = rowBlocks.get(first + step / perBlock) * keyBlock;
            int blockEnd = KernelMath.min(blockStart + keyBlock, tokens);
            int keyBase = blockStart + step % perBlock * INNER;
            if (step + 1 < steps) {
                // issued now, stored after the MMAs: the loads' latency hides behind the tensor-core work
                int nextStart = rowBlocks.get(first + (step + 1) / perBlock) * keyBlock;
                int nextEnd = KernelMath.min(nextStart + keyBlock, tokens);
                int nextBase = nextStart + (step + 1) % perBlock * INNER;
                fetch(k, head, nextBase, nextEnd, half, tid, rk);
                fetch(v, head, nextBase, nextEnd, half, tid, rv);
            }
            for (int i = 0; i < SCORE_TILES * C; i++) {
                s[i] = 0f;
                dp[i] = 0f;
            }
            // S = Q K^T and dP = dO V^T over d
            for (int f = 0; f < D_FRAGS; f++) {
                if (f < d / 16) {
                    for (int j = 0; j < SCORE_TILES; j++) {
                        loadB(smem, buf + (8 * j + g) * ldr + 8 * f + 2 * t, bfr);
                        mma(ctx, qf, f * A, bfr, s, j * C, bf16);
                        loadB(smem, buf + ROW_TILE + (8 * j + g) * ldr + 8 * f + 2 * t, bfr);
                        mma(ctx, of, f * A, bfr, dp, j * C, bf16);
                    }
                }
            }
            // dS = P (dP - delta), P = exp(scale S - lse), as the A fragment of the step's 16 keys (C tiles 0, 1)
            for (int j = 0; j < SCORE_TILES; j++) {
                for (int c = 0; c < C; c++) {
                    boolean lower = c < 2;
                    float p = keyBase + 8 * j + 2 * t + (c & 1) < blockEnd
                            ? KernelMath.exp(s[j * C + c] * scale - (lower ? lse0 : lse8)) : 0f;
                    float ds = p * (dp[j * C + c] - (lower ? delta0 : delta8));
                    dsf[j * 4 + c] = round(ds, bf16);
                }
            }
            // dQ += dS K: B (k = key, n = column) from the transposed K
            for (int n = 0; n < D_TILES; n++) {
                if (n < d / 8) {
                    loadB(smem, buf + 2 * ROW_TILE + transposedAt(8 * n + g, t), bfr);
                    mma(ctx, dsf, 0, bfr, acc, n * C, bf16);
                }
            }
            if (step + 1 < steps) {
                // the other buffer was last read before the previous barrier
                int other = DQ_BUFFER - buf;
                put(rk, smem, other, other + 2 * ROW_TILE, half, ldr, tid, true);
                put(rv, smem, other + ROW_TILE, 0, half, ldr, tid, false);
            }
            ctx.localBarrier();
        }
        storeRows(acc, dq, head, warpRow, tokens, d, g, t, scale);
    }

    /**
     * The dkdv kernels' body: the query blocks keeping the key block are walked as one sequence of INNER-query
     * steps, double-buffered as in {@link #dqBody} (Q and dO both ways, and the step's lse and delta).
     */
    private static void dkdvBody(KernelContext ctx, int[] smem, float[] stats, IntArray q, IntArray kFrag,
            IntArray vFrag,
            IntArray dOut, FloatArray lse, FloatArray delta, IntArray colStart, IntArray colBlocks, FloatArray dk,
            FloatArray dv, int tokens, float scale, int geometry, boolean bf16) {
        short[] kf = new short[2 * A];
        short[] vf = new short[2 * A];
        short[] bfr = new short[B];
        short[] pf = new short[A];
        short[] dsf = new short[A];
        float[] s = new float[SCORE_TILES * C];
        float[] dp = new float[SCORE_TILES * C];
        float[] accK = new float[D_TILES * C];
        float[] accV = new float[D_TILES * C];
        int[] rq = new int[2 * STAGE_ITEMS];
        int[] ro = new int[2 * STAGE_ITEMS];
        int d = geometry & 255;
        int queryBlock = (geometry >> 8 & 255) * TILE;
        int keyBlock = (geometry >> 16) * TILE;
        int half = d / 2;
        int ldr = half + PAD;
        int frags = d / 16;
        int tid = ctx.localIdx;
        int lane = tid & 31;
        int g = lane >> 2;
        int t = lane & 3;
        int tiles = (tokens + TILE - 1) / TILE;
        int bh = ctx.groupIdx / tiles;
        int keyBase = ctx.groupIdx % tiles * TILE;
        int warpKey = keyBase + (tid >> 5) * 16;
        int head = bh * tokens;
        // this warp's 16-key tile in the fragment arrays, whose heads are padded to whole 64-key tiles
        int fragTile = (bh * tiles * TILE + warpKey) / 16 * frags;
        int nk = (tokens + keyBlock - 1) / keyBlock;
        int maskCol = bh * nk + keyBase / keyBlock;
        int perBlock = queryBlock / INNER;
        int first = colStart.get(maskCol);
        int steps = (colStart.get(maskCol + 1) - first) * perBlock;
        float rl = 0f;
        float rd = 0f;
        if (steps > 0) {
            int start = colBlocks.get(first) * queryBlock;
            int end = KernelMath.min(start + queryBlock, tokens);
            fetch(q, head, start, end, half, tid, rq);
            fetch(dOut, head, start, end, half, tid, ro);
            rl = tid < INNER && start + tid < end ? lse.get(head + start + tid) : 0f;
            rd = tid < INNER && start + tid < end ? delta.get(head + start + tid) : 0f;
        }
        for (int i = 0; i < D_TILES * C; i++) {
            accK[i] = 0f;
            accV[i] = 0f;
        }
        if (steps > 0) {
            put(rq, smem, 0, 2 * ROW_TILE, half, ldr, tid, true);
            put(ro, smem, ROW_TILE, 2 * ROW_TILE + T_TILE, half, ldr, tid, true);
            if (tid < INNER) {
                stats[tid] = rl;
                stats[INNER + tid] = rd;
            }
        }
        ctx.localBarrier();
        for (int step = 0; step < steps; step++) {
            int buf = (step & 1) * DKDV_BUFFER;
            int sbuf = (step & 1) * STATS;
            int blockStart = colBlocks.get(first + step / perBlock) * queryBlock;
            int blockEnd = KernelMath.min(blockStart + queryBlock, tokens);
            int rowBase = blockStart + step % perBlock * INNER;
            // the first K and V fragments, then the next step's tiles: both in flight behind the MMAs
            loadFragment(kFrag, fragTile, lane, kf, 0);
            loadFragment(vFrag, fragTile, lane, vf, 0);
            if (step + 1 < steps) {
                int nextStart = colBlocks.get(first + (step + 1) / perBlock) * queryBlock;
                int nextEnd = KernelMath.min(nextStart + queryBlock, tokens);
                int nextBase = nextStart + (step + 1) % perBlock * INNER;
                fetch(q, head, nextBase, nextEnd, half, tid, rq);
                fetch(dOut, head, nextBase, nextEnd, half, tid, ro);
                rl = tid < INNER && nextBase + tid < nextEnd ? lse.get(head + nextBase + tid) : 0f;
                rd = tid < INNER && nextBase + tid < nextEnd ? delta.get(head + nextBase + tid) : 0f;
            }
            for (int i = 0; i < SCORE_TILES * C; i++) {
                s[i] = 0f;
                dp[i] = 0f;
            }
            // S^T = K Q^T and dP^T = V dO^T over d (rows are keys, columns queries), two k-steps a trip: the
            // K and V fragments of the next k-step load (into the other half of kf, vf) before this one's MMAs
            for (int f = 0; f < D_FRAGS; f += 2) {
                if (f < frags) {
                    if (f + 1 < frags) {
                        loadFragment(kFrag, fragTile + f + 1, lane, kf, A);
                        loadFragment(vFrag, fragTile + f + 1, lane, vf, A);
                    }
                    scoreStep(ctx, smem, kf, 0, vf, 0, bfr, s, dp, buf + g * ldr + 8 * f + 2 * t, ldr, bf16);
                    if (f + 1 < frags) {
                        if (f + 2 < frags) {
                            loadFragment(kFrag, fragTile + f + 2, lane, kf, 0);
                            loadFragment(vFrag, fragTile + f + 2, lane, vf, 0);
                        }
                        scoreStep(ctx, smem, kf, A, vf, A, bfr, s, dp, buf + g * ldr + 8 * (f + 1) + 2 * t, ldr,
                                bf16);
                    }
                }
            }
            // P^T and dS^T = P^T (dP^T - delta) per query column, as A fragments of the step's 16 queries
            for (int j = 0; j < SCORE_TILES; j++) {
                for (int c = 0; c < C; c++) {
                    int col = 8 * j + 2 * t + (c & 1);
                    float p = rowBase + col < blockEnd ? KernelMath.exp(s[j * C + c] * scale - stats[sbuf + col])
                            : 0f;
                    float ds = p * (dp[j * C + c] - stats[sbuf + INNER + col]);
                    pf[j * 4 + c] = round(p, bf16);
                    dsf[j * 4 + c] = round(ds, bf16);
                }
            }
            // dV += P^T dO and dK += dS^T Q: B (k = query, n = column) from the transposed tiles
            for (int n = 0; n < D_TILES; n++) {
                if (n < d / 8) {
                    loadB(smem, buf + 2 * ROW_TILE + T_TILE + transposedAt(8 * n + g, t), bfr);
                    mma(ctx, pf, 0, bfr, accV, n * C, bf16);
                    loadB(smem, buf + 2 * ROW_TILE + transposedAt(8 * n + g, t), bfr);
                    mma(ctx, dsf, 0, bfr, accK, n * C, bf16);
                }
            }
            if (step + 1 < steps) {
                // the other buffers were last read before the previous barrier
                int other = DKDV_BUFFER - buf;
                put(rq, smem, other, other + 2 * ROW_TILE, half, ldr, tid, true);
                put(ro, smem, other + ROW_TILE, other + 2 * ROW_TILE + T_TILE, half, ldr, tid, true);
                if (tid < INNER) {
                    stats[STATS - sbuf + tid] = rl;
                    stats[STATS - sbuf + INNER + tid] = rd;
                }
            }
            ctx.localBarrier();
        }
        storeRows(accK, dk, head, warpKey, tokens, d, g, t, scale);
        storeRows(accV, dv, head, warpKey, tokens, d, g, t, 1f);
    }

    /**
     * One k-step of the transposed scores: {@code s += K_f Q_f^T} and {@code dp += V_f dO_f^T} for the step's
     * SCORE_TILES n-tiles of queries, B fragments from the row-major Q and dO tiles at {@code at} (this lane's
     * row g and pair slot of the k-step) and {@code ROW_TILE + at}.
     */
    private static void scoreStep(KernelContext ctx, int[] smem, short[] kf, int kAt, short[] vf, int vAt,
            short[] bfr, float[] s, float[] dp, int at, int ldr, boolean bf16) {
        for (int j = 0; j < SCORE_TILES; j++) {
            loadB(smem, at + 8 * j * ldr, bfr);
            mma(ctx, kf, kAt, bfr, s, j * C, bf16);
            loadB(smem, ROW_TILE + at + 8 * j * ldr, bfr);
            mma(ctx, vf, vAt, bfr, dp, j * C, bf16);
        }
    }

    /**
     * Fetches this work-item's share of rows {@code [rowBase, rowBase + INNER)} of a (tokens, d) pair array at row
     * {@code head} into registers: item it is row pair {@code rp}, int column {@code cp} (adjacent work-items,
     * adjacent ints of a row), rows {@code 2 rp} and {@code 2 rp + 1} at {@code regs[2 it]} and
     * {@code regs[2 it + 1]}; rows at or past {@code limit} read as 0.
     */
    private static void fetch(IntArray src, int head, int rowBase, int limit, int half, int tid, int[] regs) {
        for (int it = 0; it < STAGE_ITEMS; it++) {
            int e = tid + GROUP * it;
            if (e < INNER / 2 * half) {
                int rp = e / half;
                int cp = e - rp * half;
                int r = rowBase + 2 * rp;
                regs[2 * it] = r < limit ? src.get((head + r) * half + cp) : 0;
                regs[2 * it + 1] = r + 1 < limit ? src.get((head + r + 1) * half + cp) : 0;
            }
        }
    }

    /**
     * Stores what {@link #fetch} got: row-major into {@code smem[rowAt + r * ldr + slot(cp)]} and, when
     * {@code transposed}, as pairs of rows into row c of the transposed tile at {@code tAt} (column c, rows
     * {@code 2 rp} and {@code 2 rp + 1} in the low and high halves).
     */
    private static void put(int[] regs, int[] smem, int rowAt, int tAt, int half, int ldr, int tid,
            boolean transposed) {
        for (int it = 0; it < STAGE_ITEMS; it++) {
            int e = tid + GROUP * it;
            if (e < INNER / 2 * half) {
                int rp = e / half;
                int cp = e - rp * half;
                int lo = regs[2 * it];
                int hi = regs[2 * it + 1];
                smem[rowAt + 2 * rp * ldr + slot(cp)] = lo;
                smem[rowAt + (2 * rp + 1) * ldr + slot(cp)] = hi;
                if (transposed) {
                    smem[tAt + 2 * cp * LDT + (slot(rp) ^ swizzle(2 * cp))] = (lo & 0xffff) | (hi << 16);
                    smem[tAt + (2 * cp + 1) * LDT + (slot(rp) ^ swizzle(2 * cp + 1))] = (lo >>> 16)
                            | (hi & 0xffff0000);
                }
            }
        }
    }

    /**
     * This lane's A fragment number {@code fragment} of an array from {@link #packFragments}: four ints, each read
     * by the warp as 128 contiguous bytes.
     */
    private static void loadFragment(IntArray frag, int fragment, int lane, short[] out, int at) {
        int base = fragment * 4 * 32 + lane;
        splitPair(frag.get(base), out, at);
        splitPair(frag.get(base + 32), out, at + 2);
        splitPair(frag.get(base + 64), out, at + 4);
        splitPair(frag.get(base + 96), out, at + 6);
    }

    /**
     * This lane's A fragment of k-step f (d columns {@code [16 f, 16 f + 16)}) of the 16 rows from {@code row0} of
     * a (tokens, d) pair array in global memory; rows at or past {@code limit} read as 0.
     */
    private static void loadOwnA(IntArray src, int head, int row0, int limit, int half, int f, int g, int t,
            short[] frag, int at) {
        int r0 = row0 + g;
        int r8 = r0 + 8;
        int p = 8 * f + t;
        splitPair(r0 < limit ? src.get((head + r0) * half + p) : 0, frag, at);
        splitPair(r8 < limit ? src.get((head + r8) * half + p) : 0, frag, at + 2);
        splitPair(r0 < limit ? src.get((head + r0) * half + p + 4) : 0, frag, at + 4);
        splitPair(r8 < limit ? src.get((head + r8) * half + p + 4) : 0, frag, at + 6);
    }

    /**
     * A B fragment from a local tile holding B's columns as rows of pairs along k: pairs t and t + 4 of the
     * k-step, side by side at {@code at} (even) and {@code at + 1} ({@link #slot}), one 64-bit load.
     */
    private static void loadB(int[] smem, int at, short[] frag) {
        splitPair(smem[at], frag, 0);
        splitPair(smem[at + 1], frag, 2);
    }

    /**
     * Where pair {@code p} of a row sits within the row: in each group of 8 pairs (one 16-deep k-step) the order
     * is 0 4 1 5 2 6 3 7, so that the pairs t and t + 4 a fragment takes are adjacent.
     */
    private static int slot(int p) {
        return (p & ~7) | ((p & 3) << 1) | ((p >> 2) & 1);
    }

    /**
     * XOR applied to the slots of row c of a transposed tile (8 ints a row, so a half-warp's 4 fragment rows already
     * sit on 4 bank octets): rows 4 apart get different even offsets, so that staging stores of 8 consecutive columns
     * spread over 8 banks instead of 2.
     */
    private static int swizzle(int c) {
        return ((c >> 2) & 3) << 1;
    }

    /** Index in a transposed tile of this lane's fragment pairs t, t + 4 in row (column of B) c. */
    private static int transposedAt(int c, int t) {
        return c * LDT + ((2 * t) ^ swizzle(c));
    }

    private static void mma(KernelContext ctx, short[] a, int aAt, short[] b, float[] c, int cAt, boolean bf16) {
        if (bf16) {
            ctx.mmaBF16(a, aAt, b, 0, c, cAt);
        } else {
            ctx.mmaF16(a, aAt, b, 0, c, cAt);
        }
    }

    /** Writes a warp's 16 x d accumulators (d / 8 C fragments) times {@code alpha}, rows below {@code limit}. */
    private static void storeRows(float[] acc, FloatArray out, int head, int row0, int limit, int d, int g, int t,
            float alpha) {
        for (int n = 0; n < D_TILES; n++) {
            if (n < d / 8) {
                for (int c = 0; c < C; c++) {
                    int row = row0 + g + 8 * (c >> 1);
                    if (row < limit) {
                        out.set((head + row) * d + 8 * n + 2 * t + (c & 1), alpha * acc[n * C + c]);
                    }
                }
            }
        }
    }

    /** Splits two packed 16-bit values into fragment elements {@code at} (low half) and {@code at + 1}. */
    private static void splitPair(int pair, short[] fragment, int at) {
        fragment[at] = (short) pair;
        fragment[at + 1] = (short) (pair >>> 16);
    }

    /** x rounded to bf16 or f16 bits, to nearest even (P and dS are finite). */
    private static short round(float x, boolean bf16) {
        if (bf16) {
            int bits = Float.floatToRawIntBits(x);
            return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
        }
        return KernelMath.floatToHalf(x);
    }

    private static float low(int pair, boolean bf16) {
        return bf16 ? Float.intBitsToFloat(pair << 16) : KernelMath.halfToFloat((short) pair);
    }

    private static float high(int pair, boolean bf16) {
        return bf16 ? Float.intBitsToFloat(pair & 0xffff0000) : KernelMath.halfToFloat((short) (pair >>> 16));
    }
}
