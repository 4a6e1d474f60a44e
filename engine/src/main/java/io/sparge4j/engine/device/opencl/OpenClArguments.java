package io.sparge4j.engine.device.opencl;

import io.sparge4j.engine.compute.KernelParameter;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.Supplier;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** Sets a kernel's arguments from the launch's Java values, one per {@link KernelParameter}, by role and type. */
final class OpenClArguments {
    private OpenClArguments() {
    }

    static void set(OpenClRuntime cl, OpenClKernel kernel, List<Object> arguments, OpenClDevice device) {
        List<KernelParameter> parameters = kernel.generated().parameters();
        if (arguments == null || arguments.size() != parameters.size()) {
            throw new IllegalArgumentException("launch " + kernel.generated().javaName() + ": got "
                    + (arguments == null ? "null" : arguments.size()) + " arguments, expected " + parameters.size()
                    + " " + parameters);
        }
        try (Arena arena = Arena.ofConfined()) {
            for (int i = 0; i < parameters.size(); i++) {
                KernelParameter p = parameters.get(i);
                MemorySegment value = encode(arena, kernel, i, p, arguments.get(i), device);
                int index = i;
                cl.setArg(kernel.kernel(), i, value, () -> "kernel " + kernel.generated().javaName() + ", argument "
                        + index + " (" + p.name() + ")");
            }
        }
    }

    private static MemorySegment encode(Arena arena, OpenClKernel kernel, int index, KernelParameter p, Object value,
            OpenClDevice device) {
        // Built only for a message: launches are hot.
        Supplier<String> where = () -> "launch " + kernel.generated().javaName() + ": argument " + index + " ("
                + p.name() + ", " + p.role() + " " + p.type().getSimpleName() + ")";
        return switch (p.role()) {
            case BUFFER -> {
                OpenClBuffer buffer = value instanceof OpenClBuffer b && b.device() == device && !b.closed() ? b
                        : device.own(value, where.get());
                MemorySegment handle = buffer.handle();
                MemorySegment slot = arena.allocate(ADDRESS);
                slot.set(ADDRESS, 0, handle);
                yield slot;
            }
            case BUFFER_SIZE -> arena.allocateFrom(JAVA_INT, expect(value, Integer.class, where));
            case SCALAR -> {
                Class<?> type = p.type();
                if (type == int.class) {
                    yield arena.allocateFrom(JAVA_INT, expect(value, Integer.class, where));
                } else if (type == long.class) {
                    yield arena.allocateFrom(JAVA_LONG, expect(value, Long.class, where));
                } else if (type == float.class) {
                    yield arena.allocateFrom(JAVA_FLOAT, expect(value, Float.class, where));
                } else if (type == double.class) {
                    yield arena.allocateFrom(JAVA_DOUBLE, expect(value, Double.class, where));
                }
                throw new IllegalArgumentException(where.get() + ": scalar type " + type
                        + " is not supported, expected int, long, float or double");
            }
        };
    }

    private static <T> T expect(Object value, Class<T> type, Supplier<String> where) {
        if (!type.isInstance(value)) {
            throw new IllegalArgumentException(where.get() + ": got " + (value == null ? "null"
                    : value.getClass().getSimpleName() + " " + value) + ", expected " + type.getSimpleName());
        }
        return type.cast(value);
    }
}
