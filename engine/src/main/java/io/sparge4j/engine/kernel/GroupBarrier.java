package io.sparge4j.engine.kernel;

import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A reusable barrier for the work-items of a group or sub-group that can be broken for good, so that a failing
 * or early-returning work-item never leaves the others waiting. Lock-based, so waiting virtual threads unmount.
 */
final class GroupBarrier {
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition tripped = lock.newCondition();
    private final int parties;
    private final String scope;
    private final GroupProgress progress;
    private int waiting;
    private int exited;
    private long generation;
    private boolean broken;

    GroupBarrier(int parties, String scope, GroupProgress progress) {
        this.parties = parties;
        this.scope = scope;
        this.progress = progress;
    }

    /**
     * Waits for all parties.
     *
     * @throws GroupAbortedException if the barrier is broken
     * @throws IllegalStateException if a party has already returned, or no work-item of the group can make
     *     progress (barrier divergence)
     */
    void await(String operation) {
        lock.lock();
        try {
            if (broken) {
                throw new GroupAbortedException();
            }
            if (exited > 0) {
                breakLocked();
                throw new IllegalStateException(operation + " reached after " + exited + " work-item(s) of the "
                        + scope + " returned: every work-item must reach every barrier");
            }
            long arrival = generation;
            if (++waiting == parties) {
                progress.release(parties - 1);
                waiting = 0;
                generation++;
                tripped.signalAll();
                return;
            }
            if (progress.block()) {
                breakLocked();
                throw new IllegalStateException(operation + " would wait forever: every work-item of the group waits"
                        + " at a barrier or has returned, but not all at the same one; every work-item must reach"
                        + " every barrier (and a sub-group's lanes every sub-group operation) in the same order");
            }
            while (arrival == generation && !broken) {
                tripped.awaitUninterruptibly();
            }
            if (arrival == generation) {
                throw new GroupAbortedException();
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Records that a party returned from the kernel.
     *
     * @return how many parties were left waiting (and are now released by breaking the barrier), 0 if none
     */
    int exit() {
        lock.lock();
        try {
            exited++;
            if (waiting > 0 && !broken) {
                int left = waiting;
                breakLocked();
                return left;
            }
            return 0;
        } finally {
            lock.unlock();
        }
    }

    /** Breaks the barrier for good: current and later waiters get {@link GroupAbortedException}. */
    void breakBarrier() {
        lock.lock();
        try {
            breakLocked();
        } finally {
            lock.unlock();
        }
    }

    private void breakLocked() {
        broken = true;
        tripped.signalAll();
    }
}
