package io.sparge4j.kernels.tasks;

import java.io.Serializable;

/**
 * What every {@code TaskN} interface is: a serializable reference to a static kernel method. The executor reads
 * the lambda's {@link java.lang.invoke.SerializedLambda} to find the method (its class, name and descriptor).
 */
public interface KernelTask extends Serializable {
}
