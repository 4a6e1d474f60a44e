package io.sparge4j.engine.gpu;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.attention.AttentionCastKernels;
import io.sparge4j.kernels.nn.ActivationKernels;
import io.sparge4j.kernels.nn.TensorKernels;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;

/**
 * f32, bf16 and f16 conversions of device tensors, e.g. to give {@link DeviceAttention}'s tensor-core path bf16 or
 * f16 q, k, v made from a model's f32 projections. All keep the shape and run on the device with no host copy.
 */
public final class DeviceCasts {
    private DeviceCasts() {
    }

    /**
     * @param x an f32 tensor, any shape
     * @return a new bf16 tensor of x's values rounded to nearest even (as {@code Tensor.to(DType.BF16)})
     */
    public static DeviceTensor toBFloat16(DeviceTensor x) {
        return narrow("DeviceCasts.toBFloat16", x, DType.BF16);
    }

    /**
     * @param x an f32 tensor, any shape
     * @return a new f16 (IEEE binary16) tensor of x's values rounded to nearest even, subnormals kept and beyond
     *     65504 infinite (as {@code Tensor.to(DType.F16)})
     */
    public static DeviceTensor toFloat16(DeviceTensor x) {
        return narrow("DeviceCasts.toFloat16", x, DType.F16);
    }

    private static DeviceTensor narrow(String name, DeviceTensor x, DType half) {
        Op op = Op.of(name, x);
        FloatArray xa = op.f32("x", x);
        DeviceTensor out = op.session.allocate(half, x.shape());
        addToHalf(op, half == DType.BF16 ? "toBf16" : "toF16", xa, out);
        return Ops.runOrFree(op, out);
    }

    /**
     * @param x a bf16 or f16 tensor, any shape
     * @return a new f32 tensor of x's values (widening is exact)
     */
    public static DeviceTensor toFloat32(DeviceTensor x) {
        Op op = Op.of("DeviceCasts.toFloat32", x);
        if (x.dtype() != DType.BF16 && x.dtype() != DType.F16) {
            throw op.fail("x", x.dtype(), "a BF16 or F16 device tensor");
        }
        op.array("x", x, x.dtype());   // open and of this session, before anything is allocated
        DeviceTensor out = op.session.allocate(DType.F32, x.shape());
        addToFloat32(op, "toF32", "x", x, (FloatArray) out.array());
        return Ops.runOrFree(op, out);
    }

    /** Adds task {@code id} rounding src to dst's dtype (bf16 or f16, dst's element count) to the op's graph. */
    static void addToHalf(Op op, String id, FloatArray src, DeviceTensor dst) {
        int n = (int) dst.numel();
        if (dst.dtype() == DType.F16) {
            op.graph.task(id, TensorKernels::toFloat16, new KernelContext(), src, (HalfFloatArray) dst.array(), n);
        } else {
            op.graph.task(id, TensorKernels::toBFloat16, new KernelContext(), src, (BFloat16Array) dst.array(), n);
        }
        op.grid(id, ActivationKernels.grid(n));
    }

    /** Adds task {@code id} widening the bf16 or f16 src (argument {@code arg} of the op) to f32 in dst. */
    static void addToFloat32(Op op, String id, String arg, DeviceTensor src, FloatArray dst) {
        int n = (int) src.numel();
        if (src.dtype() == DType.F16) {
            op.graph.task(id, AttentionCastKernels::halfToFloat, new KernelContext(),
                    (HalfFloatArray) op.array(arg, src, DType.F16), dst, n);
        } else {
            op.graph.task(id, AttentionCastKernels::toFloat, new KernelContext(),
                    (BFloat16Array) op.array(arg, src, DType.BF16), dst, n);
        }
        op.grid(id, ActivationKernels.grid(n));
    }
}
