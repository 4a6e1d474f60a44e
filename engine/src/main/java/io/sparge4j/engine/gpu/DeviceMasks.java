package io.sparge4j.engine.gpu;

import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.kernels.attention.BlockMaskTasks;

/**
 * Puts a host {@link BlockMask} (one the CPU's SpargeAttention2 chose, or a saved one) on the device as a
 * {@link DeviceBlockMask}, so that {@link DeviceAttention#sparse} and its backward run with that very mask: the
 * kept-block lists and their transpose are copied as they are, and no pooled map is computed.
 */
public final class DeviceMasks {
    private DeviceMasks() {
    }

    /**
     * @param session the device
     * @param mask a mask with {@value DeviceAttention#QUERY_BLOCK}-token query blocks and
     *     {@value DeviceAttention#KEY_BLOCK}-token key blocks over one token count
     * @param headDim the head dim of the attention it serves (sizes the unused pooled arrays, at most 256)
     * @return the mask on the device, owned by the caller
     */
    public static DeviceBlockMask upload(DeviceSession session, BlockMask mask, int headDim) {
        if (session == null || mask == null) {
            throw new IllegalArgumentException("DeviceMasks.upload: " + (session == null ? "session" : "mask")
                    + " is null, expected a value");
        }
        int tokens = mask.queryGrid().length();
        if (mask.queryGrid().blockSize() != DeviceAttention.QUERY_BLOCK
                || mask.keyGrid().blockSize() != DeviceAttention.KEY_BLOCK || mask.keyGrid().length() != tokens) {
            throw new IllegalArgumentException("DeviceMasks.upload: mask has " + mask.queryGrid() + " x "
                    + mask.keyGrid() + ", expected blocks of " + DeviceAttention.QUERY_BLOCK + " x "
                    + DeviceAttention.KEY_BLOCK + " tokens over one token count (the device kernels' sizes)");
        }
        int heads = mask.batch() * mask.heads();
        BlockMaskTasks tasks = new BlockMaskTasks(heads, tokens, headDim, DeviceAttention.QUERY_BLOCK,
                DeviceAttention.KEY_BLOCK);
        copy(mask.rowStart(), tasks.rowStart);
        copy(mask.rowBlocks(), tasks.rowBlocks);
        copy(mask.colStart(), tasks.colStart);
        copy(mask.colBlocks(), tasks.colBlocks);
        DeviceBlockMask d = new DeviceBlockMask(session, tasks, mask.batch(), mask.heads(), tokens, MaskMode.MASK,
                DeviceBlockMask.recycleKey(heads, tokens, headDim));
        try {
            session.copyIn("DeviceMasks.upload", tasks.rowStart);
            session.copyIn("DeviceMasks.upload", tasks.rowBlocks);
            session.copyIn("DeviceMasks.upload", tasks.colStart);
            session.copyIn("DeviceMasks.upload", tasks.colBlocks);
            return d;
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
    }

    private static void copy(int[] from, io.sparge4j.kernels.types.arrays.IntArray to) {
        for (int i = 0; i < from.length; i++) {
            to.set(i, from[i]);
        }
    }
}
