package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.types.arrays.ByteArray;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

/**
 * SpargeAttention2's per-row block selection on the device, exactly as the CPU's {@code BlockSelector}: the row of
 * the pooled map in descending order of probability (ties: lower block index first, comparing the float bits of
 * {@code p + 0.0f} like {@code PooledAttentionMap}); Top-k keeps the first {@code topk} entries, Top-p the shortest
 * prefix whose float64 running sum reaches p (the crossing entry kept, at least one, all when p &gt;= 1); hybrid
 * keeps the longer of the two prefixes, which is their union.
 *
 * <p>No sort: a kept prefix of that order is the set {@code key > T, or key == T and index < I} for a threshold key T
 * and an index bound I, found by bisection with 32 work-items per row (sums through local memory). Top-k needs counts
 * only. Top-p needs the float64 running sums, which depend on the order of the additions in general; but when every
 * summed entry is at least 2^-29 and the sum below 2 every prefix sum is a multiple of 2^-52 below 2, so float64 holds
 * it exactly, in any order: then the bisection compares exact fixed-point masses (units of 2^-52) with
 * {@code ceil(p * 2^52)}. Rows outside that range (tiny or huge entries) take an exact fallback that extracts the
 * entries one by one in order and adds them as Java's {@code double +} does, with integer arithmetic on IEEE-754 bit
 * patterns (round to nearest even), so that devices without fp64 give the CPU's very answer.
 *
 * <p>How the modes map onto the arguments: dense {@code topk = nk, pBits = 0}; Top-k {@code topk =
 * BlockSelector.topkCount(k, nk), pBits = 0}; Top-p {@code topk = 0, pBits = Double.doubleToRawLongBits(p)};
 * hybrid {@code topk = topkCount(k, nk), pBits = doubleToRawLongBits(p)}; {@code pCeil} is {@link #pCeil}(p).
 */
public final class BlockSelectKernels {
    /** Work-group size: {@link #WARPS} sets of {@link #WARP} work-items. */
    public static final int GROUP = 256;
    /** Work-items per row (a sub-group, but sums go through local memory). */
    public static final int WARP = 32;
    /** Rows in work at once: one per 32 work-items. */
    public static final int WARPS = GROUP / WARP;
    /**
     * Rows per work-group: query blocks {@code i0 .. i0 + 15} of one head (fewer at the head's end), as the pooled
     * softmax's work-groups, so that {@code PooledSoftmaxKernels.pooledSoftmaxSelect} runs the selection on the rows
     * it has just written; each set of 32 work-items takes one row, {@code i0 + set} (with more rows than sets, a set
     * takes {@code i0 + set}, {@code i0 + set + WARPS}, ... in turn).
     */
    public static final int ROWS_PER_GROUP = PooledSoftmaxKernels.ROWS;
    /** Most key blocks per row (the index bisection takes 11 steps, the list kernel two bitmap words per lane). */
    public static final int MAX_KEY_BLOCKS = 2048;
    /**
     * Entries per work-item held in registers for the whole selection, with their fixed-point masses (the first
     * {@code CACHED * WARP} of a row, 192 of wan13b-480p's 512 key blocks); the rest of a longer row is reread at
     * each step. 6, not 16: the fused softmax and selection must stay within 80 registers (sm_90, nvcc 13) without
     * spilling, so that three work-groups fit on a multiprocessor (wan13b-480p's 384 work-groups in one wave on 132);
     * 16 took 126, 8 spilled.
     */
    static final int CACHED = 6;

    private static final long FRACTION = 0xFFFFFFFFFFFFFL;
    private static final long HIDDEN = 1L << 52;
    /** Bits of 1.0: a Top-p threshold at or above it keeps the whole row. */
    private static final long ONE_BITS = 0x3FF0000000000000L;
    /** Bits of 2^-29, the smallest entry the exact fixed-point masses hold (its last bit is 2^-52). */
    private static final int LOW_KEY = 0x31000000;
    /** Bits of 2.0f: entries from here on make the fixed-point masses inexact. */
    private static final int TWO_KEY = 0x40000000;
    /** One past the bits of the largest finite float. */
    private static final int FINITE_END = 0x7F800001;
    /** Masses (in units of 2^-52) from here on are 2 or more: float64 sums could round. */
    private static final long EXACT_LIMIT = 1L << 53;
    /** Bisection steps over keys: enough for {@code FINITE_END < 2^31}. */
    private static final int KEY_STEPS = 31;
    /** Bisection steps over keys in {@code [LOW_KEY, TWO_KEY)}: {@code 0x0F000000 < 2^28}. */
    private static final int P_KEY_STEPS = 28;
    /** Bisection steps over indices: {@code 2^11 = MAX_KEY_BLOCKS}. */
    private static final int INDEX_STEPS = 11;
    /** Bits per chunk of a mass summed across a sub-group as ints: 32 lanes x 2^18 stay below 2^23. */
    private static final int CHUNK_BITS = 18;
    private static final long CHUNK_MASK = (1L << CHUNK_BITS) - 1;
    /** Partial sums per row in {@link #rowSums}: each adds 4 of the row's 32 lanes. */
    private static final int PARTS = 8;
    /** Local ints of the partial sums, per array: {@code WARPS * PARTS}. */
    static final int PARTIALS = WARPS * PARTS;

