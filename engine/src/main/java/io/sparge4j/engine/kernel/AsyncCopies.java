package io.sparge4j.engine.kernel;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.types.arrays.IntArray;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * One work-item's {@link KernelContext#asyncCopy16} copies on the emulator, performed as late as PTX allows: a copy
 * joins the open group, {@link #commit} closes it, and {@link #waitFor} performs the oldest committed groups until
 * at most the given number remain. A kernel that reads a local tile before waiting for its copy (or before the
 * barrier after the wait) then reads stale data here as it might on a GPU, and its test fails.
 */
final class AsyncCopies {
    /** One pending copy: its source is read when it is performed, as inputs do not change during a launch. */
    private record Copy(int[] local, int localIndex, IntArray global, int globalIndex, int validInts) {
        void perform() {
            for (int e = 0; e < KernelContext.ASYNC_COPY_INTS; e++) {
                local[localIndex + e] = e < validInts ? global.get(globalIndex + e) : 0;
            }
        }
    }

    private List<Copy> open = new ArrayList<>();
    private final Deque<List<Copy>> committed = new ArrayDeque<>();

    /** Queues a copy after checking what the device would require of it (alignment, ranges). */
    void copy(int[] local, int localIndex, IntArray global, int globalIndex, int validInts) {
        int n = KernelContext.ASYNC_COPY_INTS;
        if (validInts < 0 || validInts > n) {
            throw new IllegalArgumentException("asyncCopy16: validInts is " + validInts + ", expected 0 to " + n);
        }
        if (localIndex % n != 0 || localIndex < 0 || localIndex + n > local.length) {
            throw new IllegalArgumentException("asyncCopy16: localIndex is " + localIndex + " in a local array of "
                    + local.length + " ints, expected a multiple of " + n + " with " + n + " ints inside (16-byte"
                    + " aligned copies)");
        }
        if (globalIndex % n != 0) {
            throw new IllegalArgumentException("asyncCopy16: globalIndex is " + globalIndex + ", expected a multiple"
                    + " of " + n + " (16-byte aligned copies)");
        }
        if (validInts > 0 && (globalIndex < 0 || globalIndex + validInts > global.getSize())) {
            throw new IndexOutOfBoundsException("asyncCopy16: ints " + globalIndex + " .. " + (globalIndex
                    + validInts - 1) + " out of bounds for an IntArray of size " + global.getSize());
        }
        open.add(new Copy(local, localIndex, global, globalIndex, validInts));
    }

    void commit() {
        committed.addLast(open);
        open = new ArrayList<>();
    }

    void waitFor(int pendingGroups) {
        if (pendingGroups < 0) {
            throw new IllegalArgumentException("asyncWait: pendingGroups is " + pendingGroups + ", expected >= 0");
        }
        while (committed.size() > pendingGroups) {
            for (Copy c : committed.removeFirst()) {
                c.perform();
            }
        }
    }
}
