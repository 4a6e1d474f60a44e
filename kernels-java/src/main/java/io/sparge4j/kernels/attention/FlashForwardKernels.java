package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.annotations.Constant;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

import java.util.List;

/**
 * Block-sparse FlashAttention forward in f32 on CUDA cores, with the logsumexp saved for the backward. Dense
 * attention is the same kernel over a mask that keeps every block.
 *
 * <p>{@link #GROUPS_PER_ROW} work-groups of {@link #GROUP} work-items per mask row, i.e. per (b·h, query block of
 * {@link #QUERY_BLOCK} rows), each over {@link #GROUP_ROWS} of the block's query rows. A group walks the row's kept
 * key blocks ({@code rowBlocks[rowStart[r] .. rowStart[r + 1]]}, blocks of {@link #KEY_BLOCK} keys) with the
 * online softmax: per key block, {@code S = Q Kᵀ · scale} is accumulated in registers over chunks of 16 columns of
 * Q and K staged in two alternating local buffers (each work-item an 8x4 tile of S, rows 8 and keys 16 apart; the
 * next chunk is fetched while the current one is multiplied), S goes to local memory, two work-items per query row
 * find the row's new maximum and turn S into {@code P = exp(S - m)},
 * then each work-item rescales its 8 x d/16 slice of the output accumulator and adds {@code P V}, V staged 8 keys at a
 * time, also double-buffered. Local reads are 4 floats wide so that the CUDA compiler issues 128-bit loads. At the end
 * {@code o = acc / l} and {@code lse = m + log(l)} (natural log); exp, not exp2 with log2(e) folded in: on the H200
 * exp2 measured slower here (sparse 11.18 against 10.71 ms). Keys at or past n count as -inf; query rows at or
 * past n are computed on zeros and not written. A row that keeps no key block gets {@code o = 0} and {@code lse = -inf}, as the CPU's
 * {@code FlashForward}.
 *
 * <p>Why half a query block per group: a work-item's tiles (8x4 of S, 8 x d/16 of the output) need 168 registers,
 * and with one group of 256 work-items over the whole block (the previous layout) only one group, 8 warps, fitted
 * a multiprocessor (168 x 256 = 43k of 64k registers), so barriers and load latencies went uncovered. Groups of 4
 * warps over 64 rows keep the same per-work-item tiles and arithmetic per local load, and three fit (168 x 128 x 3
 * = 64.5k registers): 12 warps per multiprocessor, and one group's barriers overlap the others' work. The price:
 * each K and V block is read by two groups (from L2) instead of one.
 *
 * <p>Static evidence on sm_90 (nvcc 13, {@code -Xptxas -v}), at d = 64 and 128 alike: 168 registers, no spills,
 * 29,952 bytes of local memory (two Q and K chunk buffers, 2 x 128 x 20 floats, shared with P, 64 x 68; 2 x 8 x 128
 * for V; 320 for row statistics), so three groups per multiprocessor (registers bind; local memory would allow
 * seven). Before: 256 work-items per group, 168 registers, 45,568 bytes, one group (8 warps) per multiprocessor.
 * The inner loops are unchanged (SASS from ptxas 11.8, the disassembler at hand, keeps 44 {@code LDS.128} and
 * 538 {@code FFMA} at d = 128): per 4 columns of a Q and K chunk 12 128-bit local loads for 128 FMAs, per 4 keys
 * of P V 16 for 256 FMAs (d = 128).
 * Launch: 1D grid {@code heads * ceil(n / 128) * 2 * 128}, local size 128 ({@link FlashForwardTasks#addForward}
 * adds the task with its grid). Q is re-read (from cache) for each kept key block: 64 x d does not fit beside K, V
 * and P in 48 KiB at d = 128.
 */
