package io.sparge4j.engine.sparse;

import io.sparge4j.engine.cpu.attention.BlockSchedule;

import java.util.Arrays;

/** Presents a {@link BlockMask}'s row lists and their transpose as the attention kernels' tile schedule. */
final class BlockMaskSchedule implements BlockSchedule {
    private final int[][] keyBlocks;
    private final int[][] queryBlocks;
    private final int queryBlockCount;
    private final int keyBlockCount;

    BlockMaskSchedule(BlockMask mask) {
        queryBlockCount = mask.queryGrid().blocks();
        keyBlockCount = mask.keyGrid().blocks();
        keyBlocks = slices(mask.rowStart(), mask.rowBlocks());
        queryBlocks = slices(mask.colStart(), mask.colBlocks());
    }

    private static int[][] slices(int[] start, int[] items) {
        int[][] out = new int[start.length - 1][];
        for (int r = 0; r < out.length; r++) {
            out[r] = Arrays.copyOfRange(items, start[r], start[r + 1]);
        }
        return out;
    }

    @Override
    public int[] keyBlocks(int batchHead, int queryBlock) {
        return keyBlocks[batchHead * queryBlockCount + queryBlock];
    }

    @Override
    public int[] queryBlocks(int batchHead, int keyBlock) {
        return queryBlocks[batchHead * keyBlockCount + keyBlock];
    }
}
