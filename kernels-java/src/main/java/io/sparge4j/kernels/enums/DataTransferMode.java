package io.sparge4j.kernels.enums;

/**
 * How a task graph moves a buffer between host and device, as TornadoVM's {@code DataTransferMode}
 * (int constants, passed to {@code transferToDevice}/{@code transferToHost}).
 */
public final class DataTransferMode {
    /** Copy once, on the first execution; the device copy is then kept (read-only inputs such as weights). */
    public static final int FIRST_EXECUTION = 0;
    /** Copy on every execution. */
    public static final int EVERY_EXECUTION = 1;
    /** Host transfers only: copy back only when the caller asks for it (kept on the device otherwise). */
    public static final int UNDER_DEMAND = 2;

    private DataTransferMode() {
    }

    /**
     * @param mode a mode constant
     * @return its name, e.g. {@code "FIRST_EXECUTION"}
     * @throws IllegalArgumentException if {@code mode} is not one of the constants
     */
    public static String name(int mode) {
        return switch (mode) {
            case FIRST_EXECUTION -> "FIRST_EXECUTION";
            case EVERY_EXECUTION -> "EVERY_EXECUTION";
            case UNDER_DEMAND -> "UNDER_DEMAND";
            default -> throw new IllegalArgumentException("DataTransferMode: mode is " + mode
                    + ", expected FIRST_EXECUTION (0), EVERY_EXECUTION (1) or UNDER_DEMAND (2)");
        };
    }
}