public final class FlashForwardKernels {
    /** Query rows per mask row (the mask's query block). */
    public static final int QUERY_BLOCK = 128;
    /** Keys per kept block (the mask's key block). */
    public static final int KEY_BLOCK = 64;
    /** Query rows per work-group: half a query block, so that each mask row has {@link #GROUPS_PER_ROW} groups. */
    public static final int GROUP_ROWS = 64;
    /** Work-groups per mask row (query block). */
    public static final int GROUPS_PER_ROW = QUERY_BLOCK / GROUP_ROWS;
    /** Work-items per work-group: four warps. */
    public static final int GROUP = 128;
    /** Largest head dimension (the kernels exist for d = 64 and 128). */
    private static final int MAX_D = 128;
    /** Columns of Q and K per staged chunk of the QKᵀ product. */
    private static final int D_STEP = 16;

    /** Work-items form EDGE_Y x EDGE: ty picks query rows, tx keys and output columns. */
    private static final int EDGE = 16;
    private static final int EDGE_Y = GROUP / EDGE;
    /** Query rows per work-item: ty, ty + 8, ... */
    private static final int ROWS = GROUP_ROWS / EDGE_Y;
    /** Keys per work-item in S: tx, tx + 16, ... */
    private static final int KEYS = KEY_BLOCK / EDGE;
    /** Output columns per work-item at {@link #MAX_D}: 4 adjacent ones per 64 columns, from tx * 4. */
    private static final int MAX_COLS = MAX_D / EDGE;
    /** Columns one work-item reads at once: four, so that the CUDA compiler can issue 128-bit local loads. */
    private static final int VEC = 4;
    /**
     * Row stride of the Q and K chunks: a multiple of 4 (aligned 128-bit loads); 20 puts 8 adjacent key rows on 8
     * different groups of 4 banks, so a quarter-warp's 128-bit loads are free of conflicts.
     */
    private static final int QK_LD = D_STEP + 4;
    /** Row stride of P: a multiple of 4, rows 4 banks apart (the row-statistics pass reads 4 columns at once). */
    private static final int P_LD = KEY_BLOCK + 4;
    /** Keys of V staged at a time. */
    private static final int V_KEYS = 8;
    /** Two buffers of V rows. */
    private static final int V_TILE = 2 * V_KEYS * MAX_D;

    /**
     * A work-group layout of {@link #flashForwardTuned}: {@code groupRows} query rows per group of {@code group}
     * work-items (16 along keys and output columns, {@code group / 16} along rows, so each work-item holds
     * {@link #rowsPerItem()} rows of S and of the output), {@code group / groupRows} work-items per query row for
     * the softmax statistics. The default ({@link #DEFAULT_VARIANT}) is {@link #GROUP_ROWS} rows per
     * {@link #GROUP}.
     *
     * @param groupRows query rows per work-group, dividing {@link #QUERY_BLOCK}
     * @param group work-items per work-group, a multiple of 16
     */
    public record Variant(int groupRows, int group) {
        /** @throws IllegalArgumentException when the layout does not split the tiles and loads evenly */
        public Variant {
            boolean fits = group >= 16 && group % EDGE == 0 && groupRows > 0 && QUERY_BLOCK % groupRows == 0
                    && groupRows % (group / EDGE) == 0 && group % groupRows == 0
                    && KEY_BLOCK * groupRows / group % VEC == 0 && groupRows * D_STEP % group == 0
                    && KEY_BLOCK * D_STEP % group == 0 && V_KEYS * 64 % group == 0
                    && groupRows * P_LD <= 2 * (groupRows + KEY_BLOCK) * QK_LD;
            if (!fits) {
                throw new IllegalArgumentException("FlashForwardKernels.Variant: groupRows " + groupRows
                        + ", group " + group + ": expected groupRows dividing " + QUERY_BLOCK + " and group, a multiple"
                        + " of 16 dividing 512, with group / 16 dividing groupRows, groupRows * 16 and 16 * groupRows"
                        + " / group * 4, and groupRows <= 91");
            }
        }

        /** @return work-groups per mask row (query block) */
        public int groupsPerRow() {
            return QUERY_BLOCK / groupRows;
        }

