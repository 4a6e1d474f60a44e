package io.sparge4j.engine.kernel;

import io.sparge4j.kernels.KernelContext;

import java.io.Serializable;

/**
 * A {@link KernelContext} kernel bound to its arguments, e.g.
 * {@code ctx -> PortabilityKernels.saxpy(ctx, alpha, x, y, n)}. Serializable so that the kernel JIT can find
 * the lambda's implementation (through its {@code SerializedLambda}) and read the called kernel's bytecode.
 */
@FunctionalInterface
public interface KernelContextTask extends Serializable {
    /**
     * Runs the kernel body for one work-item.
     *
     * @param context the work-item's context
     */
    void apply(KernelContext context);
}