    private BlockSelectKernels() {
    }

    /**
     * The {@code pCeil} argument of {@link #selectRows}: {@code ceil(p * 2^52)} for {@code 0 < p < 1}, else 0.
     *
     * @param p the Top-p threshold
     * @return p in units of 2^-52, rounded up
     */
    public static long pCeil(double p) {
        return p > 0 && p < 1 ? (long) Math.ceil(Math.scalb(p, 52)) : 0L;
    }

    /**
     * Seeds {@code groupTotals} with each selection work-group's Top-k count, for {@link #selectRows} (or the pooled
     * softmax's selection) with {@code topk} -1: work-group {@code g} takes batch entry {@code g / groupsPerEntry}'s
     * count. Launch: 1D grid of at least {@code groups} work-items.
     *
     * @param ctx the work-item
     * @param batchTopk the Top-k count of each batch entry
     * @param groupTotals the selection's work-group array, (heads * ceil(nq / ROWS_PER_GROUP))
     * @param groupsPerEntry selection work-groups per batch entry: its heads times ceil(nq / ROWS_PER_GROUP)
     * @param groups entries of groupTotals
     */
    public static void spreadBatchTopk(KernelContext ctx, IntArray batchTopk, IntArray groupTotals, int groupsPerEntry,
            int groups) {
        int g = ctx.globalIdx;
        if (g < groups) {
            groupTotals.set(g, batchTopk.get(g / groupsPerEntry));
        }
    }

    /**
     * The selection of {@link #ROWS_PER_GROUP} rows per work-group from given probabilities (the pooled softmax
     * usually runs it itself, {@code PooledSoftmaxKernels.pooledSoftmaxSelect}): for each row, 32 work-items find
     * the threshold (T, I) of the row's kept prefix by bisection (31 key steps, 28 with p, then 11 index steps among
     * the entries equal to T where ties cross the cut), each step one pass over the row (each work-item's first
     * {@link #CACHED} entries held in registers, the rest reread lane-strided) and sums over the 32 work-items in
     * local memory; rows that need the exact fallback (see the class comment) then extract entries in order, the
     * whole group looping while any of its rows does. Writes the keep flags, the keep bitmap (bit {@code j % 32} of
     * word {@code j / 32}), the row's count and the group's total count (for {@link BlockListKernels#buildLists}).
     * Every work-item reaches every barrier (no sub-group calls: the same code is native on PoCL). Launch: 1D grid
     * {@code heads * ceil(nq / ROWS_PER_GROUP) * GROUP}, local size {@link #GROUP}; {@code nk <= MAX_KEY_BLOCKS}.
     *
     * @param ctx the work-item
     * @param probs the pooled map (heads * nq, nk), non-negative and finite
     * @param keep output (heads * nq, nk): 1 where the block is kept, else 0
     * @param keepBits output (heads * nq, ceil(nk / 32)): the keep flags as bits
     * @param counts output (heads * nq): kept blocks per row
     * @param nq query blocks per head
     * @param nk key blocks per row
     * @param groupTotals output (heads * ceil(nq / ROWS_PER_GROUP)): kept blocks per work-group; with {@code topk}
     *     -1, its entries hold each work-group's Top-k count on entry ({@link #spreadBatchTopk})
     * @param topk Top-k count (0 for Top-p alone), or -1: each work-group's own count from {@code groupTotals} (the
     *     clips of a diffusion batch at different noise levels; no further argument, as a kernel takes at most 15)
     * @param pBits {@code Double.doubleToRawLongBits(p)} of the Top-p threshold (0 for Top-k alone or dense)
     * @param pCeil {@link #pCeil}(p)
     */
    public static void selectRows(KernelContext ctx, FloatArray probs, ByteArray keep, IntArray keepBits,
            IntArray counts, IntArray groupTotals, int nq, int nk, int topk, long pBits, long pCeil) {
        int[] flags = ctx.allocateIntLocalArray(WARPS);
        int[] bestKey = ctx.allocateIntLocalArray(GROUP);
        int[] bestIndex = ctx.allocateIntLocalArray(GROUP);
        int[] s0 = ctx.allocateIntLocalArray(GROUP);
        int[] s1 = ctx.allocateIntLocalArray(GROUP);
        int[] s2 = ctx.allocateIntLocalArray(GROUP);
        int[] s3 = ctx.allocateIntLocalArray(GROUP);
        int[] p0 = ctx.allocateIntLocalArray(WARPS * PARTS);
        int[] p1 = ctx.allocateIntLocalArray(WARPS * PARTS);
        int[] p2 = ctx.allocateIntLocalArray(WARPS * PARTS);
        int[] p3 = ctx.allocateIntLocalArray(WARPS * PARTS);
        selectGroup(ctx, flags, bestKey, bestIndex, s0, s1, s2, s3, p0, p1, p2, p3, probs, keep, keepBits, counts,
                groupTotals, nq, nk, topk, pBits, pCeil);
    }