        /** @return query rows each work-item holds in S and the output accumulator */
        public int rowsPerItem() {
            return groupRows / (group / EDGE);
        }

        /**
         * @param maskRows mask rows, heads * ceil(n / {@link #QUERY_BLOCK})
         * @return the 1D launch's global size
         */
        public long globalSize(int maskRows) {
            return (long) maskRows * groupsPerRow() * group;
        }

        /** @return e.g. {@code r64g128}: rows and work-items per group, as {@code SPARGE_FLASH_VARIANT} takes it */
        public String label() {
            return "r" + groupRows + "g" + group;
        }

        /**
         * @param label a {@link #label()} of one of {@link #VARIANTS}, or {@code default}
         * @return that variant
         * @throws IllegalArgumentException naming the known labels when there is no such variant
         */
        public static Variant of(String label) {
            if (label.equals("default")) {
                return DEFAULT_VARIANT;
            }
            return VARIANTS.stream().filter(v -> v.label().equals(label)).findFirst().orElseThrow(() ->
                    new IllegalArgumentException("flash forward variant '" + label + "': expected default or one of "
                            + VARIANTS.stream().map(Variant::label).toList()));
        }
    }

    /** The layout of {@link #flashForward64} and {@link #flashForward128}. */
    public static final Variant DEFAULT_VARIANT = new Variant(GROUP_ROWS, GROUP);

    /**
     * Layouts worth timing against each other, the default first: 32 rows per 4 warps and 64 rows per 8 warps
     * halve each work-item's tiles (4 rows of S and output instead of 8, at fewer FMAs per local load): on sm_90 at
     * d = 128 both take 128 registers (d = 64: 152 and 116), so four groups of 4 warps or two of 8 share a
     * multiprocessor, 16 warps against the default's 12 (168 registers). (32 rows per 2 warps, the default's tiles
     * in smaller groups, took 254 registers: its loads of Q, K and V chunks take 8 to 16 registers each.)
     */
    public static final List<Variant> VARIANTS = List.of(DEFAULT_VARIANT, new Variant(32, 128), new Variant(64, 256));

    private FlashForwardKernels() {
    }

    /**
     * Block-sparse attention forward at d = 64; see {@link #flashForward128} for the arguments.
     */
    public static void flashForward64(KernelContext ctx, FloatArray q, FloatArray k, FloatArray v, FloatArray o,
            FloatArray lse, IntArray rowStart, IntArray rowBlocks, int n, float scale) {
        forward(ctx, q, k, v, o, lse, rowStart, rowBlocks, n, n, 64, scale, GROUP_ROWS, GROUP, EDGE_Y, ROWS);
    }

    /**
     * Block-sparse attention forward at d = 128 over the kept blocks of each row, q, k, v and o laid out
     * (heads, n, d).
     *
     * @param ctx the work-item
     * @param q queries (heads, n, d)
     * @param k keys (heads, n, d)
     * @param v values (heads, n, d)
     * @param o output (heads, n, d), every element written
     * @param lse natural-log logsumexp of each query's scaled scores over the kept keys (heads, n), every element
     *     written
     * @param rowStart CSR offsets of the kept key blocks per row {@code bh * ceil(n / 128) + i} (rows + 1)
     * @param rowBlocks kept key-block indices of each row, ascending
     * @param n tokens per head (queries and keys)
     * @param scale softmax scale applied to q kᵀ (usually 1/sqrt(d))
     */
    public static void flashForward128(KernelContext ctx, FloatArray q, FloatArray k, FloatArray v, FloatArray o,
            FloatArray lse, IntArray rowStart, IntArray rowBlocks, int n, float scale) {
        forward(ctx, q, k, v, o, lse, rowStart, rowBlocks, n, n, 128, scale, GROUP_ROWS, GROUP, EDGE_Y, ROWS);
    }

