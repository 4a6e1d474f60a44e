package io.sparge4j.engine.kernel;

/**
 * Counts a work-group's work-items that wait at a barrier or have returned, so that a group in which every
 * work-item waits, but at barriers that cannot complete (work-items at different barriers), is detected and
 * failed instead of hanging. One lock for all counts keeps the snapshot consistent.
 */
final class GroupProgress {
    private final int size;
    private int blocked;
    private int exited;

    GroupProgress(int size) {
        this.size = size;
    }

    /** Records that the caller is about to wait; @return true if now no work-item can make progress */
    synchronized boolean block() {
        blocked++;
        return blocked + exited == size;
    }

    /** Records that a barrier released {@code count} waiting work-items (called by the work-item that tripped it). */
    synchronized void release(int count) {
        blocked -= count;
    }

    /** Records that a work-item returned; @return how many work-items are left waiting if none can progress */
    synchronized int exit() {
        exited++;
        return blocked > 0 && blocked + exited == size ? blocked : 0;
    }
}
