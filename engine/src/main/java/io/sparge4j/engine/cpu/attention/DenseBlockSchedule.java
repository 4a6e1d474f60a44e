package io.sparge4j.engine.cpu.attention;

/** Every query block attends to every key block: plain dense attention. */
public final class DenseBlockSchedule implements BlockSchedule {
    private final int[] allKeyBlocks;
    private final int[] allQueryBlocks;

    /**
     * @param queryBlocks number of query blocks
     * @param keyBlocks number of key blocks
     */
    public DenseBlockSchedule(int queryBlocks, int keyBlocks) {
        allQueryBlocks = range(queryBlocks);
        allKeyBlocks = range(keyBlocks);
    }

    @Override
    public int[] keyBlocks(int batchHead, int queryBlock) {
        return allKeyBlocks;
    }

    @Override
    public int[] queryBlocks(int batchHead, int keyBlock) {
        return allQueryBlocks;
    }

    private static int[] range(int n) {
        int[] r = new int[n];
        for (int i = 0; i < n; i++) {
            r[i] = i;
        }
        return r;
    }
}
