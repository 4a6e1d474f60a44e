package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.types.arrays.IntArray;

/**
 * The block mask's lists from the per-row keep bitmaps of {@link BlockSelectKernels#selectRows}, laid out like the
 * CPU's {@code BlockMask}: rows are numbered {@code r = bh * nq + i} and columns {@code c = bh * nk + j};
 * {@code rowStart}/{@code rowBlocks} hold each row's kept key blocks ascending (the forward's LUT),
 * {@code colStart}/{@code colBlocks} each key block's query blocks ascending (the transpose, for the dK/dV pass).
 *
 * <p>One launch builds both: no separate scans. Each work-group finds its own offset into the lists from the
 * selection's per-group totals (a few hundred ints, read from L2) instead of waiting for a global scan, and reads
 * the keep flags as bits (nk / 8 bytes a row instead of nk).
 */
public final class BlockListKernels {
    /** Work-group size. */
    public static final int GROUP = 256;
    /** Sub-group width: a row group takes one row per 32 work-items, a column group 32 adjacent columns. */
    public static final int WARP = BlockSelectKernels.WARP;
    /** Row slices per column in a column group: {@code GROUP / WARP}. */
    public static final int ROW_SLICES = GROUP / WARP;

    private BlockListKernels() {
    }

    /** Rows per row group: one selection work-group's rows, or a part of them. */
    private static final int ROWS = GROUP / WARP;
    /** Row groups per selection work-group. */
    private static final int HALVES = BlockSelectKernels.ROWS_PER_GROUP / ROWS;

    /**
     * @param heads B * H
     * @param nq query blocks per head
     * @param nk key blocks per head
     * @return work-groups of {@link #buildLists}: one per 8 rows of each selection work-group, then one per head and
     *     32 key blocks
     */
    public static int groups(int heads, int nq, int nk) {
        return heads * selectionGroups(nq) * HALVES + heads * ((nk + WARP - 1) / WARP);
    }

    /** Selection work-groups per head. */
    private static int selectionGroups(int nq) {
        return (nq + BlockSelectKernels.ROWS_PER_GROUP - 1) / BlockSelectKernels.ROWS_PER_GROUP;
    }

