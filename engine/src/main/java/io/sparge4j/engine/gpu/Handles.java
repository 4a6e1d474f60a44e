package io.sparge4j.engine.gpu;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;
import io.sparge4j.kernels.types.arrays.NativeArray;

import java.lang.foreign.MemorySegment;

/**
 * Kernel arrays that stand for device buffers in task arguments: the launcher needs an array's identity (to find
 * its buffer) and its element count, never its host memory. A handle is therefore a header over a segment of the
 * right length at address 0, which costs no host memory; it must never be read or written on the host (nothing in
 * this package does: data moves only between {@link io.sparge4j.engine.tensor.Tensor}s and device buffers).
 */
final class Handles {
    private Handles() {
    }

    static NativeArray of(DType dtype, int elements) {
        return switch (dtype) {
            case F32 -> FloatArray.fromSegmentShallow(phantom(4L * elements));
            case BF16 -> BFloat16Array.fromSegmentShallow(phantom(2L * elements));
            case F16 -> HalfFloatArray.fromSegmentShallow(phantom(2L * elements));
            case I32 -> IntArray.fromSegmentShallow(phantom(4L * elements));
            default -> throw new IllegalArgumentException("dtype: got " + dtype
                    + ", expected F32, BF16, F16 or I32 for a device tensor");
        };
    }

    /** An int view of a bf16 or f16 array's bytes: element p holds elements 2p (low half) and 2p + 1. */
    static IntArray intPairs(int halfElements) {
        return IntArray.fromSegmentShallow(phantom(2L * halfElements));
    }

    private static MemorySegment phantom(long bytes) {
        return MemorySegment.NULL.reinterpret(bytes);
    }
}
