package io.sparge4j.kernels.tasks;

import io.sparge4j.kernels.enums.DataTransferMode;
import io.sparge4j.kernels.types.arrays.NativeArray;

import java.util.List;
import java.util.Objects;

/**
 * One {@code transferToDevice} or {@code transferToHost} call of a task graph.
 *
 * @param mode a {@link DataTransferMode} constant
 * @param arrays the arrays it moves, in the order given
 */
public record Transfer(int mode, List<NativeArray> arrays) {
    /** Validates the mode and freezes the list. */
    public Transfer {
        DataTransferMode.name(mode);
        arrays = List.copyOf(arrays);
        arrays.forEach(a -> Objects.requireNonNull(a, "array"));
    }

    /** @return e.g. {@code EVERY_EXECUTION [FloatArray[1000], FloatArray[1000]]} */
    @Override
    public String toString() {
        return DataTransferMode.name(mode) + " " + arrays;
    }
}
