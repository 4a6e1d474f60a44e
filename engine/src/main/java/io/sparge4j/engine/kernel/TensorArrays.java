package io.sparge4j.engine.kernel;

import io.sparge4j.engine.ops.Check;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.ByteArray;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

/**
 * Engine tensors as kernel arrays, without copying: the array is a flat view of the tensor's (contiguous,
 * row-major) memory. The view is valid while the tensor is open; tensors of 2^31 elements or more must be
 * split first.
 */
public final class TensorArrays {
    private TensorArrays() {
    }

    /**
     * @param t an f32 tensor
     * @return a view of its elements
     */
    public static FloatArray floatArray(Tensor t) {
        return FloatArray.fromSegmentShallow(Check.f32("TensorArrays.floatArray", "t", t).segment());
    }

    /**
     * @param t an f16 tensor
     * @return a view of its elements
     */
    public static HalfFloatArray halfFloatArray(Tensor t) {
        return HalfFloatArray.fromSegmentShallow(
                Check.dtype("TensorArrays.halfFloatArray", "t", t, DType.F16).segment());
    }

    /**
     * @param t a bf16 tensor
     * @return a view of its elements
     */
    public static BFloat16Array bfloat16Array(Tensor t) {
        return BFloat16Array.fromSegmentShallow(
                Check.dtype("TensorArrays.bfloat16Array", "t", t, DType.BF16).segment());
    }

    /**
     * @param t an i32 tensor
     * @return a view of its elements
     */
    public static IntArray intArray(Tensor t) {
        return IntArray.fromSegmentShallow(Check.dtype("TensorArrays.intArray", "t", t, DType.I32).segment());
    }

    /**
     * @param t a u8 or bool tensor
     * @return a view of its bytes
     */
    public static ByteArray byteArray(Tensor t) {
        Check.notNull("TensorArrays.byteArray", "t", t);
        Check.that(t.dtype() == DType.U8 || t.dtype() == DType.BOOL, "TensorArrays.byteArray", "t dtype", t.dtype(),
                "u8 or bool");
        return ByteArray.fromSegmentShallow(t.segment());
    }
}
