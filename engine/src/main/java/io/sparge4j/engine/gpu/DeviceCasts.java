package io.sparge4j.engine.gpu;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.attention.AttentionCastKernels;
import io.sparge4j.kernels.nn.ActivationKernels;
import io.sparge4j.kernels.nn.TensorKernels;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;

/**
 * f32 and bf16 conversions of device tensors, e.g. to give {@link DeviceAttention}'s tensor-core path bf16 q, k, v
 * made from a model's f32 projections. Both keep the shape and run on the device with no host copy.
 */
public final class DeviceCasts {
    private DeviceCasts() {
    }

    /**
     * @param x an f32 tensor, any shape
     * @return a new bf16 tensor of x's values rounded to nearest even (as {@code Tensor.to(DType.BF16)})
     */
    public static DeviceTensor toBFloat16(DeviceTensor x) {
        Op op = Op.of("DeviceCasts.toBFloat16", x);
        FloatArray xa = op.f32("x", x);
        DeviceTensor out = op.session.allocate(DType.BF16, x.shape());
        addToBFloat16(op, "toBf16", xa, (BFloat16Array) out.array(), (int) x.numel());
        return Ops.runOrFree(op, out);
    }

    /**
     * @param x a bf16 tensor, any shape
     * @return a new f32 tensor of x's values (widening is exact)
     */
    public static DeviceTensor toFloat32(DeviceTensor x) {
        Op op = Op.of("DeviceCasts.toFloat32", x);
        BFloat16Array xa = (BFloat16Array) op.array("x", x, DType.BF16);
        DeviceTensor out = op.session.allocate(DType.F32, x.shape());
        addToFloat32(op, "toF32", xa, (FloatArray) out.array(), (int) x.numel());
        return Ops.runOrFree(op, out);
    }

    /** Adds task {@code id} rounding {@code n} floats of src to bf16 in dst to the op's graph. */
    static void addToBFloat16(Op op, String id, FloatArray src, BFloat16Array dst, int n) {
        op.graph.task(id, TensorKernels::toBFloat16, new KernelContext(), src, dst, n);
        op.grid(id, ActivationKernels.grid(n));
    }

    /** Adds task {@code id} widening {@code n} bf16 values of src to f32 in dst to the op's graph. */
    static void addToFloat32(Op op, String id, BFloat16Array src, FloatArray dst, int n) {
        op.graph.task(id, AttentionCastKernels::toFloat, new KernelContext(), src, dst, n);
        op.grid(id, ActivationKernels.grid(n));
    }
}
