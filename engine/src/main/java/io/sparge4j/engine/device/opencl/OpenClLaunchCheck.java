package io.sparge4j.engine.device.opencl;

import java.util.Arrays;
import java.util.function.Supplier;

/**
 * Checks a launch's grid before the driver sees it, so a bad grid fails with the sizes and what to change
 * rather than a bare {@code CL_INVALID_WORK_GROUP_SIZE}.
 */
final class OpenClLaunchCheck {
    private OpenClLaunchCheck() {
    }

    /**
     * @param kernel the kernel's Java name, for messages (made only on failure: launches are hot)
     * @param global work-items per dimension
     * @param local work-group size per dimension
     * @param maxItemSizes {@code CL_DEVICE_MAX_WORK_ITEM_SIZES}
     * @param maxGroup the largest work-group (device and kernel limits)
     * @return the local sizes as {@code size_t}s
     */
    static long[] check(Supplier<String> kernel, long[] global, int[] local, long[] maxItemSizes, long maxGroup) {
        if (global == null || local == null) {
            throw new IllegalArgumentException("launch " + kernel.get()
                    + ": globalSize and localSize must not be null");
        }
        if (global.length < 1 || global.length > 3 || local.length != global.length) {
            throw new IllegalArgumentException("launch " + kernel.get() + ": globalSize " + Arrays.toString(global)
                    + " and localSize " + Arrays.toString(local) + ": expected 1 to 3 dimensions, the same in both");
        }
        long[] out = new long[local.length];
        long groupSize = 1;
        for (int d = 0; d < global.length; d++) {
            if (local[d] < 1 || global[d] < 1) {
                throw new IllegalArgumentException("launch " + kernel.get() + ": dimension " + d + " has global size "
                        + global[d] + " and local size " + local[d] + ", expected both >= 1");
            }
            if (global[d] % local[d] != 0) {
                throw new IllegalArgumentException("launch " + kernel.get() + ": global size " + global[d]
                        + " in dimension " + d + " is not a multiple of local size " + local[d]
                        + "; round the global size up to " + Math.ceilDiv(global[d], local[d]) * local[d]);
            }
            if (d < maxItemSizes.length && local[d] > maxItemSizes[d]) {
                throw new IllegalArgumentException("launch " + kernel.get() + ": local size " + local[d]
                        + " in dimension " + d + " exceeds the device's limit " + maxItemSizes[d]
                        + " (CL_DEVICE_MAX_WORK_ITEM_SIZES)");
            }
            groupSize *= local[d];
            out[d] = local[d];
        }
        if (groupSize > maxGroup) {
            throw new IllegalArgumentException("launch " + kernel.get() + ": work-group of " + groupSize
                    + " work-items (" + Arrays.toString(local) + ") exceeds the limit of " + maxGroup
                    + " for this kernel on this device; use a smaller local size");
        }
        return out;
    }
}
