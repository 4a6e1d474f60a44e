package io.sparge4j.kernels.nn;

import io.sparge4j.kernels.KernelContext;

/**
 * Work-group sums for the row kernels: a shuffle-down tree within each 32-wide sub-group, then the sub-groups'
 * partial sums through a small local array, added in sub-group order so every work-item gets the same,
 * deterministic total. Collective: every work-item of the group must call it, with a group size that is a
 * multiple of {@link #WARP} and at most {@link #MAX_GROUP}.
 */
final class GroupSums {
    /** Sub-group width of every backend ({@code KernelContext.simdGroupSize()}). */
    static final int WARP = 32;
    /** Largest work-group the row kernels take. */
    static final int MAX_GROUP = 1024;
    /** Length of the local array of sub-group partial sums. */
    static final int MAX_WARPS = MAX_GROUP / WARP;

    private GroupSums() {
    }

    /**
     * @param ctx the work-item
     * @param partials a local array of {@link #MAX_WARPS} floats, free for use
     * @param value this work-item's part
     * @return the sum over the work-group, on every work-item
     */
    static float sum(KernelContext ctx, float[] partials, float value) {
        float v = value;
        for (int delta = WARP / 2; delta > 0; delta /= 2) {
            v += ctx.simdShuffleDown(v, delta);
        }
        int lid = ctx.localIdx;
        if (lid % WARP == 0) {
            partials[lid / WARP] = v;
        }
        ctx.localBarrier();
        int warps = (ctx.localGroupSizeX + WARP - 1) / WARP;
        float total = 0f;
        for (int w = 0; w < warps; w++) {
            total += partials[w];
        }
        // a second barrier, so that the next call may overwrite partials while slower work-items still read them
        ctx.localBarrier();
        return total;
    }
}
