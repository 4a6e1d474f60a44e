package io.sparge4j.engine.kernel.attention;

import io.sparge4j.kernels.GridScheduler;
import io.sparge4j.kernels.TaskGraph;
import io.sparge4j.kernels.attention.BlockMaskTasks;
import io.sparge4j.kernels.attention.BlockSelectKernels;
import io.sparge4j.kernels.attention.PooledSoftmaxKernels;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link BlockMaskTasks}: block counts, array sizes, and refusals that name the size that does not fit. */
class BlockMaskTasksTest {
    @Test
    void sizesFollowTheBlockGrids() {
        BlockMaskTasks t = new BlockMaskTasks(6, 1000, 128, 128, 64);
        assertEquals(8, t.queryBlocks());
        assertEquals(16, t.keyBlocks());
        assertEquals(48, t.rows());
        assertEquals(96, t.columns());
        assertEquals(48 * 128, t.qPooled.getSize());
        assertEquals(96 * 128, t.kPooled.getSize());
        assertEquals(48 * 16, t.probs.getSize());
        assertEquals(49, t.rowStart.getSize());
        assertEquals(97, t.colStart.getSize());
    }

    @Test
    void refusesWhatTheKernelsCannotHold() {
        IllegalArgumentException d = assertThrows(IllegalArgumentException.class,
                () -> new BlockMaskTasks(1, 100, PooledSoftmaxKernels.MAX_D + 1, 128, 64));
        assertTrue(d.getMessage().contains("d is " + (PooledSoftmaxKernels.MAX_D + 1)), d.getMessage());
        int tooMany = (BlockSelectKernels.MAX_KEY_BLOCKS + 1) * 64;
        IllegalArgumentException nk = assertThrows(IllegalArgumentException.class,
                () -> new BlockMaskTasks(1, tooMany, 64, 128, 64));
        assertTrue(nk.getMessage().contains((BlockSelectKernels.MAX_KEY_BLOCKS + 1) + " key blocks"), nk.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new BlockMaskTasks(0, 100, 64, 128, 64));
        BlockMaskTasks t = new BlockMaskTasks(1, 1000, 64, 128, 64);
        IllegalArgumentException k = assertThrows(IllegalArgumentException.class,
                () -> t.addSelection(new TaskGraph("g"), new GridScheduler(), "m", 17, 0.5));
        assertTrue(k.getMessage().contains("topk is 17, expected 0..16"), k.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> t.addSelection(new TaskGraph("g"), new GridScheduler(), "m", 1, Double.NaN));
    }
}
