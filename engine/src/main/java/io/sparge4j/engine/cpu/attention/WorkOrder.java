package io.sparge4j.engine.cpu.attention;

import java.util.Arrays;
import java.util.function.IntUnaryOperator;

/** Work lists derived from a {@link BlockSchedule}: which blocks to pack, and in which order to run tiles. */
final class WorkOrder {
    private WorkOrder() {
    }

    /**
     * The key blocks that some query block of heads {@code [first, first + heads)} attends to, found in
     * either list of the schedule, as items {@code c * keyBlocks + kb} ({@code c} counts from {@code first}).
     * Blocks nobody keeps are never packed, so packing shrinks with sparsity.
     */
    static int[] usedKeyBlocks(BlockSchedule schedule, int first, int heads, int queryBlocks, int keyBlocks) {
        boolean[] used = new boolean[heads * keyBlocks];
        for (int c = 0; c < heads; c++) {
            for (int qb = 0; qb < queryBlocks; qb++) {
                for (int kb : schedule.keyBlocks(first + c, qb)) {
                    used[c * keyBlocks + kb] = true;
                }
            }
        }
        return indicesOf(used);
    }

    /**
     * The query blocks of heads {@code [first, first + heads)} that attend to some key block, found in either
     * list of the schedule, as items {@code c * queryBlocks + qb}.
     */
    static int[] usedQueryBlocks(BlockSchedule schedule, int first, int heads, int queryBlocks, int keyBlocks) {
        boolean[] used = new boolean[heads * queryBlocks];
        for (int c = 0; c < heads; c++) {
            for (int qb = 0; qb < queryBlocks; qb++) {
                if (schedule.keyBlocks(first + c, qb).length > 0) {
                    used[c * queryBlocks + qb] = true;
                }
            }
            for (int kb = 0; kb < keyBlocks; kb++) {
                for (int qb : schedule.queryBlocks(first + c, kb)) {
                    used[c * queryBlocks + qb] = true;
                }
            }
        }
        return indicesOf(used);
    }

    /**
     * Items {@code [0, n)} ordered by decreasing cost, ties by index: handing the longest tasks out first
     * keeps threads from idling behind one long task at the end (rows of a sparse mask keep different
     * numbers of blocks). The order only affects which thread runs a task, never a result.
     */
    static int[] byCostDescending(int n, IntUnaryOperator cost) {
        long[] keys = new long[n];
        for (int i = 0; i < n; i++) {
            keys[i] = ((long) -cost.applyAsInt(i) << 32) | i;
        }
        Arrays.sort(keys);
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = (int) keys[i];
        }
        return order;
    }

    private static int[] indicesOf(boolean[] flags) {
        int count = 0;
        for (boolean f : flags) {
            if (f) {
                count++;
            }
        }
        int[] items = new int[count];
        for (int i = 0, n = 0; i < flags.length; i++) {
            if (flags[i]) {
                items[n++] = i;
            }
        }
        return items;
    }
}
