package io.sparge4j.engine.kernel;

/** Thrown at a barrier of a group that another work-item has already failed; never reported itself. */
final class GroupAbortedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    GroupAbortedException() {
        super("work-group aborted by another work-item's failure", null, false, false);
    }
}
