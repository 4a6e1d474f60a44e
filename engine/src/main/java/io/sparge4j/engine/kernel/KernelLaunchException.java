package io.sparge4j.engine.kernel;

import java.util.Arrays;

/** A kernel launch failed because a work-item threw; names the work-item and carries its exception. */
public final class KernelLaunchException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int[] groupId;
    private final int[] localId;
    private final int[] globalId;

    KernelLaunchException(int[] groupId, int[] localId, int[] globalId, Throwable cause) {
        super("kernel failed in work-item local " + Arrays.toString(localId) + " of group "
                + Arrays.toString(groupId) + " (global " + Arrays.toString(globalId) + "): " + cause, cause);
        this.groupId = groupId.clone();
        this.localId = localId.clone();
        this.globalId = globalId.clone();
    }

    /** @return the failing work-item's group id {x, y, z} */
    public int[] groupId() {
        return groupId.clone();
    }

    /** @return the failing work-item's local id {x, y, z} */
    public int[] localId() {
        return localId.clone();
    }

    /** @return the failing work-item's global id {x, y, z} */
    public int[] globalId() {
        return globalId.clone();
    }
}
