package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.types.arrays.ByteArray;
import io.sparge4j.kernels.types.arrays.IntArray;

/**
 * The block mask's lists from per-row keep flags, laid out like the CPU's {@code BlockMask}: rows are numbered
 * {@code r = bh * nq + i} and columns {@code c = bh * nk + j}; {@code rowStart}/{@code rowBlocks} hold each row's
 * kept key blocks ascending (the forward's LUT), {@code colStart}/{@code colBlocks} each key block's query blocks
 * ascending (the transpose, for the dK/dV pass).
 *
 * <p>Order of launches: {@code rowStart = exclusiveScan(counts)}, {@link #fillRowBlocks},
 * {@link #countColumns}, {@code colStart = exclusiveScan(colCounts)}, {@link #fillColumnBlocks}.
 */
public final class BlockListKernels {
    /** Work-group size of every kernel here but {@link #exclusiveScan}'s single group, which has it too. */
    public static final int GROUP = 256;
    /** Adjacent columns per work-group of the column kernels. */
    public static final int COLUMN_TILE = 32;
    /** Row slices per column in the column kernels: {@code GROUP / COLUMN_TILE}. */
    public static final int ROW_SLICES = GROUP / COLUMN_TILE;

    private BlockListKernels() {
    }

    /**
     * {@code out[i] = in[0] + ... + in[i - 1]} for {@code i <= n} (so {@code out[n]} is the total), by a single
     * work-group: each work-item sums a contiguous chunk, a Hillis-Steele scan in local memory combines the
     * chunk sums, then each work-item writes its chunk. Launch: exactly one work-group, 1D grid {@link #GROUP},
     * local size {@link #GROUP}.
     *
     * @param ctx the work-item
     * @param in counts (n)
     * @param out offsets (n + 1)
     * @param n element count
     */
    public static void exclusiveScan(KernelContext ctx, IntArray in, IntArray out, int n) {
        int[] sums = ctx.allocateIntLocalArray(GROUP);
        int lid = ctx.localIdx;
        int chunk = (n + GROUP - 1) / GROUP;
        int start = lid * chunk;
        int end = start + chunk < n ? start + chunk : n;
        int own = 0;
        for (int i = start; i < end; i++) {
            own += in.get(i);
        }
        sums[lid] = own;
        ctx.localBarrier();
        inclusiveScan(ctx, sums, lid);
        int running = sums[lid] - own;
        for (int i = start; i < end; i++) {
            out.set(i, running);
            running += in.get(i);
        }
        if (lid == GROUP - 1) {
            out.set(n, sums[GROUP - 1]);
        }
    }

    /**
     * Writes each row's kept key blocks, ascending, at {@code rowBlocks[rowStart[r] ...]}: one work-group per
     * row walks the row in chunks of {@link #GROUP} columns, compacting each chunk by a local scan of its flags.
     * Launch: 1D grid {@code rows * GROUP}, local size {@link #GROUP}.
     *
     * @param ctx the work-item
     * @param keep flags (rows, nk)
     * @param rowStart offsets (rows + 1)
     * @param rowBlocks output, {@code rowStart[rows]} entries
     * @param nk key blocks per row
     */
    public static void fillRowBlocks(KernelContext ctx, ByteArray keep, IntArray rowStart, IntArray rowBlocks,
            int nk) {
        int[] flags = ctx.allocateIntLocalArray(GROUP);
        int lid = ctx.localIdx;
        int row = ctx.groupIdx;
        int base = row * nk;
        int offset = rowStart.get(row);
        for (int chunk = 0; chunk < nk; chunk += GROUP) {
            int j = chunk + lid;
            int flag = j < nk && keep.get(base + j) != 0 ? 1 : 0;
            flags[lid] = flag;
            ctx.localBarrier();
            inclusiveScan(ctx, flags, lid);
            if (flag != 0) {
                rowBlocks.set(offset + flags[lid] - 1, j);
            }
            offset += flags[GROUP - 1];
            ctx.localBarrier();
        }
    }

