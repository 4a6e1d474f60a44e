package io.sparge4j.engine.compute;

import java.util.Objects;

/**
 * One parameter of a generated kernel, in the generated signature's order.
 *
 * @param name the parameter's name in the source
 * @param role what the launcher passes for it
 * @param javaIndex index of the Java kernel method's parameter it comes from (the {@code KernelContext} is
 *     index 0 of a context kernel and has no generated parameter)
 * @param type what is passed: a buffer's element type ({@code float.class} for {@code FloatArray},
 *     {@code short.class} for half and bf16 arrays, {@code int.class}, {@code long.class}, {@code double.class},
 *     {@code byte.class}), or a scalar's type ({@code int.class}, {@code long.class}, {@code float.class},
 *     {@code double.class}; booleans pass as {@code int.class})
 */
public record KernelParameter(String name, Role role, int javaIndex, Class<?> type) {
    /** What a parameter carries. */
    public enum Role {
        /** A device buffer: the array argument at {@code javaIndex}. */
        BUFFER,
        /** An int: the element count of the array argument at {@code javaIndex} (for {@code getSize()}). */
        BUFFER_SIZE,
        /** The scalar argument at {@code javaIndex}, by value. */
        SCALAR
    }

    /** Validates. */
    public KernelParameter {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(type, "type");
    }
}
