package io.sparge4j.kernels.annotations;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * A register budget for a kernel: the compiler may give each work-item as many registers as still let
 * {@link #minWorkItemsPerComputeUnit} work-items run at once on one compute unit, in whole work-groups of the launch's
 * size (CUDA's {@code __launch_bounds__(groupSize, max(1, minWorkItems / groupSize))}): a cap that keeps that many
 * groups resident, e.g. the fused mask selection's 80 registers for three 256-work-item groups per multiprocessor.
 * Raising the budget of a streaming kernel so that more loads are in flight measured slower on an H100 (the mask
 * pooling, session 19), so measure before using it that way. Not in TornadoVM. OpenCL has no such hint (the
 * annotation is ignored there), nor does the emulator.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
public @interface LaunchBounds {
    /** @return work-items that must fit on one compute unit at once, at least 1 */
    int minWorkItemsPerComputeUnit();
}
