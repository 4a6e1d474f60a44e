package io.sparge4j.kernels.annotations;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks the induction variable of a loop whose iterations are independent, as TornadoVM's {@code @Parallel}:
 * {@code for (@Parallel int i = 0; i < n; i++)}. Up to three nested loops form a 1D/2D/3D range.
 *
 * <p>On the JVM a loop-style kernel is plain sequential Java and needs no emulator; the annotation only tells
 * the kernel JIT which loops become work-item dimensions. As a {@code TYPE_USE} annotation on a local it is
 * kept in the method's {@code RuntimeVisibleTypeAnnotations}, with the variable's bytecode range, which is
 * where the JIT finds it.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target({ElementType.LOCAL_VARIABLE, ElementType.TYPE_USE})
public @interface Parallel {
}
