package io.sparge4j.engine.kernel;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/** The state one work-group's work-items share: its barriers, local arrays and the sub-group exchange. */
final class WorkGroup {
    final int[] groupId;
    final int size;
    final int subGroupWidth;
    final GroupProgress progress;
    final GroupBarrier barrier;
    final GroupBarrier[] subBarriers;
    final float[][] exchange;
    /** Each lane's A and B fragment arrays during a fragment-level MMA, per sub-group. */
    final short[][][] mmaA;
    final short[][][] mmaB;
    private final List<Object> localArrays = new ArrayList<>();
    private final List<String> localNames = new ArrayList<>();

    WorkGroup(int[] groupId, int size, int subGroupWidth) {
        this.groupId = groupId;
        this.size = size;
        this.subGroupWidth = subGroupWidth;
        this.progress = new GroupProgress(size);
        this.barrier = new GroupBarrier(size, "work-group", progress);
        int count = (size + subGroupWidth - 1) / subGroupWidth;
        this.subBarriers = new GroupBarrier[count];
        this.exchange = new float[count][];
        this.mmaA = new short[count][][];
        this.mmaB = new short[count][][];
        for (int s = 0; s < count; s++) {
            int lanes = subGroupLanes(s);
            subBarriers[s] = new GroupBarrier(lanes, "sub-group", progress);
            exchange[s] = new float[lanes];
            mmaA[s] = new short[lanes][];
            mmaB[s] = new short[lanes][];
        }
    }

    /** @return the number of work-items in sub-group {@code s} (the last may be partial) */
    int subGroupLanes(int s) {
        return Math.min(subGroupWidth, size - s * subGroupWidth);
    }

    /**
     * The group's {@code index}-th local array: created by the first work-item that asks, returned to the others,
     * which must ask for the same type and size.
     */
    synchronized <T> T localArray(int index, String type, int length, IntFunction<T> create) {
        String name = type + "[" + length + "]";
        if (index < localArrays.size()) {
            if (!localNames.get(index).equals(name)) {
                throw new IllegalStateException("local allocation #" + index + " is " + name
                        + " here but " + localNames.get(index)
                        + " in another work-item: every work-item must allocate the same local arrays in the same order");
            }
            @SuppressWarnings("unchecked")
            T existing = (T) localArrays.get(index);
            return existing;
        }
        T created = create.apply(length);
        localArrays.add(created);
        localNames.add(name);
        return created;
    }

    /** Releases every work-item waiting at any of the group's barriers. */
    void abort() {
        barrier.breakBarrier();
        for (GroupBarrier b : subBarriers) {
            b.breakBarrier();
        }
    }
}