    /**
     * {@link #flashForward128} (or 64) with the head dimension and a {@link Variant}'s layout as specialisation
     * constants (each combination compiles its own kernel), for timing layouts against each other. Launch:
     * {@link Variant#globalSize} work-items in groups of {@link Variant#group()} ({@link FlashForwardTasks#addForward}
     * with a variant does it).
     *
     * @param ctx the work-item
     * @param q queries (heads, n, d)
     * @param k keys (heads, n, d)
     * @param v values (heads, n, d)
     * @param o output (heads, n, d), every element written
     * @param lse natural-log logsumexp (heads, n), every element written
     * @param rowStart CSR offsets of the kept key blocks per row
     * @param rowBlocks kept key-block indices of each row, ascending
     * @param n tokens per head
     * @param scale softmax scale
     * @param d head dimension: 64 or 128
     * @param groupRows {@link Variant#groupRows()}
     * @param group {@link Variant#group()}
     */
    public static void flashForwardTuned(KernelContext ctx, FloatArray q, FloatArray k, FloatArray v, FloatArray o,
            FloatArray lse, IntArray rowStart, IntArray rowBlocks, int n, float scale, @Constant int d,
            @Constant int groupRows, @Constant int group) {
        forward(ctx, q, k, v, o, lse, rowStart, rowBlocks, n, n, d, scale, groupRows, group, group / EDGE,
                groupRows / (group / EDGE));
    }

    /**
     * Attention of {@code nq} queries over {@code nk} keys per head (cross-attention: video tokens over text rows),
     * with the default layout, over the key blocks each query block's row lists (every block of the keys, for dense
     * cross-attention). Keys at or past nk count as -inf, so nk need not be a multiple of the key block.
     *
     * @param ctx the work-item
     * @param q queries (heads, nq, d)
     * @param k keys (heads, nk, d)
     * @param v values (heads, nk, d)
     * @param o output (heads, nq, d), every element written
     * @param lse natural-log logsumexp (heads, nq), every element written
     * @param rowStart CSR offsets per row {@code bh * ceil(nq / 128) + i} (rows + 1)
     * @param rowBlocks kept key-block indices (of {@code ceil(nk / 64)}) of each row, ascending
     * @param nq queries per head
     * @param nk keys per head
     * @param scale softmax scale
     * @param d head dimension: 64 or 128
     */
    public static void flashForwardCross(KernelContext ctx, FloatArray q, FloatArray k, FloatArray v, FloatArray o,
            FloatArray lse, IntArray rowStart, IntArray rowBlocks, int nq, int nk, float scale, @Constant int d) {
        forward(ctx, q, k, v, o, lse, rowStart, rowBlocks, nq, nk, d, scale, GROUP_ROWS, GROUP, EDGE_Y, ROWS);
    }

