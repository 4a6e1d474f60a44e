package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.annotations.Constant;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

/**
 * Block-sparse FlashAttention backward in f32 (section 3 of SpargeAttention2), deterministic and free of atomics.
 * Launch order:
 * <ol>
 * <li>{@link #packPair} twice: {@code qdo = [scale * q | dO]} and {@code kv = [k | v]}, (heads, tokens, 2d), so
 * that a tile's two operands come from one array (and the kernels stay within the task graph's ten
 * parameters);</li>
 * <li>{@link #rowStats}: {@code stats = [lse, D]} per query row, {@code D = rowsum(dO * O)};</li>
 * <li>{@link #dq}: one work-group per 64 query rows walks the kept key blocks of their query block (the mask's
 * {@code rowStart}/{@code rowBlocks}) and writes {@code dQ = scale * dS K};</li>
 * <li>{@link #dkdv}: one work-group per 64 keys walks the query blocks that keep their key block (the transpose,
 * {@code colStart}/{@code colBlocks}) and writes {@code dV = P^T dO} and {@code dK = scale * dS^T Q}.</li>
 * </ol>
 * Scores are recomputed per 64x64 tile from the forward's logsumexp: {@code P = exp(scale * Q K^T - lse)},
 * {@code dS = P * (dO V^T - D)}. Tensors are (heads, tokens, d) row-major (BHND with heads = B * H), lse
 * (heads, tokens). The keys may be fewer or more than the queries ({@code keys}: cross-attention, video tokens over
 * text rows, with a mask listing every key block); k, v, dk and dv are then (heads, keys, d). Query and key blocks
 * must be multiples of {@link #TILE} (the paper's 128 x 64 are), so a tile never straddles two blocks; the last
 * block on either side may be short. A key block that no query block keeps gets {@code dK = dV = 0}.
 *
 * <p>Inside a tile each of the 16x16 work-items owns 4x4 scores (rows {@code tr + 16 a}, columns
 * {@code tc + 16 b}); for the scores the head dimension is streamed through local memory in chunks of
 * {@link #CHUNK} columns, for the gradient products the 64 rows in chunks of 8 whole rows, so that d = 128 fits
 * in 48 KiB. A work-item accumulates 4 gradient rows by {@code d / 16} columns ({@code tc + 16 ch}) in registers.
 *
 * <p>Grids: {@link #packPair} 1D over {@code heads * tokens * d}, {@link #rowStats} 1D over {@code heads * tokens}
 * (any local size); {@link #dq} 1D {@link #groups}{@code (heads, tokens) * GROUP} and {@link #dkdv}
 * {@link #groups}{@code (heads, keys) * GROUP}, both with local size {@link #GROUP}. Their {@code @Constant geometry}
 * is {@link #geometry}{@code (d, queryBlock, keyBlock)}.
 */
public final class FlashBackwardKernels {
    /** Query rows (dq) or keys (dkdv) per work-group; also the inner tile along the other side. */
    public static final int TILE = 64;
    /** Work-group size of {@link #dq} and {@link #dkdv}. */
    public static final int GROUP = 256;
    /** Largest head dimension (the accumulators live in registers). */
    public static final int MAX_D = 128;
    /** Head-dimension columns per local chunk of the score products; d must be a multiple of it. */
    public static final int CHUNK = 16;

    /** Work-items per tile edge (16 x 16 = GROUP). */
    private static final int EDGE = 16;
    /** Rows (and columns) of a tile one work-item owns. */
    private static final int PER = TILE / EDGE;
    /** Row stride of a transposed chunk and of a score tile: one float of padding spreads the banks. */
    private static final int LDT = TILE + 1;
    /** A chunk transposed: CHUNK rows of TILE (+ pad). */
    private static final int CHUNK_T = CHUNK * LDT;
    /** A 64x64 score tile (+ pad). */
    private static final int SCORES = TILE * LDT;
    /** Whole rows per chunk of the gradient products. */
    private static final int ROWS = 8;
    /** Local floats of one such chunk (ROWS rows of at most MAX_D). */
    private static final int ROW_CHUNK = ROWS * MAX_D;
    /** Elements each work-item loads per transposed chunk. */
    private static final int LOADS = TILE * CHUNK / GROUP;
    /** Gradient accumulators per work-item: 4 rows by MAX_D / 16 columns. */
    private static final int ACC = PER * (MAX_D / CHUNK);
    /** dq's local memory: four transposed chunks, later the dS tile and a row chunk of K (20.3 KiB). */
    private static final int DQ_LOCAL = SCORES + ROW_CHUNK;
    /** dkdv's local memory: four transposed chunks, later P, dS and row chunks of Q and dO (40.5 KiB). */
    private static final int DKDV_LOCAL = 2 * SCORES + 2 * ROW_CHUNK;

