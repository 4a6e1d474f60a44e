package io.sparge4j.engine.cpu.attention;

/**
 * Which query-block x key-block tiles an attention kernel visits.
 *
 * <p>The forward and dQ passes walk, for each query block, the list of key blocks it attends to; the
 * dK/dV pass walks, for each key block, the list of query blocks that attend to it (the transpose).
 * Dense attention visits every tile ({@link DenseBlockSchedule}); a block-sparse mask supplies its own
 * lists. Both lists must describe the same set of tiles, or the gradients disagree with the forward.
 */
public interface BlockSchedule {
    /**
     * @param batchHead flat index {@code b * heads + h}
     * @param queryBlock query block index
     * @return the key blocks this query block attends to, in increasing order; callers must not modify it
     */
    int[] keyBlocks(int batchHead, int queryBlock);

    /**
     * @param batchHead flat index {@code b * heads + h}
     * @param keyBlock key block index
     * @return the query blocks that attend to this key block, in increasing order; callers must not modify it
     */
    int[] queryBlocks(int batchHead, int keyBlock);
}
