package io.sparge4j.kernels;

import java.util.List;
import java.util.Objects;

/**
 * What one task of one execution cost and how it ran.
 *
 * @param taskName {@code "graph.task"}
 * @param kernel the kernel method, {@code Class.method}
 * @param kernelNanos the launch's time on the device clock (wall time on the emulator)
 * @param compileMillis time spent generating and compiling the kernel in this execution; 0 when it was already
 *     loaded by an earlier execution of the plan
 * @param fromCache whether the device binary came from the kernel cache instead of the device compiler
 * @param paths which path each kernel feature took, e.g. {@code "mma: tensor cores"}; {@code ["emulator"]} on the
 *     emulator; empty when the kernel uses no feature with a fallback
 * @param globalWork the launch's global work {x, y, z}
 * @param localWork the launch's work-group size {x, y, z}
 */
public record TaskProfile(String taskName, String kernel, long kernelNanos, double compileMillis, boolean fromCache,
        List<String> paths, long[] globalWork, int[] localWork) {
    /** Validates and freezes. */
    public TaskProfile {
        Objects.requireNonNull(taskName, "taskName");
        Objects.requireNonNull(kernel, "kernel");
        paths = List.copyOf(paths);
        globalWork = globalWork.clone();
        localWork = localWork.clone();
    }

    /** @return the paths joined by {@code "; "}, or {@code "native"} when the kernel needed no fallback */
    public String pathReport() {
        return paths.isEmpty() ? "native" : String.join("; ", paths);
    }
}