    private FlashBackwardKernels() {
    }

    /**
     * Work-groups of {@link #dq} and {@link #dkdv}: one per 64 tokens of each head.
     *
     * @param heads B * H
     * @param tokens N
     * @return {@code heads * ceil(tokens / TILE)}
     */
    public static int groups(int heads, int tokens) {
        return heads * ((tokens + TILE - 1) / TILE);
    }

    /**
     * The {@code @Constant geometry} of {@link #dq} and {@link #dkdv}, after checking the sizes.
     *
     * @param d head dimension: a multiple of {@link #CHUNK}, at most {@link #MAX_D}
     * @param queryBlock tokens per query block, a multiple of {@link #TILE}
     * @param keyBlock tokens per key block, a multiple of {@link #TILE}
     * @return {@code d | (queryBlock / 64) << 8 | (keyBlock / 64) << 16}
     * @throws IllegalArgumentException naming the size that does not fit
     */
    public static int geometry(int d, int queryBlock, int keyBlock) {
        if (d <= 0 || d % CHUNK != 0 || d > MAX_D) {
            throw new IllegalArgumentException("FlashBackwardKernels: d is " + d + ", expected a positive multiple of "
                    + CHUNK + " up to " + MAX_D);
        }
        if (queryBlock <= 0 || queryBlock % TILE != 0 || queryBlock / TILE > 255 || keyBlock <= 0
                || keyBlock % TILE != 0 || keyBlock / TILE > 255) {
            throw new IllegalArgumentException("FlashBackwardKernels: blocks are " + queryBlock + " x " + keyBlock
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
     * @throws IllegalArgumentException if {@code heads * tokens * 2d} exceeds {@code Integer.MAX_VALUE}
     */
    public static void checkSizes(int heads, int tokens, int d) {
        if (heads <= 0 || tokens <= 0 || (long) heads * tokens * 2 * d > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("FlashBackwardKernels: heads " + heads + ", tokens " + tokens + ", d "
                    + d + ": expected positive sizes with heads * tokens * 2d at most " + Integer.MAX_VALUE
                    + " (32-bit indices); split the batch");
        }
    }

    /**
     * {@code ab[r, 0:d] = alpha * a[r, :]}, {@code ab[r, d:2d] = b[r, :]} for {@code rows} rows of d.
     *
     * @param ctx the work-item
     * @param a first operand (rows, d)
     * @param b second operand (rows, d)
     * @param ab written (rows, 2d)
     * @param alpha multiplies a (the softmax scale for q, 1 for k)
     * @param rows heads * tokens
     * @param d head dimension
     */
    public static void packPair(KernelContext ctx, FloatArray a, FloatArray b, FloatArray ab, float alpha, int rows,
            @Constant int d) {
        int e = ctx.globalIdx;
        if (e < rows * d) {
            int r = e / d;
            int c = e % d;
            ab.set(r * 2 * d + c, alpha * a.get(e));
            ab.set(r * 2 * d + d + c, b.get(e));
        }
    }

    /**
     * {@code stats[2r] = lse[r]}, {@code stats[2r + 1] = sum_c dOut[r, c] * out[r, c]} for each row.
     *
     * @param ctx the work-item
     * @param dOut gradient of the output (rows, d)
     * @param out the forward's output (rows, d)
     * @param lse the forward's logsumexp (rows)
     * @param stats written (rows, 2)
     * @param rows heads * tokens
     * @param d head dimension
     */
    public static void rowStats(KernelContext ctx, FloatArray dOut, FloatArray out, FloatArray lse, FloatArray stats,
            int rows, @Constant int d) {
        int r = ctx.globalIdx;
        if (r < rows) {
            float sum = 0f;
            for (int c = 0; c < d; c++) {
                sum = KernelMath.fma(dOut.get(r * d + c), out.get(r * d + c), sum);
            }
            stats.set(2 * r, lse.get(r));
            stats.set(2 * r + 1, sum);
        }
    }

    /**
     * dQ pass: work-group g handles query rows {@code [t * 64, t * 64 + 64)} of head {@code g / tiles}
     * ({@code t = g % tiles}, {@code tiles = ceil(tokens / 64)}), over the key blocks its query block keeps.
     * Every dq element of those rows is written.
     *
     * @param ctx the work-item
     * @param qdo {@code [scale * q | dO]} (heads, tokens, 2d) from {@link #packPair}
     * @param kv {@code [k | v]} (heads, keys, 2d)
     * @param stats {@code [lse, D]} (heads, tokens, 2) from {@link #rowStats}
     * @param rowStart CSR offsets per (head, query block), heads * nq + 1
     * @param rowBlocks kept key blocks, ascending per row
     * @param dq written (heads, tokens, d)
     * @param tokens queries per head
     * @param keys keys per head ({@code tokens} for self-attention)
     * @param scale softmax scale
     * @param geometry {@link #geometry}{@code (d, queryBlock, keyBlock)}
     */
    public static void dq(KernelContext ctx, FloatArray qdo, FloatArray kv, FloatArray stats, IntArray rowStart,
            IntArray rowBlocks, FloatArray dq, int tokens, int keys, float scale, @Constant int geometry) {
        float[] smem = ctx.allocateFloatLocalArray(DQ_LOCAL);
        float[] s = new float[PER * PER];
        float[] dp = new float[PER * PER];
        float[] acc = new float[ACC];
        float[] rowLse = new float[PER];
        float[] rowDelta = new float[PER];
        float[] xa = new float[PER];
        float[] ya = new float[PER];
        float[] xb = new float[PER];
        float[] yb = new float[PER];
        int d = geometry & 255;
        int queryBlock = (geometry >> 8 & 255) * TILE;
        int keyBlock = (geometry >> 16) * TILE;
        int tid = ctx.localIdx;
        int tr = tid / EDGE;
        int tc = tid % EDGE;
        int tiles = (tokens + TILE - 1) / TILE;
        int bh = ctx.groupIdx / tiles;
        int rowBase = ctx.groupIdx % tiles * TILE;
        int nq = (tokens + queryBlock - 1) / queryBlock;
        int maskRow = bh * nq + rowBase / queryBlock;
        int pairBase = bh * tokens * 2 * d;
        int keyPairBase = bh * keys * 2 * d;
        for (int i = 0; i < ACC; i++) {
            acc[i] = 0f;
        }
        for (int a = 0; a < PER; a++) {
            int row = rowBase + tr + EDGE * a;
            rowLse[a] = row < tokens ? stats.get(2 * (bh * tokens + row)) : 0f;
            rowDelta[a] = row < tokens ? stats.get(2 * (bh * tokens + row) + 1) : 0f;
        }
        int first = rowStart.get(maskRow);
        int last = rowStart.get(maskRow + 1);
        for (int e = first; e < last; e++) {
            int blockStart = rowBlocks.get(e) * keyBlock;
            int blockEnd = KernelMath.min(blockStart + keyBlock, keys);
            for (int keyBase = blockStart; keyBase < blockEnd; keyBase += TILE) {
                for (int i = 0; i < PER * PER; i++) {
                    s[i] = 0f;
                    dp[i] = 0f;
                }
                // S = (scale Q) K^T and dP = dO V^T, d streamed in chunks
                for (int c0 = 0; c0 < d; c0 += CHUNK) {
                    ctx.localBarrier();
                    loadTransposed(smem, 0, qdo, pairBase, rowBase, tokens, d, c0, tid);
                    loadTransposed(smem, CHUNK_T, qdo, pairBase, rowBase, tokens, d, d + c0, tid);
                    loadTransposed(smem, 2 * CHUNK_T, kv, keyPairBase, keyBase, blockEnd, d, c0, tid);
                    loadTransposed(smem, 3 * CHUNK_T, kv, keyPairBase, keyBase, blockEnd, d, d + c0, tid);
                    ctx.localBarrier();
                    for (int c = 0; c < CHUNK; c++) {
                        tileStep(smem, c * LDT + tr, CHUNK_T + c * LDT + tr, 2 * CHUNK_T + c * LDT + tc,
                                3 * CHUNK_T + c * LDT + tc, xa, ya, xb, yb, s, dp);
                    }
                }
                ctx.localBarrier(); // the chunks above are read no more: dS takes their place
                for (int a = 0; a < PER; a++) {
                    boolean rowValid = rowBase + tr + EDGE * a < tokens;
                    for (int b = 0; b < PER; b++) {
                        boolean valid = rowValid && keyBase + tc + EDGE * b < blockEnd;
                        float p = valid ? KernelMath.exp(s[a * PER + b] - rowLse[a]) : 0f;
                        smem[(tr + EDGE * a) * LDT + tc + EDGE * b] = p * (dp[a * PER + b] - rowDelta[a]);
                    }
                }
                // dQ += dS K, ROWS whole rows of K at a time
                for (int k0 = 0; k0 < TILE; k0 += ROWS) {
                    ctx.localBarrier();
                    loadRows(smem, SCORES, kv, keyPairBase, keyBase + k0, blockEnd, d, 0, tid);
                    ctx.localBarrier();
                    for (int kk = 0; kk < ROWS; kk++) {
                        for (int a = 0; a < PER; a++) {
                            xa[a] = smem[(tr + EDGE * a) * LDT + k0 + kk];
                        }
                        gradientStep(smem, SCORES + kk * d + tc, xa, acc, d);
                    }
                }
            }
        }
        for (int a = 0; a < PER; a++) {
            int row = rowBase + tr + EDGE * a;
            if (row < tokens) {
                for (int ch = 0; ch < MAX_D / CHUNK; ch++) {
                    if (ch < d / CHUNK) {
                        dq.set((bh * tokens + row) * d + ch * CHUNK + tc, scale * acc[ch * PER + a]);
                    }
                }
            }
        }
    }

    /**
     * dK/dV pass: work-group g handles keys {@code [t * 64, t * 64 + 64)} of head {@code g / tiles}
     * ({@code t = g % tiles}, {@code tiles = ceil(keys / 64)}), over the query blocks that keep their key block.
     * Every dk and dv element of those keys is written (zero where no query block keeps the block).
     *
     * @param ctx the work-item
     * @param qdo {@code [scale * q | dO]} (heads, tokens, 2d) from {@link #packPair}
     * @param kv {@code [k | v]} (heads, keys, 2d)
     * @param stats {@code [lse, D]} (heads, tokens, 2) from {@link #rowStats}
     * @param colStart CSR offsets per (head, key block), heads * nk + 1
     * @param colBlocks query blocks keeping each key block, ascending
     * @param dk written (heads, keys, d)
     * @param dv written (heads, keys, d)
     * @param tokens queries per head
     * @param keys keys per head ({@code tokens} for self-attention)
     * @param geometry {@link #geometry}{@code (d, queryBlock, keyBlock)}
     */
    public static void dkdv(KernelContext ctx, FloatArray qdo, FloatArray kv, FloatArray stats, IntArray colStart,
            IntArray colBlocks, FloatArray dk, FloatArray dv, int tokens, int keys, @Constant int geometry) {
        float[] smem = ctx.allocateFloatLocalArray(DKDV_LOCAL);
        float[] s = new float[PER * PER];
        float[] dp = new float[PER * PER];
        float[] accK = new float[ACC];
        float[] accV = new float[ACC];
        float[] colLse = new float[PER];
        float[] colDelta = new float[PER];
        float[] xa = new float[PER];
        float[] ya = new float[PER];
        float[] xb = new float[PER];
        float[] yb = new float[PER];
        int d = geometry & 255;
        int queryBlock = (geometry >> 8 & 255) * TILE;
        int keyBlock = (geometry >> 16) * TILE;
        int tid = ctx.localIdx;
        int tr = tid / EDGE;
        int tc = tid % EDGE;
        int tiles = (keys + TILE - 1) / TILE;
        int bh = ctx.groupIdx / tiles;
        int keyBase = ctx.groupIdx % tiles * TILE;
        int nk = (keys + keyBlock - 1) / keyBlock;
        int maskCol = bh * nk + keyBase / keyBlock;
        int pairBase = bh * tokens * 2 * d;
        int keyPairBase = bh * keys * 2 * d;
        for (int i = 0; i < ACC; i++) {
            accK[i] = 0f;
            accV[i] = 0f;
        }
        int first = colStart.get(maskCol);
        int last = colStart.get(maskCol + 1);
        for (int e = first; e < last; e++) {
            int blockStart = colBlocks.get(e) * queryBlock;
            int blockEnd = KernelMath.min(blockStart + queryBlock, tokens);
            for (int rowBase = blockStart; rowBase < blockEnd; rowBase += TILE) {
                for (int b = 0; b < PER; b++) {
                    int row = rowBase + tc + EDGE * b;
                    colLse[b] = row < blockEnd ? stats.get(2 * (bh * tokens + row)) : 0f;
                    colDelta[b] = row < blockEnd ? stats.get(2 * (bh * tokens + row) + 1) : 0f;
                }
                for (int i = 0; i < PER * PER; i++) {
                    s[i] = 0f;
                    dp[i] = 0f;
                }
                // transposed tiles: S^T = K (scale Q)^T and dP^T = V dO^T (rows are keys, columns queries)
                for (int c0 = 0; c0 < d; c0 += CHUNK) {
                    ctx.localBarrier();
                    loadTransposed(smem, 0, kv, keyPairBase, keyBase, keys, d, c0, tid);
                    loadTransposed(smem, CHUNK_T, kv, keyPairBase, keyBase, keys, d, d + c0, tid);
                    loadTransposed(smem, 2 * CHUNK_T, qdo, pairBase, rowBase, blockEnd, d, c0, tid);
                    loadTransposed(smem, 3 * CHUNK_T, qdo, pairBase, rowBase, blockEnd, d, d + c0, tid);
                    ctx.localBarrier();
                    for (int c = 0; c < CHUNK; c++) {
                        tileStep(smem, c * LDT + tr, CHUNK_T + c * LDT + tr, 2 * CHUNK_T + c * LDT + tc,
                                3 * CHUNK_T + c * LDT + tc, xa, ya, xb, yb, s, dp);
                    }
                }
                ctx.localBarrier(); // the chunks above are read no more: P and dS take their place
                for (int a = 0; a < PER; a++) {
                    boolean keyValid = keyBase + tr + EDGE * a < keys;
                    for (int b = 0; b < PER; b++) {
                        boolean valid = keyValid && rowBase + tc + EDGE * b < blockEnd;
                        float p = valid ? KernelMath.exp(s[a * PER + b] - colLse[b]) : 0f;
                        int at = (tr + EDGE * a) * LDT + tc + EDGE * b;
                        smem[at] = p;
                        smem[SCORES + at] = p * (dp[a * PER + b] - colDelta[b]);
                    }
                }
                // dV += P^T dO and dK += dS^T (scale Q), ROWS whole query rows at a time
                for (int q0 = 0; q0 < TILE; q0 += ROWS) {
                    ctx.localBarrier();
                    loadRows(smem, 2 * SCORES, qdo, pairBase, rowBase + q0, blockEnd, d, 0, tid);
                    loadRows(smem, 2 * SCORES + ROW_CHUNK, qdo, pairBase, rowBase + q0, blockEnd, d, d, tid);
                    ctx.localBarrier();
                    for (int qi = 0; qi < ROWS; qi++) {
                        for (int a = 0; a < PER; a++) {
                            int at = (tr + EDGE * a) * LDT + q0 + qi;
                            xa[a] = smem[at];
                            ya[a] = smem[SCORES + at];
                        }
                        gradientStep(smem, 2 * SCORES + ROW_CHUNK + qi * d + tc, xa, accV, d);
                        gradientStep(smem, 2 * SCORES + qi * d + tc, ya, accK, d);
                    }
                }
            }
        }
        for (int a = 0; a < PER; a++) {
            int key = keyBase + tr + EDGE * a;
            if (key < keys) {
                for (int ch = 0; ch < MAX_D / CHUNK; ch++) {
                    if (ch < d / CHUNK) {
                        dk.set((bh * keys + key) * d + ch * CHUNK + tc, accK[ch * PER + a]);
                        dv.set((bh * keys + key) * d + ch * CHUNK + tc, accV[ch * PER + a]);
                    }
                }
            }
        }
    }

    /**
     * One row of a gradient product: {@code acc[ch * 4 + a] += x[a] * smem[at + 16 ch]} for the work-item's 4 rows
     * and its columns {@code tc + 16 ch < d}.
     */
    private static void gradientStep(float[] smem, int at, float[] x, float[] acc, int d) {
        for (int ch = 0; ch < MAX_D / CHUNK; ch++) {
            if (ch < d / CHUNK) {
                float y = smem[at + CHUNK * ch];
                for (int a = 0; a < PER; a++) {
                    acc[ch * PER + a] = KernelMath.fma(x[a], y, acc[ch * PER + a]);
                }
            }
        }
    }

    /**
     * One column c of two 64x64 products at once: outer products of the work-item's 4 rows
     * ({@code smem[xAt + 16 a]}, {@code smem[yAt + 16 a]}) and 4 columns ({@code smem[xbAt + 16 b]},
     * {@code smem[ybAt + 16 b]}) into s and dp.
     */
    private static void tileStep(float[] smem, int xAt, int yAt, int xbAt, int ybAt, float[] xa, float[] ya,
            float[] xb, float[] yb, float[] s, float[] dp) {
        for (int i = 0; i < PER; i++) {
            xa[i] = smem[xAt + EDGE * i];
            ya[i] = smem[yAt + EDGE * i];
            xb[i] = smem[xbAt + EDGE * i];
            yb[i] = smem[ybAt + EDGE * i];
        }
        for (int a = 0; a < PER; a++) {
            for (int b = 0; b < PER; b++) {
                s[a * PER + b] = KernelMath.fma(xa[a], xb[b], s[a * PER + b]);
                dp[a * PER + b] = KernelMath.fma(ya[a], yb[b], dp[a * PER + b]);
            }
        }
    }

    /**
     * Columns {@code [col, col + CHUNK)} of rows {@code [rowBase, rowBase + TILE)} of a (tokens, 2d) pair array at
     * {@code base}, transposed into {@code smem[at + c * LDT + row]}; rows at or past {@code limit} read as 0.
     * Sixteen adjacent work-items read one row's 16 adjacent floats.
     */
    private static void loadTransposed(float[] smem, int at, FloatArray src, int base, int rowBase, int limit, int d,
            int col, int tid) {
        for (int t = 0; t < LOADS; t++) {
            int e = tid + GROUP * t;
            int row = e / CHUNK;
            int c = e % CHUNK;
            int r = rowBase + row;
            smem[at + c * LDT + row] = r < limit ? src.get(base + r * 2 * d + col + c) : 0f;
        }
    }

    /**
     * Columns {@code [col, col + d)} of rows {@code [rowBase, rowBase + ROWS)} of a (tokens, 2d) pair array,
     * row-major into {@code smem[at + row * d + c]}; rows at or past {@code limit} read as 0.
     */
    private static void loadRows(float[] smem, int at, FloatArray src, int base, int rowBase, int limit, int d,
            int col, int tid) {
        for (int t = 0; t < ROW_CHUNK / GROUP; t++) {
            int e = tid + GROUP * t;
            if (e < ROWS * d) {
                int row = e / d;
                int c = e % d;
                int r = rowBase + row;
                smem[at + e] = r < limit ? src.get(base + r * 2 * d + col + c) : 0f;
            }
        }
    }
}