    /**
     * The body of {@link #selectRows} on the caller's local arrays ({@code flags} of {@link #WARPS} ints, the others
     * of {@link #GROUP}); the probabilities of the group's rows must be visible to the group (a global barrier after
     * writing them).
     */
    static void selectGroup(KernelContext ctx, int[] flags, int[] bestKey, int[] bestIndex, int[] s0, int[] s1,
            int[] s2, int[] s3, int[] p0, int[] p1, int[] p2, int[] p3, FloatArray probs, ByteArray keep,
            IntArray keepBits, IntArray counts, IntArray groupTotals, int nq, int nk, int topk, long pBits,
            long pCeil) {
        int lid = ctx.localIdx;
        int warp = lid / WARP;
        int lane = lid % WARP;
        int groupsPerHead = (nq + ROWS_PER_GROUP - 1) / ROWS_PER_GROUP;
        int bh = ctx.groupIdx / groupsPerHead;
        int i0 = (ctx.groupIdx % groupsPerHead) * ROWS_PER_GROUP;
        // read before any barrier; this group alone writes its entry, at the end
        int groupTopk = topk >= 0 ? topk : groupTotals.get(ctx.groupIdx);
        int groupKept = 0;
        for (int half = 0; half < ROWS_PER_GROUP / WARPS; half++) {
            int i = i0 + half * WARPS + warp;
            // a set past the head's last row repeats that row, so that it reaches the same barriers, and writes
            // nothing
            boolean live = i < nq;
            int row = bh * nq + (live ? i : nq - 1);
            int kept = selectRow(ctx, flags, bestKey, bestIndex, s0, s1, s2, s3, p0, p1, p2, p3, probs, keep,
                    keepBits, counts, row, live, warp, lane, nk, groupTopk, pBits, pCeil);
            groupKept += live ? kept : 0;
        }
        ctx.localBarrier();
        if (lane == 0) {
            flags[warp] = groupKept;
        }
        ctx.localBarrier();
        if (lid == 0) {
            int total = 0;
            for (int w = 0; w < WARPS; w++) {
                total += flags[w];
            }
            groupTotals.set(ctx.groupIdx, total);
        }
    }

