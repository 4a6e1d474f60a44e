package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

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
 * find the row's new maximum and turn S into {@code P = exp(S - m)}, then each work-item rescales its 8 x d/16
 * slice of the output accumulator and adds {@code P V}, V staged 8 keys at a time, also double-buffered. Local
 * reads are 4 floats wide so that the CUDA compiler issues 128-bit loads. At the end {@code o = acc / l} and
 * {@code lse = m + log(l)} (natural log). Keys at or past n count as -inf; query rows at or past n are computed on
 * zeros and not written. A row that keeps no key block gets {@code o = 0} and {@code lse = -inf}, as the CPU's
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
 * 538 {@code FFMA} at d = 128): per 4 columns of a Q and K chunk 12 128-bit local loads for 128 FMAs, per 4 keys of P V 16 for 256 FMAs (d = 128).
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
    /** Where the K chunk starts in the shared tile. */
    private static final int K_AT = GROUP_ROWS * QK_LD;
    /** Row stride of P: a multiple of 4, rows 4 banks apart (the row-statistics pass reads 4 columns at once). */
    private static final int P_LD = KEY_BLOCK + 4;
    /** One buffer of Q and K chunks. */
    private static final int CHUNK = (GROUP_ROWS + KEY_BLOCK) * QK_LD;
    /** The shared tile: two buffers of Q and K chunks during QKᵀ, then P. */
    private static final int SHARED = 2 * CHUNK > GROUP_ROWS * P_LD ? 2 * CHUNK : GROUP_ROWS * P_LD;
    /** Keys of V staged at a time. */
    private static final int V_KEYS = 8;
    /** Two buffers of V rows. */
    private static final int V_TILE = 2 * V_KEYS * MAX_D;
    /** Elements of a V chunk each work-item loads, at most. */
    private static final int V_LOADS = V_KEYS * MAX_D / GROUP;
    /** Elements of a Q chunk and a K chunk each work-item loads. */
    private static final int Q_LOADS = GROUP_ROWS * D_STEP / GROUP;
    private static final int K_LOADS = KEY_BLOCK * D_STEP / GROUP;
    /** Columns of P each of a row's two statistics work-items covers. */
    private static final int HALF = KEY_BLOCK / 2;

    private FlashForwardKernels() {
    }

    /**
     * Block-sparse attention forward at d = 64; see {@link #flashForward128} for the arguments.
     */
    public static void flashForward64(KernelContext ctx, FloatArray q, FloatArray k, FloatArray v, FloatArray o,
            FloatArray lse, IntArray rowStart, IntArray rowBlocks, int n, float scale) {
        forward(ctx, q, k, v, o, lse, rowStart, rowBlocks, n, 64, scale);
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
        forward(ctx, q, k, v, o, lse, rowStart, rowBlocks, n, 128, scale);
    }

    /**
     * The kernel body; d is a constant at each call, so the JIT folds it and the loops over it unroll. (One kernel
     * with an {@code @Constant int d} would need 11 parameters besides the context; the TaskGraph takes 10.)
     */
    private static void forward(KernelContext ctx, FloatArray q, FloatArray k, FloatArray v, FloatArray o,
            FloatArray lse, IntArray rowStart, IntArray rowBlocks, int n, int d, float scale) {
        float[] tile = ctx.allocateFloatLocalArray(SHARED);
        float[] vs = ctx.allocateFloatLocalArray(V_TILE);
        float[] partMax = ctx.allocateFloatLocalArray(GROUP);
        float[] partSum = ctx.allocateFloatLocalArray(GROUP);
        float[] rowScale = ctx.allocateFloatLocalArray(GROUP_ROWS);
        float[] s = new float[ROWS * KEYS];
        float[] acc = new float[ROWS * MAX_COLS];
        float[] qr = new float[VEC];
        float[] kr = new float[KEYS * VEC];
        float[] vr = new float[VEC * MAX_COLS];
        float[] pq = new float[Q_LOADS];
        float[] pk = new float[K_LOADS];
        float[] pv = new float[V_LOADS];
        int lid = ctx.localIdx;
        int tx = lid % EDGE;
        int ty = lid / EDGE;
        int nq = (n + QUERY_BLOCK - 1) / QUERY_BLOCK;
        int row = ctx.groupIdx / GROUPS_PER_ROW;
        int bh = row / nq;
        int q0 = (row % nq) * QUERY_BLOCK + (ctx.groupIdx % GROUPS_PER_ROW) * GROUP_ROWS;
        int head = bh * n * d;
        // Statistics role: two work-items per query row, each over half of the key block's columns.
        int statRow = lid % GROUP_ROWS;
        int statAt = statRow * P_LD + (lid / GROUP_ROWS) * HALF;
        float m = Float.NEGATIVE_INFINITY;
        float lPart = 0f;
        int end = rowStart.get(row + 1);
        for (int e = rowStart.get(row); e < end; e++) {
            int k0 = rowBlocks.get(e) * KEY_BLOCK;
            scores(ctx, q, k, tile, s, qr, kr, pq, pk, lid, tx, ty, head, q0, k0, n, d);
            // V's first chunk is fetched now, so that its latency hides behind the softmax.
            loadValues(v, pv, lid, head, k0, n, d);
            for (int i = 0; i < ROWS; i++) {
                for (int j = 0; j < KEYS; j++) {
                    int key = tx + EDGE * j;
                    tile[(ty + EDGE_Y * i) * P_LD + key] = k0 + key < n ? s[i * KEYS + j] * scale
                            : Float.NEGATIVE_INFINITY;
                }
            }
            ctx.localBarrier();
            float blockMax = Float.NEGATIVE_INFINITY;
            for (int c = 0; c < HALF; c += VEC) {
                for (int x = 0; x < VEC; x++) {
                    blockMax = KernelMath.max(blockMax, tile[statAt + c + x]);
                }
            }
            partMax[lid] = blockMax;
            ctx.localBarrier();
            float mNew = KernelMath.max(m, KernelMath.max(partMax[statRow], partMax[statRow + GROUP_ROWS]));
            // A row that has seen only -inf keeps a zero sum and accumulator instead of exp(-inf + inf) = NaN.
            float base = mNew == Float.NEGATIVE_INFINITY ? 0f : mNew;
            float alpha = KernelMath.exp(m - base);
            float sum = 0f;
            for (int c = 0; c < HALF; c += VEC) {
                for (int x = 0; x < VEC; x++) {
                    float p = KernelMath.exp(tile[statAt + c + x] - base);
                    tile[statAt + c + x] = p;
                    sum += p;
                }
            }
            lPart = lPart * alpha + sum;
            m = mNew;
            if (lid < GROUP_ROWS) {
                rowScale[statRow] = alpha;
            }
            ctx.localBarrier();
            accumulate(ctx, v, tile, vs, rowScale, acc, qr, vr, pv, lid, tx, ty, head, k0, n, d);
        }
        partSum[lid] = lPart;
        ctx.localBarrier();
        if (lid < GROUP_ROWS) {
            float l = partSum[statRow] + partSum[statRow + GROUP_ROWS];
            rowScale[statRow] = l > 0f ? 1f / l : 0f;
            if (q0 + statRow < n) {
                lse.set(bh * n + q0 + statRow, l > 0f ? m + KernelMath.log(l) : Float.NEGATIVE_INFINITY);
            }
        }
        ctx.localBarrier();
        for (int i = 0; i < ROWS; i++) {
            int r = ty + EDGE_Y * i;
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
            float[] kr, float[] pq, float[] pk, int lid, int tx, int ty, int head, int q0, int k0, int n, int d) {
        for (int i = 0; i < ROWS * KEYS; i++) {
            s[i] = 0f;
        }
        loadChunk(q, pq, Q_LOADS, lid, head, q0, 0, n, d);
        loadChunk(k, pk, K_LOADS, lid, head, k0, 0, n, d);
        storeChunk(tile, pq, Q_LOADS, lid, 0);
        storeChunk(tile, pk, K_LOADS, lid, K_AT);
        ctx.localBarrier();
        for (int c0 = 0; c0 < d; c0 += D_STEP) {
            int next = c0 + D_STEP;
            int cur = (c0 / D_STEP % 2) * CHUNK;
            if (next < d) {
                loadChunk(q, pq, Q_LOADS, lid, head, q0, next, n, d);
                loadChunk(k, pk, K_LOADS, lid, head, k0, next, n, d);
            }
            for (int c = 0; c < D_STEP; c += VEC) {
                for (int j = 0; j < KEYS; j++) {
                    for (int x = 0; x < VEC; x++) {
                        kr[j * VEC + x] = tile[cur + K_AT + (tx + EDGE * j) * QK_LD + c + x];
                    }
                }
                for (int i = 0; i < ROWS; i++) {
                    for (int x = 0; x < VEC; x++) {
                        qr[x] = tile[cur + (ty + EDGE_Y * i) * QK_LD + c + x];
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
                storeChunk(tile, pq, Q_LOADS, lid, CHUNK - cur);
                storeChunk(tile, pk, K_LOADS, lid, CHUNK - cur + K_AT);
            }
            ctx.localBarrier();
        }
    }

    /**
     * Loads this work-item's share of rows {@code r0 ..} (columns {@code c0 .. c0 + D_STEP}) of a (heads, n, d)
     * array into registers: adjacent work-items read adjacent columns (coalesced); rows past n read as zeros.
     */
    private static void loadChunk(FloatArray a, float[] regs, int loads, int lid, int head, int r0, int c0, int n,
            int d) {
        for (int t = 0; t < loads; t++) {
            int f = lid + GROUP * t;
            int r = r0 + f / D_STEP;
            regs[t] = r < n ? a.get(head + r * d + c0 + f % D_STEP) : 0f;
        }
    }

    /** Stores registers loaded by {@link #loadChunk} into a chunk of {@code tile} from {@code at}. */
    private static void storeChunk(float[] tile, float[] regs, int loads, int lid, int at) {
        for (int t = 0; t < loads; t++) {
            int f = lid + GROUP * t;
            tile[at + (f / D_STEP) * QK_LD + f % D_STEP] = regs[t];
        }
    }

    /**
     * {@code acc = acc * rowScale + P V} for this work-item's rows (ty + 16 i) and columns ({@code column}), P in
     * {@code tile}, V staged {@link #V_KEYS} keys at a time in two alternating buffers of {@code vs} (the first
     * already in {@code pv}; keys past n load as zeros: their P is 0, and a garbage V could be NaN). Every
     * work-item calls it; it ends on a barrier, after which P may be overwritten.
     */
    private static void accumulate(KernelContext ctx, FloatArray v, float[] tile, float[] vs, float[] rowScale,
            float[] acc, float[] pr, float[] vr, float[] pv, int lid, int tx, int ty, int head, int k0, int n,
            int d) {
        for (int i = 0; i < ROWS; i++) {
            float a = rowScale[ty + EDGE_Y * i];
            for (int j = 0; j < d / EDGE; j++) {
                acc[i * MAX_COLS + j] *= a;
            }
        }
        storeValues(vs, pv, lid, 0, d);
        ctx.localBarrier();
        for (int kc = 0; kc < KEY_BLOCK; kc += V_KEYS) {
            int next = kc + V_KEYS;
            int cur = (kc / V_KEYS % 2) * V_KEYS * d;
            if (next < KEY_BLOCK) {
                loadValues(v, pv, lid, head, k0 + next, n, d);
            }
            for (int kk = 0; kk < V_KEYS; kk += VEC) {
                for (int x = 0; x < VEC; x++) {
                    for (int j = 0; j < d / EDGE; j++) {
                        vr[x * MAX_COLS + j] = vs[cur + (kk + x) * d + column(tx, j)];
                    }
                }
                for (int i = 0; i < ROWS; i++) {
                    for (int x = 0; x < VEC; x++) {
                        pr[x] = tile[(ty + EDGE_Y * i) * P_LD + kc + kk + x];
                    }
                    for (int x = 0; x < VEC; x++) {
                        for (int j = 0; j < d / EDGE; j++) {
                            acc[i * MAX_COLS + j] = KernelMath.fma(pr[x], vr[x * MAX_COLS + j], acc[i * MAX_COLS + j]);
                        }
                    }
                }
            }
            if (next < KEY_BLOCK) {
                storeValues(vs, pv, lid, V_KEYS * d - cur, d);
            }
            ctx.localBarrier();
        }
    }

    /** Loads this work-item's share of V rows {@code r0 .. r0 + V_KEYS} into registers; rows past n as zeros. */
    private static void loadValues(FloatArray v, float[] regs, int lid, int head, int r0, int n, int d) {
        for (int t = 0; t < V_KEYS * d / GROUP; t++) {
            int f = lid + GROUP * t;
            int r = r0 + f / d;
            regs[t] = r < n ? v.get(head + r * d + f % d) : 0f;
        }
    }

    /** Stores registers loaded by {@link #loadValues} into {@code vs} from {@code at}. */
    private static void storeValues(float[] vs, float[] regs, int lid, int at, int d) {
        for (int t = 0; t < V_KEYS * d / GROUP; t++) {
            vs[at + lid + GROUP * t] = regs[t];
        }
    }
}
