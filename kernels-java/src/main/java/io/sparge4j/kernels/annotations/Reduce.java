package io.sparge4j.kernels.annotations;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a loop-style kernel's output parameter (or local) as the target of a {@code + * min max} reduction
 * over a {@link Parallel} loop, as TornadoVM's {@code @Reduce}. On the JVM the loop runs sequentially.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target({ElementType.PARAMETER, ElementType.LOCAL_VARIABLE, ElementType.TYPE_USE})
public @interface Reduce {
}
