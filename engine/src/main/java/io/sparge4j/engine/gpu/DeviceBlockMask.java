package io.sparge4j.engine.gpu;

import io.sparge4j.engine.sparse.BlockGrid;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.kernels.attention.BlockMaskTasks;
import io.sparge4j.kernels.types.arrays.NativeArray;

import java.util.List;

/**
 * A SpargeAttention2 block mask built and kept on the device ({@link DeviceAttention#blockMask}): the pooled map,
 * the hybrid Top-k/Top-p selection and the kept-block lists (per query block and transposed), in
 * {@code BlockMaskTasks}' arrays, with query blocks of 128 and key blocks of 64 tokens. The sparse attention reads
 * it where it lies; {@link #toHost} reads it back only for analysis and tests. {@link #close} frees it.
 */
public final class DeviceBlockMask implements AutoCloseable {
    private final DeviceSession session;
    private final BlockMaskTasks tasks;
    private final int batch;
    private final int heads;
    private final int tokens;
    private final MaskMode mode;
    private final String recycleKey;
    private boolean closed;

    DeviceBlockMask(DeviceSession session, BlockMaskTasks tasks, int batch, int heads, int tokens, MaskMode mode,
            String recycleKey) {
        this.session = session;
        this.recycleKey = recycleKey;
        this.tasks = tasks;
        this.batch = batch;
        this.heads = heads;
        this.tokens = tokens;
        this.mode = mode;
        arrays().forEach(session::adopt);
    }

    /** @return the tokens per head the mask covers */
    public int tokens() {
        return tokens;
    }

    /** @return the mode it was built with */
    public MaskMode mode() {
        return mode;
    }

    /**
     * Reads the kept-block lists back (after every op enqueued before).
     *
     * @return the mask as the CPU's {@link BlockMask}, (B, H, ceil(N / 128), ceil(N / 64))
     * @throws IllegalStateException if the device lists name a key block out of range
     */
    public BlockMask toHost() {
        check("toHost");
        session.copyOut("DeviceBlockMask.toHost", tasks.rowStart);
        session.copyOut("DeviceBlockMask.toHost", tasks.rowBlocks);
        int nk = tasks.keyBlocks();
        boolean[] kept = new boolean[tasks.rows() * nk];
        for (int r = 0; r < tasks.rows(); r++) {
            for (int e = tasks.rowStart.get(r); e < tasks.rowStart.get(r + 1); e++) {
                int block = tasks.rowBlocks.get(e);
                if (block < 0 || block >= nk) {
                    throw new IllegalStateException("DeviceBlockMask.toHost: row " + r + " lists key block " + block
                            + ", expected 0.." + (nk - 1));
                }
                kept[r * nk + block] = true;
            }
        }
        return BlockMask.of(batch, heads, new BlockGrid(tokens, DeviceAttention.QUERY_BLOCK),
                new BlockGrid(tokens, DeviceAttention.KEY_BLOCK), kept);
    }

    /** Frees the mask's device memory; closing twice is harmless. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (session.isOpen()) {
            session.recycle(recycleKey, tasks, arrays());
        }
    }

    /**
     * @return the key under which a closed mask's lists wait for the next mask of the same sizes (the blocks are
     *     always {@link DeviceAttention#QUERY_BLOCK} x {@link DeviceAttention#KEY_BLOCK})
     */
    static String recycleKey(int heads, int tokens, int d) {
        return "BlockMaskTasks " + heads + " " + tokens + " " + d;
    }

    DeviceSession session() {
        return session;
    }

    BlockMaskTasks tasks() {
        check("use");
        return tasks;
    }

    int batch() {
        return batch;
    }

    int heads() {
        return heads;
    }

    private List<NativeArray> arrays() {
        return List.of(tasks.qPooled, tasks.kPooled, tasks.probs, tasks.keep, tasks.counts, tasks.keepBits,
                tasks.groupTotals, tasks.rowStart, tasks.rowBlocks, tasks.colCounts, tasks.colStart, tasks.colBlocks);
    }

    private void check(String op) {
        if (closed) {
            throw new IllegalStateException("DeviceBlockMask." + op + ": the mask is closed, expected an open one");
        }
    }
}