    /**
     * The kernel body; d and the layout are constants at each call, so the JIT folds them and the loops over them
     * unroll. (The JIT folds constants through expressions and helper arguments, not through local variables: the
     * sizes below are written as expressions.) {@code groupRows} query rows per group of {@code group} work-items,
     * {@code edgeY = group / 16} rows of work-items, each over {@code rows = groupRows / edgeY} query rows;
     * {@code group / groupRows} work-items per query row share the statistics.
     */
    private static void forward(KernelContext ctx, FloatArray q, FloatArray k, FloatArray v, FloatArray o,
            FloatArray lse, IntArray rowStart, IntArray rowBlocks, int n, int nk, int d, float scale, int groupRows,
            int group, int edgeY, int rows) {
        // two Q and K chunk buffers; P (groupRows x P_LD) fits in them for groupRows <= 64 (Variant checks)
        float[] tile = ctx.allocateFloatLocalArray(2 * (groupRows + KEY_BLOCK) * QK_LD);
        float[] vs = ctx.allocateFloatLocalArray(V_TILE);
        float[] partMax = ctx.allocateFloatLocalArray(group);
        float[] partSum = ctx.allocateFloatLocalArray(group);
        float[] rowScale = ctx.allocateFloatLocalArray(groupRows);
        float[] s = new float[rows * KEYS];
        float[] acc = new float[rows * MAX_COLS];
        float[] qr = new float[VEC];
        float[] kr = new float[KEYS * VEC];
        float[] vr = new float[VEC * MAX_COLS];
        float[] pq = new float[groupRows * D_STEP / group];
        float[] pk = new float[KEY_BLOCK * D_STEP / group];
        float[] pv = new float[V_KEYS * MAX_D / group];
        int lid = ctx.localIdx;
        int tx = lid % EDGE;
        int ty = lid / EDGE;
        int nq = (n + QUERY_BLOCK - 1) / QUERY_BLOCK;
        int row = ctx.groupIdx / (QUERY_BLOCK / groupRows);
        int bh = row / nq;
        int q0 = (row % nq) * QUERY_BLOCK + (ctx.groupIdx % (QUERY_BLOCK / groupRows)) * groupRows;
        int head = bh * n * d;
        int keyHead = bh * nk * d;
        // Statistics role: group / groupRows work-items per query row, each over as many columns of the key block.
        int statRow = lid % groupRows;
        int statAt = statRow * P_LD + (lid / groupRows) * (KEY_BLOCK * groupRows / group);
        float m = Float.NEGATIVE_INFINITY;
        float lPart = 0f;
        int end = rowStart.get(row + 1);
        for (int e = rowStart.get(row); e < end; e++) {
            int k0 = rowBlocks.get(e) * KEY_BLOCK;
            scores(ctx, q, k, tile, s, qr, kr, pq, pk, lid, tx, ty, head, keyHead, q0, k0, n, nk, d, groupRows,
                    group, edgeY, rows);
            // V's first chunk is fetched now, so that its latency hides behind the softmax.
            loadValues(v, pv, lid, keyHead, k0, nk, d, group);
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < KEYS; j++) {
                    int key = tx + EDGE * j;
                    tile[(ty + edgeY * i) * P_LD + key] = k0 + key < nk ? s[i * KEYS + j] * scale
                            : Float.NEGATIVE_INFINITY;
                }
            }
            ctx.localBarrier();
            float blockMax = Float.NEGATIVE_INFINITY;
            for (int c = 0; c < KEY_BLOCK * groupRows / group; c += VEC) {
                for (int x = 0; x < VEC; x++) {
                    blockMax = KernelMath.max(blockMax, tile[statAt + c + x]);
                }
            }
            partMax[lid] = blockMax;
            ctx.localBarrier();
            float mNew = m;
            for (int p = 0; p < group / groupRows; p++) {
                mNew = KernelMath.max(mNew, partMax[statRow + groupRows * p]);
            }
            // A row that has seen only -inf keeps a zero sum and accumulator instead of exp(-inf + inf) = NaN.
            float base = mNew == Float.NEGATIVE_INFINITY ? 0f : mNew;
            float alpha = KernelMath.exp(m - base);
            float sum = 0f;
            for (int c = 0; c < KEY_BLOCK * groupRows / group; c += VEC) {
                for (int x = 0; x < VEC; x++) {
                    float p = KernelMath.exp(tile[statAt + c + x] - base);
                    tile[statAt + c + x] = p;
                    sum += p;
                }
            }
            lPart = lPart * alpha + sum;
            m = mNew;
            if (lid < groupRows) {
                rowScale[statRow] = alpha;
            }
            ctx.localBarrier();
            accumulate(ctx, v, tile, vs, rowScale, acc, qr, vr, pv, lid, tx, ty, keyHead, k0, nk, d, group, edgeY, rows);
        }
        partSum[lid] = lPart;
        ctx.localBarrier();
        if (lid < groupRows) {
            float l = 0f;
            for (int p = 0; p < group / groupRows; p++) {
                l += partSum[statRow + groupRows * p];
            }
            rowScale[statRow] = l > 0f ? 1f / l : 0f;
            if (q0 + statRow < n) {
                lse.set(bh * n + q0 + statRow, l > 0f ? m + KernelMath.log(l) : Float.NEGATIVE_INFINITY);
            }
        }
        ctx.localBarrier();
        for (int i = 0; i < rows; i++) {
            int r = ty + edgeY * i;
            if (q0 + r < n) {
                float inv = rowScale[r];
                for (int j = 0; j < d / EDGE; j++) {
                    o.set(head + (q0 + r) * d + column(tx, j), acc[i * MAX_COLS + j] * inv);
                }
            }
        }
    }

    /** Output column of a work-item's j-th accumulator column: 4 adjacent columns per 64, from tx * 4. */
    private static int column(int tx, int j) {
        return (j / VEC) * (EDGE * VEC) + tx * VEC + j % VEC;
    }

    /**
     * {@code s = Q Kᵀ} for this work-item's 8x4 tile (unscaled), over chunks of {@link #D_STEP} columns staged in
     * two alternating buffers of {@code tile}: the next chunk's global loads are issued before the current chunk's
     * FMAs and stored after them, so one barrier per chunk suffices and the loads' latency hides behind the
     * arithmetic. Rows and keys past n load as zeros. Every work-item calls it; it ends on a barrier.
     */
    private static void scores(KernelContext ctx, FloatArray q, FloatArray k, float[] tile, float[] s, float[] qr,
            float[] kr, float[] pq, float[] pk, int lid, int tx, int ty, int head, int keyHead, int q0, int k0,
            int n, int nk, int d, int groupRows, int group, int edgeY, int rows) {
        for (int i = 0; i < rows * KEYS; i++) {
            s[i] = 0f;
        }
        // Q's chunk at 0, K's at groupRows * QK_LD; a buffer is (groupRows + KEY_BLOCK) * QK_LD floats
        loadChunk(q, pq, groupRows * D_STEP / group, lid, head, q0, 0, n, d, group);
        loadChunk(k, pk, KEY_BLOCK * D_STEP / group, lid, keyHead, k0, 0, nk, d, group);
        storeChunk(tile, pq, groupRows * D_STEP / group, lid, 0, group);
        storeChunk(tile, pk, KEY_BLOCK * D_STEP / group, lid, groupRows * QK_LD, group);
        ctx.localBarrier();
        for (int c0 = 0; c0 < d; c0 += D_STEP) {
            int next = c0 + D_STEP;
            int cur = (c0 / D_STEP % 2) * ((groupRows + KEY_BLOCK) * QK_LD);
            if (next < d) {
                loadChunk(q, pq, groupRows * D_STEP / group, lid, head, q0, next, n, d, group);
                loadChunk(k, pk, KEY_BLOCK * D_STEP / group, lid, keyHead, k0, next, nk, d, group);
            }
            for (int c = 0; c < D_STEP; c += VEC) {
                for (int j = 0; j < KEYS; j++) {
                    for (int x = 0; x < VEC; x++) {
                        kr[j * VEC + x] = tile[cur + groupRows * QK_LD + (tx + EDGE * j) * QK_LD + c + x];
                    }
                }
                for (int i = 0; i < rows; i++) {
                    for (int x = 0; x < VEC; x++) {
                        qr[x] = tile[cur + (ty + edgeY * i) * QK_LD + c + x];
                    }
                    for (int j = 0; j < KEYS; j++) {
                        for (int x = 0; x < VEC; x++) {
                            s[i * KEYS + j] = KernelMath.fma(qr[x], kr[j * VEC + x], s[i * KEYS + j]);
                        }
                    }
                }
            }
            if (next < d) {
                // The other buffer was last read before the previous barrier.
                storeChunk(tile, pq, groupRows * D_STEP / group, lid, (groupRows + KEY_BLOCK) * QK_LD - cur, group);
                storeChunk(tile, pk, KEY_BLOCK * D_STEP / group, lid,
                        (groupRows + KEY_BLOCK) * QK_LD - cur + groupRows * QK_LD, group);
            }
            ctx.localBarrier();
        }
    }

    /**
     * Loads this work-item's share of rows {@code r0 ..} (columns {@code c0 .. c0 + D_STEP}) of a (heads, n, d)
     * array into registers: adjacent work-items read adjacent columns (coalesced); rows past n read as zeros.
     */
    private static void loadChunk(FloatArray a, float[] regs, int loads, int lid, int head, int r0, int c0, int n,
            int d, int group) {
        for (int t = 0; t < loads; t++) {
            int f = lid + group * t;
            int r = r0 + f / D_STEP;
            regs[t] = r < n ? a.get(head + r * d + c0 + f % D_STEP) : 0f;
        }
    }

    /** Stores registers loaded by {@link #loadChunk} into a chunk of {@code tile} from {@code at}. */
    private static void storeChunk(float[] tile, float[] regs, int loads, int lid, int at, int group) {
        for (int t = 0; t < loads; t++) {
            int f = lid + group * t;
            tile[at + (f / D_STEP) * QK_LD + f % D_STEP] = regs[t];
        }
    }

    /**
     * {@code acc = acc * rowScale + P V} for this work-item's rows (ty + 16 i) and columns ({@code column}), P in
     * {@code tile}, V staged {@link #V_KEYS} keys at a time in two alternating buffers of {@code vs} (the first
     * already in {@code pv}; keys past nk load as zeros: their P is 0, and a garbage V could be NaN). Every
     * work-item calls it; it ends on a barrier, after which P may be overwritten.
     */
    private static void accumulate(KernelContext ctx, FloatArray v, float[] tile, float[] vs, float[] rowScale,
            float[] acc, float[] pr, float[] vr, float[] pv, int lid, int tx, int ty, int keyHead, int k0, int nk,
            int d, int group, int edgeY, int rows) {
        for (int i = 0; i < rows; i++) {
            float a = rowScale[ty + edgeY * i];
            for (int j = 0; j < d / EDGE; j++) {
                acc[i * MAX_COLS + j] *= a;
            }
        }
        storeValues(vs, pv, lid, 0, d, group);
        ctx.localBarrier();
        for (int kc = 0; kc < KEY_BLOCK; kc += V_KEYS) {
            int next = kc + V_KEYS;
            int cur = (kc / V_KEYS % 2) * V_KEYS * d;
            if (next < KEY_BLOCK) {
                loadValues(v, pv, lid, keyHead, k0 + next, nk, d, group);
            }
            for (int kk = 0; kk < V_KEYS; kk += VEC) {
                for (int x = 0; x < VEC; x++) {
                    for (int j = 0; j < d / EDGE; j++) {
                        vr[x * MAX_COLS + j] = vs[cur + (kk + x) * d + column(tx, j)];
                    }
                }
                for (int i = 0; i < rows; i++) {
                    for (int x = 0; x < VEC; x++) {
                        pr[x] = tile[(ty + edgeY * i) * P_LD + kc + kk + x];
                    }
                    for (int x = 0; x < VEC; x++) {
                        for (int j = 0; j < d / EDGE; j++) {
                            acc[i * MAX_COLS + j] = KernelMath.fma(pr[x], vr[x * MAX_COLS + j], acc[i * MAX_COLS + j]);
                        }
                    }
                }
            }
            if (next < KEY_BLOCK) {
                storeValues(vs, pv, lid, V_KEYS * d - cur, d, group);
            }
            ctx.localBarrier();
        }
    }

    /** Loads this work-item's share of V rows {@code r0 .. r0 + V_KEYS} into registers; rows past n as zeros. */
    private static void loadValues(FloatArray v, float[] regs, int lid, int head, int r0, int n, int d,
            int group) {
        for (int t = 0; t < V_KEYS * d / group; t++) {
            int f = lid + group * t;
            int r = r0 + f / d;
            regs[t] = r < n ? v.get(head + r * d + f % d) : 0f;
        }
    }

    /** Stores registers loaded by {@link #loadValues} into {@code vs} from {@code at}. */
    private static void storeValues(float[] vs, float[] regs, int lid, int at, int d, int group) {
        for (int t = 0; t < V_KEYS * d / group; t++) {
            vs[at + lid + group * t] = regs[t];
        }
    }
}