    /**
     * Both lists in one launch. The first {@code heads * ceil(nq / ROWS_PER_GROUP) * ROWS_PER_GROUP / 8} work-groups
     * are row groups: 8 rows each, of one selection work-group, one row per 32 work-items, each lane expanding two bitmap words (its offset
     * within the row from the words' bit counts before it). The others are column groups, one per head and
     * 32 adjacent key blocks: 8 slices of the head's query blocks counted and then listed by 32 work-items each
     * (a lane per column), the slices' counts added in local memory. A column group's offset is the kept blocks
     * of the heads before (the selection's group totals and counts) plus the head's bits in columns before its
     * own (bit counts of the head's bitmap words). Every work-item reaches every barrier.
     * Launch: 1D grid {@link #groups}{@code (heads, nq, nk) * GROUP}, local size {@link #GROUP}; nk at most
     * {@link BlockSelectKernels#MAX_KEY_BLOCKS}.
     *
     * @param ctx the work-item
     * @param keepBits keep bitmap (heads * nq, ceil(nk / 32)) from the selection
     * @param counts kept blocks per row (heads * nq)
     * @param groupTotals kept blocks per selection work-group (heads * ceil(nq / ROWS_PER_GROUP), head after head)
     * @param rowStart output, CSR offsets per row (heads * nq + 1)
     * @param rowBlocks output, {@code rowStart[heads * nq]} entries
     * @param colCounts output, query blocks keeping each key block (heads * nk)
     * @param colStart output, CSR offsets of the transpose (heads * nk + 1)
     * @param colBlocks output, {@code colStart[heads * nk]} entries
     * @param heads B * H
     * @param nq query blocks per head
     * @param nk key blocks per head
     */
    public static void buildLists(KernelContext ctx, IntArray keepBits, IntArray counts, IntArray groupTotals,
            IntArray rowStart, IntArray rowBlocks, IntArray colCounts, IntArray colStart, IntArray colBlocks,
            int heads, int nq, int nk) {
        int[] red = ctx.allocateIntLocalArray(GROUP);
        int[] first = ctx.allocateIntLocalArray(GROUP);
        int[] second = ctx.allocateIntLocalArray(GROUP);
        int[] columnTotals = ctx.allocateIntLocalArray(WARP);
        int lid = ctx.localIdx;
        int warp = lid / WARP;
        int lane = lid % WARP;
        int rows = heads * nq;
        int words = (nk + WARP - 1) / WARP;
        int perHead = selectionGroups(nq);
        int rowGroupCount = heads * perHead * HALVES;
        int g = ctx.groupIdx;
        boolean isRow = g < rowGroupCount;
        int selection = g / HALVES;
        int half = g % HALVES;
        int colGroup = isRow ? 0 : g - rowGroupCount;
        int bh = isRow ? selection / perHead : colGroup / words;
        int w = colGroup % words;
        int headRow = bh * nq;
        // row groups: query blocks i0 .. i0 + 7 of head bh
        int i0 = (selection % perHead) * BlockSelectKernels.ROWS_PER_GROUP + half * ROWS;

        // The group's offset into the lists: the kept blocks of everything before it.
        int partial = 0;
        int before = isRow ? selection : bh * perHead;
        for (int i = lid; i < before; i += GROUP) {
            partial += groupTotals.get(i);
        }
        if (isRow && half > 0 && lid < half * ROWS && i0 - half * ROWS + lid < nq) {
            partial += counts.get(headRow + i0 - half * ROWS + lid);
        }
        if (!isRow) {
            for (int i = lid; i < nq; i += GROUP) {
                for (int v = 0; v < w; v++) {
                    partial += bitCount(keepBits.get((headRow + i) * words + v));
                }
            }
        }
        red[lid] = partial;
        ctx.localBarrier();
        for (int stride = GROUP / 2; stride > 0; stride /= 2) {
            if (lid < stride) {
                red[lid] += red[lid + stride];
            }
            ctx.localBarrier();
        }
        int offset = red[0];

        // Row groups: bit counts of the row's words (two per lane). Column groups: each slice's bits per column.
        int row = headRow + i0 + warp;
        boolean liveRow = isRow && i0 + warp < nq;
        int word0 = liveRow && lane < words ? keepBits.get(row * words + lane) : 0;
        int word1 = liveRow && lane + WARP < words ? keepBits.get(row * words + lane + WARP) : 0;
        int column = w * WARP + lane;
        boolean liveColumn = !isRow && column < nk;
        int per = (nq + ROW_SLICES - 1) / ROW_SLICES;
        int sliceStart = KernelMath.min(warp * per, nq);
        int sliceEnd = KernelMath.min(sliceStart + per, nq);
        int sliceCount = 0;
        if (liveColumn) {
            for (int i = sliceStart; i < sliceEnd; i++) {
                sliceCount += (keepBits.get((headRow + i) * words + w) >>> lane) & 1;
            }
        }
        first[lid] = isRow ? bitCount(word0) : sliceCount;
        second[lid] = bitCount(word1);
        ctx.localBarrier();
        if (!isRow && lid < WARP) {
            int total = 0;
            for (int s = 0; s < ROW_SLICES; s++) {
                total += first[s * WARP + lid];
            }
            columnTotals[lid] = total;
        }
        ctx.localBarrier();

        if (liveRow) {
            int start = offset;
            for (int k = 0; k < warp; k++) {
                start += counts.get(headRow + i0 + k);
            }
            int at0 = start;
            int firstTotal = 0;
            int at1 = start;
            for (int l = 0; l < WARP; l++) {
                int c = first[warp * WARP + l];
                firstTotal += c;
                at0 += l < lane ? c : 0;
                at1 += l < lane ? second[warp * WARP + l] : 0;
            }
            at1 += firstTotal;
            at0 = expand(rowBlocks, at0, word0, lane * WARP);
            at1 = expand(rowBlocks, at1, word1, (lane + WARP) * WARP);
            if (lane == 0) {
                rowStart.set(row, start);
                if (row == rows - 1) {
                    rowStart.set(rows, start + counts.get(row));
                }
            }
        }
        if (liveColumn) {
            int start = offset;
            for (int l = 0; l < lane; l++) {
                start += columnTotals[l];
            }
            int at = start;
            for (int s = 0; s < warp; s++) {
                at += first[s * WARP + lane];
            }
            for (int i = sliceStart; i < sliceEnd; i++) {
                if (((keepBits.get((headRow + i) * words + w) >>> lane) & 1) != 0) {
                    colBlocks.set(at, i);
                    at++;
                }
            }
            int c = bh * nk + column;
            if (warp == 0) {
                colStart.set(c, start);
                colCounts.set(c, columnTotals[lane]);
                if (c == heads * nk - 1) {
                    colStart.set(heads * nk, start + columnTotals[lane]);
                }
            }
        }
    }

    /** Writes the positions of word's set bits, plus {@code first}, ascending from {@code at}; returns the end. */
    private static int expand(IntArray out, int at, int word, int first) {
        int rest = word;
        int w = at;
        while (rest != 0) {
            int low = rest & -rest;
            out.set(w, first + bitCount(low - 1));
            w++;
            rest ^= low;
        }
        return w;
    }

    /** Set bits of v (the SWAR count; compilers turn it into a popcount instruction). */
    static int bitCount(int v) {
        int x = v - ((v >>> 1) & 0x55555555);
        x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
        x = (x + (x >>> 4)) & 0x0f0f0f0f;
        return (x * 0x01010101) >>> 24;
    }
}
