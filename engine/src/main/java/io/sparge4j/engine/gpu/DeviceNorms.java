package io.sparge4j.engine.gpu;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.nn.NormKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;

/**
 * LayerNorm and RMSNorm over the last dimension on the device, as {@code io.sparge4j.engine.ops.Norms} computes
 * them (f32 statistics, two-pass mean and biased variance), through {@link NormKernels}: one work-group per row.
 */
public final class DeviceNorms {
    private DeviceNorms() {
    }

    /**
     * @param x f32 (..., D)
     * @param weight f32 (D), or null for no scaling (Wan's non-affine LayerNorm)
     * @param bias f32 (D), or null for no shift
     * @param eps added to the variance, at least 0 (Wan uses 1e-6)
     * @return a new tensor shaped like x
     */
    public static DeviceTensor layerNorm(DeviceTensor x, DeviceTensor weight, DeviceTensor bias, float eps) {
        Op op = Op.of("DeviceNorms.layerNorm", x);
        FloatArray xa = op.f32("x", x);
        int cols = op.lastDim("x", x);
        checkEps(op, eps);
        FloatArray wa = optional(op, "weight", weight, cols, xa);
        FloatArray ba = optional(op, "bias", bias, cols, xa);
        int rows = (int) (x.numel() / cols);
        int affine = (weight != null ? NormKernels.HAS_WEIGHT : 0) | (bias != null ? NormKernels.HAS_BIAS : 0);
        DeviceTensor y = op.session.allocate(DType.F32, x.shape());
        DeviceTensor stats = op.session.allocate(DType.F32, rows, 2);
        op.graph.task("layerNorm", NormKernels::layerNorm, new KernelContext(), xa, wa, ba, (FloatArray) y.array(),
                (FloatArray) stats.array(), rows, cols, eps, affine);
        op.grid("layerNorm", NormKernels.rowGrid(rows));
        return Ops.runOrFree(op, y, stats);
    }

    /**
     * @param x f32 (..., D)
     * @param weight f32 (D), or null for no scaling
     * @param eps added to the mean square, at least 0 (Wan uses 1e-6)
     * @return a new tensor shaped like x
     */
    public static DeviceTensor rmsNorm(DeviceTensor x, DeviceTensor weight, float eps) {
        Op op = Op.of("DeviceNorms.rmsNorm", x);
        FloatArray xa = op.f32("x", x);
        int cols = op.lastDim("x", x);
        checkEps(op, eps);
        FloatArray wa = optional(op, "weight", weight, cols, xa);
        int rows = (int) (x.numel() / cols);
        DeviceTensor y = op.session.allocate(DType.F32, x.shape());
        DeviceTensor rstd = op.session.allocate(DType.F32, rows);
        op.graph.task("rmsNorm", NormKernels::rmsNorm, new KernelContext(), xa, wa, (FloatArray) y.array(),
                (FloatArray) rstd.array(), rows, cols, eps, weight != null ? 1 : 0);
        op.grid("rmsNorm", NormKernels.rowGrid(rows));
        return Ops.runOrFree(op, y, rstd);
    }

    private static void checkEps(Op op, float eps) {
        if (!(eps >= 0) || Float.isInfinite(eps)) {
            throw op.fail("eps", eps, "a finite number >= 0");
        }
    }

    /** A (D) parameter's array, or the placeholder (not read by the kernel) when it is absent. */
    private static FloatArray optional(Op op, String arg, DeviceTensor t, int cols, FloatArray placeholder) {
        if (t == null) {
            return placeholder;
        }
        FloatArray a = op.f32(arg, t);
        op.shape(arg, t, cols);
        return a;
    }
}
