package io.sparge4j.engine.sparse;

import io.sparge4j.engine.ops.Check;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.util.Arrays;

/**
 * A block mask M[b,h,i,j] over (query block i, key block j), held as per-row lists of kept key blocks (CSR, the
 * forward's "LUT") and their transpose (per key block, the query blocks that kept it, for the dK/dV pass).
 *
 * <p>Rows are numbered {@code (b * H + h) * nq + i}; columns of the transpose {@code (b * H + h) * nk + j}.
 * Lists are in ascending block order.
 */
public final class BlockMask {
    private final int batch;
    private final int heads;
    private final BlockGrid queryGrid;
    private final BlockGrid keyGrid;
    private final int[] rowStart;
    private final int[] rowBlocks;
    private final int[] colStart;
    private final int[] colBlocks;

    private BlockMask(int batch, int heads, BlockGrid queryGrid, BlockGrid keyGrid, boolean[] kept) {
        this.batch = batch;
        this.heads = heads;
        this.queryGrid = queryGrid;
        this.keyGrid = keyGrid;
        int nq = queryGrid.blocks();
        int nk = keyGrid.blocks();
        int rows = batch * heads * nq;
        rowStart = new int[rows + 1];
        int total = 0;
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < nk; j++) {
                if (kept[r * nk + j]) {
                    total++;
                }
            }
            rowStart[r + 1] = total;
        }
        rowBlocks = new int[total];
        colStart = new int[batch * heads * nk + 1];
        colBlocks = new int[total];
        int[] colCount = new int[batch * heads * nk];
        int w = 0;
        for (int r = 0; r < rows; r++) {
            int bh = r / nq;
            for (int j = 0; j < nk; j++) {
                if (kept[r * nk + j]) {
                    rowBlocks[w++] = j;
                    colCount[bh * nk + j]++;
                }
            }
        }
        for (int c = 0; c < colCount.length; c++) {
            colStart[c + 1] = colStart[c] + colCount[c];
        }
        int[] fill = Arrays.copyOf(colStart, colCount.length);
        for (int r = 0; r < rows; r++) {
            int bh = r / nq;
            int i = r % nq;
            for (int e = rowStart[r]; e < rowStart[r + 1]; e++) {
                colBlocks[fill[bh * nk + rowBlocks[e]]++] = i;
            }
        }
    }

    /**
     * Builds a mask from a dense boolean array.
     *
     * @param batch B
     * @param heads H
     * @param queryGrid how queries split into blocks
     * @param keyGrid how keys split into blocks
     * @param kept row-major (B,H,nq,nk) flags; copied
     * @return the mask
     */
    public static BlockMask of(int batch, int heads, BlockGrid queryGrid, BlockGrid keyGrid, boolean[] kept) {
        int expected = batch * heads * queryGrid.blocks() * keyGrid.blocks();
        Check.that(kept.length == expected, "BlockMask", "kept.length", kept.length, String.valueOf(expected));
        return new BlockMask(batch, heads, queryGrid, keyGrid, kept.clone());
    }

    /** @return a mask that keeps every block */
    public static BlockMask dense(int batch, int heads, BlockGrid queryGrid, BlockGrid keyGrid) {
        boolean[] all = new boolean[batch * heads * queryGrid.blocks() * keyGrid.blocks()];
        Arrays.fill(all, true);
        return new BlockMask(batch, heads, queryGrid, keyGrid, all);
    }

    /**
     * Reads a user-given mask tensor (u8 or bool, shape (B,H,nq,nk), nonzero = kept).
     *
     * @param mask the tensor
     * @param batch expected B
     * @param heads expected H
     * @param queryGrid query blocks (fixes nq)
     * @param keyGrid key blocks (fixes nk)
     * @return the mask
     * @throws IllegalArgumentException if the dtype or shape is wrong, or a row keeps no block
     */
    public static BlockMask fromTensor(Tensor mask, int batch, int heads, BlockGrid queryGrid, BlockGrid keyGrid) {
        String op = "block mask";
        Check.notNull(op, "mask", mask);
        if (mask.dtype() != DType.U8 && mask.dtype() != DType.BOOL) {
            throw new IllegalArgumentException(op + ": mask has dtype " + mask.dtype() + ", expected u8 or bool");
        }
        Check.shape(op, "mask", mask, batch, heads, queryGrid.blocks(), keyGrid.blocks());
        boolean[] kept = new boolean[(int) mask.numel()];
        int nk = keyGrid.blocks();
        for (int r = 0; r < kept.length / nk; r++) {
            boolean any = false;
            for (int j = 0; j < nk; j++) {
                kept[r * nk + j] = mask.getLong((long) r * nk + j) != 0;
                any |= kept[r * nk + j];
            }
            if (!any) {
                int nq = queryGrid.blocks();
                throw new IllegalArgumentException(op + ": mask row (b=" + r / nq / heads + ", h=" + r / nq % heads
                        + ", query block " + r % nq + ") keeps no key block, expected at least one per row");
            }
        }
        return new BlockMask(batch, heads, queryGrid, keyGrid, kept);
    }

    /** @return the mask as a u8 tensor (B,H,nq,nk), 1 = kept */
    public Tensor toTensor() {
        int nq = queryGrid.blocks();
        int nk = keyGrid.blocks();
        Tensor t = Tensor.allocate(DType.U8, batch, heads, nq, nk);
        for (int r = 0; r < batch * heads * nq; r++) {
            for (int e = rowStart[r]; e < rowStart[r + 1]; e++) {
                t.setLong((long) r * nk + rowBlocks[e], 1);
            }
        }
        return t;
    }

    /** @return B */
    public int batch() {
        return batch;
    }

    /** @return H */
    public int heads() {
        return heads;
    }

    /** @return the query block grid */
    public BlockGrid queryGrid() {
        return queryGrid;
    }

    /** @return the key block grid */
    public BlockGrid keyGrid() {
        return keyGrid;
    }

    /** @return whether (b, h, query block i, key block j) is kept */
    public boolean kept(int b, int h, int i, int j) {
        int r = (b * heads + h) * queryGrid.blocks() + i;
        return Arrays.binarySearch(rowBlocks, rowStart[r], rowStart[r + 1], j) >= 0;
    }

    /** @return CSR offsets of the kept key blocks per row (length B*H*nq + 1); shared, do not modify */
    public int[] rowStart() {
        return rowStart;
    }

    /** @return the kept key-block indices, row after row; shared, do not modify */
    public int[] rowBlocks() {
        return rowBlocks;
    }

    /** @return CSR offsets of the transpose per key block (length B*H*nk + 1); shared, do not modify */
    public int[] colStart() {
        return colStart;
    }

    /** @return for each key block, the query blocks that kept it, ascending; shared, do not modify */
    public int[] colBlocks() {
        return colBlocks;
    }

    /** @return the number of kept key blocks in row (b, h, i) */
    public int keptInRow(int b, int h, int i) {
        int r = (b * heads + h) * queryGrid.blocks() + i;
        return rowStart[r + 1] - rowStart[r];
    }

    /**
     * Sparsity of one (batch, head): the fraction of (query, key) token pairs whose block is dropped, i.e. the
     * dropped block pairs weighted by their areas (which differ only for short last blocks).
     *
     * @param b batch index
     * @param h head index
     * @return a fraction in [0, 1)
     */
    public double sparsity(int b, int h) {
        int nq = queryGrid.blocks();
        long keptArea = 0;
        for (int i = 0; i < nq; i++) {
            int r = (b * heads + h) * nq + i;
            long rowKeys = 0;
            for (int e = rowStart[r]; e < rowStart[r + 1]; e++) {
                rowKeys += keyGrid.size(rowBlocks[e]);
            }
            keptArea += rowKeys * queryGrid.size(i);
        }
        return 1.0 - (double) keptArea / ((long) queryGrid.length() * keyGrid.length());
    }

    /** @return the sparsity averaged over batch and heads */
    public double sparsity() {
        double s = 0;
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                s += sparsity(b, h);
            }
        }
        return s / (batch * heads);
    }

    /** @return the number of kept blocks in all rows together */
    public int keptBlocks() {
        return rowBlocks.length;
    }
}