    /** One row's selection by 32 work-items (see {@link #selectRows}); returns its kept count. */
    private static int selectRow(KernelContext ctx, int[] flags, int[] bestKey, int[] bestIndex, int[] s0,
            int[] s1, int[] s2, int[] s3, int[] p0, int[] p1, int[] p2, int[] p3, FloatArray probs, ByteArray keep,
            IntArray keepBits, IntArray counts, int row, boolean live, int warp, int lane, int nk, int topk,
            long pBits, long pCeil) {
        int lid = warp * WARP + lane;
        int base = row * nk;
        int need = topk > 1 ? topk : 1;
        boolean all = need >= nk || pBits >= ONE_BITS;
        boolean usesP = pBits != 0L && !all;
        // The row's keys and their fixed-point masses, read and converted once: a bisection step then compares
        // registers (rereading and converting each entry at every step made the steps instruction-bound). Missing
        // entries are -1, below every threshold, and weigh 0.
        int[] keys = new int[CACHED];
        long[] masses = new long[CACHED];
        for (int c = 0; c < CACHED; c++) {
            int j = lane + c * WARP;
            int key = j < nk ? orderBits(probs.get(base + j)) : -1;
            keys[c] = key;
            masses[c] = fixedPoint(key);
        }

        // Keys: the largest T whose set {key >= T} has at least `need` entries and, with p, at least p's mass.
        int lo = usesP ? LOW_KEY : 0;
        int hi = usesP ? TWO_KEY : FINITE_END;
        int keySteps = usesP ? P_KEY_STEPS : KEY_STEPS;
        for (int step = 0; step < keySteps; step++) {
            int mid = lo + (hi - lo) / 2;
            int count = 0;
            long mass = 0L;
            for (int c = 0; c < CACHED; c++) {
                boolean in = keys[c] >= mid;
                count += in ? 1 : 0;
                mass += in ? masses[c] : 0L;
            }
            for (int j = lane + CACHED * WARP; j < nk; j += WARP) {
                int key = orderBits(probs.get(base + j));
                if (key >= mid) {
                    count++;
                    if (usesP) {
                        mass += fixedPoint(key);
                    }
                }
            }
            long v = clampMass(mass);
            rowSums(ctx, s0, s1, s2, s3, p0, p1, p2, p3, lid, lane, warp, count, chunk(v, 0), chunk(v, 1),
                    chunk(v, 2));
            count = total(p0, warp);
            mass = usesP ? mass(total(p1, warp), total(p2, warp), total(p3, warp)) : 0L;
            if (count >= need && (!usesP || mass >= pCeil)) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        int threshold = lo;
        int atLeast = 0;
        int above = 0;
        long massAbove = 0L;
        for (int c = 0; c < CACHED; c++) {
            atLeast += keys[c] >= threshold ? 1 : 0;
            above += keys[c] > threshold ? 1 : 0;
            massAbove += keys[c] > threshold ? masses[c] : 0L;
        }
        for (int j = lane + CACHED * WARP; j < nk; j += WARP) {
            int key = orderBits(probs.get(base + j));
            if (key >= threshold) {
                atLeast++;
            }
            if (key > threshold) {
                above++;
                massAbove += fixedPoint(key);
            }
        }
        long va = clampMass(massAbove);
        // both counts in one int: each at most nk <= 2048 < 2^16
        rowSums(ctx, s0, s1, s2, s3, p0, p1, p2, p3, lid, lane, warp, atLeast | (above << 16), chunk(va, 0),
                chunk(va, 1), chunk(va, 2));
        int packed = total(p0, warp);
        atLeast = packed & 0xffff;
        above = packed >>> 16;
        massAbove = mass(total(p1, warp), total(p2, warp), total(p3, warp));
        long unit = fixedPoint(threshold);
        long massAtLeast = massAbove + (atLeast - above) * unit;
        // an entry of 2 or more is above T and brings the mass to EXACT_LIMIT (see fixedPoint): not exact
        boolean exact = atLeast >= need && massAtLeast >= pCeil && massAtLeast < EXACT_LIMIT;
        boolean fallback = usesP && !exact;
        // How many entries equal to T are kept: what Top-k still lacks, or what p's mass still lacks.
        int take = need - above;
        if (usesP && exact && massAbove < pCeil) {
            long units = (pCeil - massAbove + unit - 1) / unit;
            take = units > take ? (int) units : take;
        }
        // Indices: the smallest I with `take` entries equal to T below it; only where more entries equal T than are
        // taken (ties across the cut, rare on real maps): the group bisects only if one of its rows needs it.
        if (lane == 0) {
            flags[warp] = atLeast - above > take ? 1 : 0;
        }
        ctx.localBarrier();
        int indexSteps = anyFlag(flags) != 0 ? INDEX_STEPS : 0;
        ctx.localBarrier();
        int ilo = 0;
        int ihi = nk;
        for (int step = 0; step < indexSteps; step++) {
            int mid = (ilo + ihi) / 2;
            int ties = 0;
            for (int c = 0; c < CACHED; c++) {
                ties += lane + c * WARP < mid && keys[c] == threshold ? 1 : 0;
            }
            for (int j = lane + CACHED * WARP; j < mid; j += WARP) {
                if (orderBits(probs.get(base + j)) == threshold) {
                    ties++;
                }
            }
            rowSums(ctx, s0, s1, s2, s3, p0, p1, p2, p3, lid, lane, warp, ties, 0, 0, 0);
            ties = total(p0, warp);
            if (ties >= take) {
                ihi = mid;
            } else {
                ilo = mid;
            }
        }
        int bound = ihi;
        int kept = above + take;
        if (all) {
            threshold = -1;
            bound = 0;
            kept = nk;
        }

        // The exact fallback: the next entry in order is the sub-group's largest below the last one taken.
        if (lane == 0) {
            flags[warp] = fallback ? 1 : 0;
        }
        ctx.localBarrier();
        int any = anyFlag(flags);
        ctx.localBarrier();
        boolean active = fallback;
        int lastKey = Integer.MAX_VALUE;
        int lastIndex = -1;
        int taken = 0;
        long sum = 0L;
        while (any != 0) {
            int bk = -1;
            int bi = nk;
            for (int j = lane; j < nk; j += WARP) {
                int key = orderBits(probs.get(base + j));
                if ((key < lastKey || (key == lastKey && j > lastIndex)) && (key > bk || (key == bk && j < bi))) {
                    bk = key;
                    bi = j;
                }
            }
            bestKey[lid] = bk;
            bestIndex[lid] = bi;
            ctx.localBarrier();
            int wk = -1;
            int wi = nk;
            for (int l = 0; l < WARP; l++) {
                int k2 = bestKey[warp * WARP + l];
                int i2 = bestIndex[warp * WARP + l];
                if (k2 > wk || (k2 == wk && i2 < wi)) {
                    wk = k2;
                    wi = i2;
                }
            }
            if (active) {
                taken++;
                sum = addNonNegative(sum, floatToDoubleBits(wk));
                lastKey = wk;
                lastIndex = wi;
                if (taken >= nk || (taken >= need && sum >= pBits)) {
                    active = false;
                    threshold = wk;
                    bound = wi + 1;
                    kept = taken;
                }
            }
            ctx.localBarrier();
            if (lane == 0) {
                flags[warp] = active ? 1 : 0;
            }
            ctx.localBarrier();
            any = anyFlag(flags);
        }

        for (int c = 0; c < CACHED; c++) {
            int j = lane + c * WARP;
            if (live && j < nk) {
                keep.set(base + j, keys[c] > threshold || (keys[c] == threshold && j < bound) ? (byte) 1 : (byte) 0);
            }
        }
        for (int j = lane + CACHED * WARP; j < nk; j += WARP) {
            int key = orderBits(probs.get(base + j));
            if (live) {
                keep.set(base + j, key > threshold || (key == threshold && j < bound) ? (byte) 1 : (byte) 0);
            }
        }
        int words = (nk + WARP - 1) / WARP;
        for (int w = lane; w < words; w += WARP) {
            int bits = 0;
            int first = w * WARP;
            int end = KernelMath.min(WARP, nk - first);
            for (int b = 0; b < end; b++) {
                int key = orderBits(probs.get(base + first + b));
                if (key > threshold || (key == threshold && first + b < bound)) {
                    bits |= 1 << b;
                }
            }
            if (live) {
                keepBits.set(row * words + w, bits);
            }
        }
        if (live && lane == 0) {
            counts.set(row, kept);
        }
        return kept;
    }

    /** Whether any of the group's rows raised its flag (every work-item reads all of them). */
    private static int anyFlag(int[] flags) {
        int any = 0;
        for (int w = 0; w < WARPS; w++) {
            any |= flags[w];
        }
        return any;
    }

    /**
     * Sums four ints over each row's {@link #WARP} work-items through local memory in two levels: every work-item
     * writes its values, lanes 0..7 of each row add four lanes' each into {@code p0..p3} (8 partials a row), and
     * {@link #total} then adds the 8. Two barriers; no barrier is needed before the next call, as its writes come
     * after the first barrier that every reader of this call's partials has passed. Every work-item calls it. Local
     * memory and not sub-group shuffles, which PoCL would run as a local-memory fallback anyway.
     */
    private static void rowSums(KernelContext ctx, int[] s0, int[] s1, int[] s2, int[] s3, int[] p0, int[] p1,
            int[] p2, int[] p3, int lid, int lane, int warp, int v0, int v1, int v2, int v3) {
        s0[lid] = v0;
        s1[lid] = v1;
        s2[lid] = v2;
        s3[lid] = v3;
        ctx.localBarrier();
        if (lane < PARTS) {
            int at = warp * WARP + lane * (WARP / PARTS);
            int part = warp * PARTS + lane;
            p0[part] = s0[at] + s0[at + 1] + s0[at + 2] + s0[at + 3];
            p1[part] = s1[at] + s1[at + 1] + s1[at + 2] + s1[at + 3];
            p2[part] = s2[at] + s2[at + 1] + s2[at + 2] + s2[at + 3];
            p3[part] = s3[at] + s3[at + 1] + s3[at + 2] + s3[at + 3];
        }
        ctx.localBarrier();
    }

    /** The row's total of one of {@link #rowSums}' partial arrays. */
    private static int total(int[] parts, int warp) {
        int t = 0;
        for (int l = 0; l < PARTS; l++) {
            t += parts[warp * PARTS + l];
        }
        return t;
    }

    /** A lane's mass clamped below 2^54 (past {@link #EXACT_LIMIT} anyway), so that its three chunks hold it. */
    private static long clampMass(long value) {
        return value < (1L << 54) ? value : (1L << 54) - 1;
    }

    /** Chunk {@code c} (18 bits) of a clamped mass: 32 lanes' chunks sum below 2^23. */
    private static int chunk(long v, int c) {
        return (int) ((v >>> (c * CHUNK_BITS)) & CHUNK_MASK);
    }

    /** The mass from the sub-group's chunk sums. */
    private static long mass(int c0, int c1, int c2) {
        return (long) c0 + ((long) c1 << CHUNK_BITS) + ((long) c2 << (2 * CHUNK_BITS));
    }

    /**
     * An entry in units of 2^-52, exact for keys in {@code [LOW_KEY, TWO_KEY)}; 0 below (never summed where it
     * counts), 2^53 from 2 on (such rows take the fallback).
     */
    private static long fixedPoint(int key) {
        long r = 0L;
        if (key >= TWO_KEY) {
            r = EXACT_LIMIT;
        } else if (key >= LOW_KEY) {
            r = ((long) ((key & 0x7fffff) | 0x800000)) << ((key >>> 23) - 98);
        }
        return r;
    }

    /**
     * The bits of {@code v + 0.0f} (the CPU's sort key: -0 becomes +0) taken without float arithmetic, so that a
     * device flushing subnormals in arithmetic still sorts them like the CPU.
     */
    private static int orderBits(float v) {
        int bits = Float.floatToRawIntBits(v);
        return bits == Integer.MIN_VALUE ? 0 : bits;
    }

    /** The float64 bit pattern of a non-negative finite float given by its bits (exact, subnormals included). */
    private static long floatToDoubleBits(int f) {
        int exponent = (f >>> 23) & 0xff;
        long mantissa = f & 0x7fffff;
        long bits = 0L;
        if (exponent != 0) {
            bits = ((long) (exponent - 127 + 1023) << 52) | (mantissa << 29);
        } else if (mantissa != 0) {
            int shift = 0;
            while ((mantissa & 0x800000L) == 0) {
                mantissa <<= 1;
                shift++;
            }
            bits = ((long) (-126 - shift + 1023) << 52) | ((mantissa & 0x7fffffL) << 29);
        }
        return bits;
    }

    /**
     * {@code a + b} for non-negative finite float64 values given by their bits, rounded to nearest even like
     * Java's {@code double +}: align with guard, round and sticky bits, add, renormalise, round.
     */
    private static long addNonNegative(long x, long y) {
        long a = x >= y ? x : y;
        long b = x >= y ? y : x;
        long result = a;
        if (b != 0L) {
            int ea = (int) (a >>> 52);
            int eb = (int) (b >>> 52);
            long ma = a & FRACTION;
            long mb = b & FRACTION;
            if (ea == 0) {
                ea = 1;
            } else {
                ma |= HIDDEN;
            }
            if (eb == 0) {
                eb = 1;
            } else {
                mb |= HIDDEN;
            }
            ma <<= 3;
            mb <<= 3;
            int shift = ea - eb;
            if (shift >= 60) {
                mb = 1L;
            } else if (shift > 0) {
                long lost = mb & ((1L << shift) - 1L);
                mb = (mb >>> shift) | (lost != 0L ? 1L : 0L);
            }
            long sum = ma + mb;
            int e = ea;
            if (sum >= (1L << 56)) {
                sum = (sum >>> 1) | (sum & 1L);
                e++;
            }
            long rest = sum & 7L;
            sum >>>= 3;
            if (rest > 4L || (rest == 4L && (sum & 1L) != 0L)) {
                sum++;
            }
            result = ((long) (e - 1) << 52) + sum;
        }
        return result;
    }
}
