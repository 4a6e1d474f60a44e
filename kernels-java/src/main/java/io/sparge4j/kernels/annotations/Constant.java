package io.sparge4j.kernels.annotations;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks an int (or long, float, boolean) kernel parameter as a specialisation constant: the JIT folds the value of
 * each launch into the generated source, so loops bounded by it can unroll and private arrays sized by it
 * fit in registers. Each distinct value compiles (and caches) its own kernel. The emulator ignores it.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.PARAMETER)
public @interface Constant {
}