    /**
     * {@code colCounts[c]}: how many query blocks keep key block c. One work-group of {@link #GROUP} per
     * {@link #COLUMN_TILE} columns: each column's query blocks are cut into {@link #ROW_SLICES} contiguous slices
     * counted by as many work-items at once (a warp reads 32 adjacent flags of one row), the slices' counts then
     * added in local memory. One work-item per column walking all nq rows left the device latency-bound with only
     * heads * nk work-items. Launch: 1D grid {@link #columnGroups}{@code (heads * nk) * GROUP}, local size
     * {@link #GROUP}.
     *
     * @param ctx the work-item
     * @param keep flags (heads * nq, nk)
     * @param colCounts output (heads * nk)
     * @param heads B * H
     * @param nq query blocks per head
     * @param nk key blocks per head
     */
    public static void countColumns(KernelContext ctx, ByteArray keep, IntArray colCounts, int heads, int nq, int nk) {
        int[] partial = ctx.allocateIntLocalArray(GROUP);
        int lid = ctx.localIdx;
        int col = lid % COLUMN_TILE;
        int c = ctx.groupIdx * COLUMN_TILE + col;
        partial[lid] = sliceCount(keep, c, lid / COLUMN_TILE, heads, nq, nk);
        ctx.localBarrier();
        if (lid < COLUMN_TILE && c < heads * nk) {
            int total = 0;
            for (int s = 0; s < ROW_SLICES; s++) {
                total += partial[s * COLUMN_TILE + col];
            }
            colCounts.set(c, total);
        }
    }

    /**
     * Writes each key block's query blocks, ascending, at {@code colBlocks[colStart[c] ...]}, sliced as
     * {@link #countColumns}: each work-item counts its slice of the column again, takes the counts of the slices
     * above it from local memory as its offset, and writes its slice's kept query blocks in order. Launch: as
     * {@link #countColumns}.
     *
     * @param ctx the work-item
     * @param keep flags (heads * nq, nk)
     * @param colStart offsets (heads * nk + 1)
     * @param colBlocks output, {@code colStart[heads * nk]} entries
     * @param heads B * H
     * @param nq query blocks per head
     * @param nk key blocks per head
     */
    public static void fillColumnBlocks(KernelContext ctx, ByteArray keep, IntArray colStart, IntArray colBlocks,
            int heads, int nq, int nk) {
        int[] partial = ctx.allocateIntLocalArray(GROUP);
        int lid = ctx.localIdx;
        int col = lid % COLUMN_TILE;
        int slice = lid / COLUMN_TILE;
        int c = ctx.groupIdx * COLUMN_TILE + col;
        partial[lid] = sliceCount(keep, c, slice, heads, nq, nk);
        ctx.localBarrier();
        if (c < heads * nk) {
            int w = colStart.get(c);
            for (int s = 0; s < slice; s++) {
                w += partial[s * COLUMN_TILE + col];
            }
            int bh = c / nk;
            int j = c % nk;
            int per = (nq + ROW_SLICES - 1) / ROW_SLICES;
            int end = KernelMath.min(slice * per + per, nq);
            for (int i = slice * per; i < end; i++) {
                if (keep.get((bh * nq + i) * nk + j) != 0) {
                    colBlocks.set(w, i);
                    w++;
                }
            }
        }
    }

    /**
     * @param columns heads * nk
     * @return work-groups of {@link #countColumns} and {@link #fillColumnBlocks}
     */
    public static int columnGroups(int columns) {
        return (columns + COLUMN_TILE - 1) / COLUMN_TILE;
    }

    /** Kept flags of column c among query blocks of slice {@code slice} (0 past the last column). */
    private static int sliceCount(ByteArray keep, int c, int slice, int heads, int nq, int nk) {
        int count = 0;
        if (c < heads * nk) {
            int bh = c / nk;
            int j = c % nk;
            int per = (nq + ROW_SLICES - 1) / ROW_SLICES;
            int end = KernelMath.min(slice * per + per, nq);
            for (int i = slice * per; i < end; i++) {
                if (keep.get((bh * nq + i) * nk + j) != 0) {
                    count++;
                }
            }
        }
        return count;
    }

    /** In-place inclusive Hillis-Steele scan of a {@link #GROUP}-entry local array; every work-item calls it. */
    private static void inclusiveScan(KernelContext ctx, int[] values, int lid) {
        for (int offset = 1; offset < GROUP; offset *= 2) {
            int add = lid >= offset ? values[lid - offset] : 0;
            ctx.localBarrier();
            values[lid] += add;
            ctx.localBarrier();
        }
    }
}
