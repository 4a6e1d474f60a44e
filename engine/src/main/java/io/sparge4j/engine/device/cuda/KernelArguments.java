package io.sparge4j.engine.device.cuda;

import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelParameter;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.ToLongFunction;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Packs a launch's arguments the way {@code cuLaunchKernel} takes them: an array with one pointer per parameter,
 * each to the argument's value (a {@code CUdeviceptr} for a buffer). The driver copies the values at launch, so
 * the arena may close as soon as the launch call returns.
 */
final class KernelArguments {
    private KernelArguments() {
    }

    /**
     * @param arena where the values and the pointer array live
     * @param kernel the kernel, whose parameters say what each argument is
     * @param arguments one per parameter: a {@link DeviceBuffer} for {@code BUFFER}, an {@link Integer} for
     *     {@code BUFFER_SIZE}, and for {@code SCALAR} the boxed type of the parameter's type
     * @param devicePointer a buffer's {@code CUdeviceptr}; throws when the buffer is closed or foreign
     * @return the {@code void**} array
     * @throws IllegalArgumentException naming the parameter, the value got and what was expected
     */
    static MemorySegment pack(Arena arena, GeneratedKernel kernel, List<Object> arguments,
            ToLongFunction<DeviceBuffer> devicePointer) {
        List<KernelParameter> parameters = kernel.parameters();
        if (arguments == null || arguments.size() != parameters.size()) {
            throw new IllegalArgumentException("launch " + kernel.javaName() + ": got "
                    + (arguments == null ? "null" : arguments.size() + "") + " arguments, expected "
                    + parameters.size() + " (" + parameters.stream().map(KernelParameter::name).toList() + ")");
        }
        MemorySegment pointers = arena.allocate(ADDRESS, Math.max(1, parameters.size()));
        for (int i = 0; i < parameters.size(); i++) {
            pointers.setAtIndex(ADDRESS, i, value(arena, kernel, parameters.get(i), arguments.get(i), devicePointer));
        }
        return pointers;
    }

    private static MemorySegment value(Arena arena, GeneratedKernel kernel, KernelParameter parameter, Object argument,
            ToLongFunction<DeviceBuffer> devicePointer) {
        return switch (parameter.role()) {
            case BUFFER -> {
                if (!(argument instanceof DeviceBuffer buffer)) {
                    throw mismatch(kernel, parameter, argument, "a DeviceBuffer");
                }
                yield arena.allocateFrom(JAVA_LONG, devicePointer.applyAsLong(buffer));
            }
            case BUFFER_SIZE -> {
                if (!(argument instanceof Integer size) || size < 0) {
                    throw mismatch(kernel, parameter, argument, "a non-negative Integer (an element count)");
                }
                yield arena.allocateFrom(JAVA_INT, size);
            }
            case SCALAR -> scalar(arena, kernel, parameter, argument);
        };
    }

    private static MemorySegment scalar(Arena arena, GeneratedKernel kernel, KernelParameter parameter,
            Object argument) {
        Class<?> type = parameter.type();
        if (type == int.class && argument instanceof Integer v) {
            return arena.allocateFrom(JAVA_INT, v);
        }
        if (type == int.class && argument instanceof Boolean v) {
            return arena.allocateFrom(JAVA_INT, v ? 1 : 0);
        }
        if (type == long.class && argument instanceof Long v) {
            return arena.allocateFrom(JAVA_LONG, v);
        }
        if (type == float.class && argument instanceof Float v) {
            return arena.allocateFrom(JAVA_FLOAT, v);
        }
        if (type == double.class && argument instanceof Double v) {
            return arena.allocateFrom(JAVA_DOUBLE, v);
        }
        String expected = type == int.class ? "an Integer (or Boolean)" : type == long.class ? "a Long"
                : type == float.class ? "a Float" : type == double.class ? "a Double" : null;
        if (expected == null) {
            throw new IllegalArgumentException("launch " + kernel.javaName() + ": parameter " + parameter.name()
                    + " is a scalar of type " + type.getName() + ", which the CUDA backend cannot pass; expected "
                    + "int, long, float or double");
        }
        throw mismatch(kernel, parameter, argument, expected);
    }

    private static IllegalArgumentException mismatch(GeneratedKernel kernel, KernelParameter parameter,
            Object argument, String expected) {
        String got = argument == null ? "null" : argument.getClass().getSimpleName() + " " + argument;
        return new IllegalArgumentException("launch " + kernel.javaName() + ": argument for parameter "
                + parameter.name() + " (" + parameter.role() + ", Java parameter " + parameter.javaIndex() + ") is "
                + got + ", expected " + expected);
    }
}
