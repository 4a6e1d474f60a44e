package io.sparge4j.kernels.annotations;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * A register budget for a kernel: the compiler may give each work-item as many registers as still let
 * {@link #minWorkItemsPerComputeUnit} work-items run at once on one compute unit, in whole work-groups of the launch's
 * size (CUDA's {@code __launch_bounds__(groupSize, max(1, minWorkItems / groupSize))}). Without it NVIDIA's
 * compiler aims at full occupancy; for a streaming kernel that means 32 registers on sm_90 with 128-work-item groups,
 * and then it issues a work-item's loads a few at a time between the adds that consume them instead of all at once.
 * Not in TornadoVM. OpenCL has no such hint (the annotation is ignored there), nor does the emulator.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
public @interface LaunchBounds {
    /** @return work-items that must fit on one compute unit at once, at least 1 */
    int minWorkItemsPerComputeUnit();
}
