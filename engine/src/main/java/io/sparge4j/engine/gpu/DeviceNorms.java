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
        op.grid("layerNorm", NormKernels.rowGrid(rows, cols));
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
        op.grid("rmsNorm", NormKernels.rowGrid(rows, cols));
        return Ops.runOrFree(op, y, rstd);
    }

    /**
     * The gradients of a norm; closing closes all three.
     *
     * @param dx gradient with respect to the input, shaped like it
     * @param dWeight gradient with respect to the weight (D), or null if there was no weight
     * @param dBias gradient with respect to the bias (D), or null if there was no bias
     */
    public record Grads(DeviceTensor dx, DeviceTensor dWeight, DeviceTensor dBias) implements AutoCloseable {
        @Override
        public void close() {
            dx.close();
            if (dWeight != null) {
                dWeight.close();
            }
            if (dBias != null) {
                dBias.close();
            }
        }
    }

    /**
     * The backward of {@link #layerNorm}, as {@code Norms.layerNormBackward}: the row statistics are recomputed.
     *
     * @param dy upstream gradient, shaped like x
     * @param x the forward input
     * @param weight the forward weight, or null
     * @param bias the forward bias, or null (only whether it is present matters)
     * @param eps the forward eps
     * @return dx, dWeight (null without weight), dBias (null without bias)
     */
    public static Grads layerNormBackward(DeviceTensor dy, DeviceTensor x, DeviceTensor weight, DeviceTensor bias,
            float eps) {
        Op op = Op.of("DeviceNorms.layerNormBackward", dy);
        FloatArray dya = op.f32("dy", dy);
        FloatArray xa = op.f32("x", x);
        int cols = op.lastDim("x", x);
        op.shape("dy", dy, x.shape());
        checkEps(op, eps);
        FloatArray wa = optional(op, "weight", weight, cols, xa);
        FloatArray ba = optional(op, "bias", bias, cols, xa);
        int rows = (int) (x.numel() / cols);
        int affine = (weight != null ? NormKernels.HAS_WEIGHT : 0) | (bias != null ? NormKernels.HAS_BIAS : 0);
        DeviceTensor y = op.session.allocate(DType.F32, x.shape());
        DeviceTensor stats = op.session.allocate(DType.F32, rows, 2);
        DeviceTensor dx = op.session.allocate(DType.F32, x.shape());
        DeviceTensor dw = weight != null ? op.session.allocate(DType.F32, cols) : null;
        DeviceTensor db = bias != null ? op.session.allocate(DType.F32, cols) : null;
        boolean params = weight != null || bias != null;
        DeviceTensor pw = params ? ColumnSums.partials(op, 1, rows, cols) : null;
        DeviceTensor pb = params ? ColumnSums.partials(op, 1, rows, cols) : null;
        op.graph.task("stats", NormKernels::layerNorm, new KernelContext(), xa, wa, ba, (FloatArray) y.array(),
                (FloatArray) stats.array(), rows, cols, eps, affine);
        op.grid("stats", NormKernels.rowGrid(rows, cols));
        op.graph.task("dx", NormKernels::layerNormBackward, new KernelContext(), dya, xa, wa,
                (FloatArray) stats.array(), (FloatArray) dx.array(), rows, cols, affine);
        op.grid("dx", NormKernels.rowGrid(rows, cols));
        if (params) {
            op.graph.task("partials", NormKernels::layerNormParamPartials, new KernelContext(), dya, xa,
                    (FloatArray) stats.array(), (FloatArray) pw.array(), (FloatArray) pb.array(), rows, cols,
                    ColumnSums.CHUNK_ROWS);
            op.grid("partials", NormKernels.partialsGrid(cols, ColumnSums.chunks(rows)));
            if (dw != null) {
                ColumnSums.sum(op, "dWeight", pw, dw, cols, 1, rows);
            }
            if (db != null) {
                ColumnSums.sum(op, "dBias", pb, db, cols, 1, rows);
            }
        }
        return runGrads(op, new Grads(dx, dw, db), y, stats, pw, pb);
    }

    /**
     * The backward of {@link #rmsNorm}, as {@code Norms.rmsNormBackward}: the row statistics are recomputed.
     *
     * @param dy upstream gradient, shaped like x
     * @param x the forward input
     * @param weight the forward weight, or null
     * @param eps the forward eps
     * @return dx, dWeight (null without weight), and a null dBias
     */
    public static Grads rmsNormBackward(DeviceTensor dy, DeviceTensor x, DeviceTensor weight, float eps) {
        Op op = Op.of("DeviceNorms.rmsNormBackward", dy);
        FloatArray dya = op.f32("dy", dy);
        FloatArray xa = op.f32("x", x);
        int cols = op.lastDim("x", x);
        op.shape("dy", dy, x.shape());
        checkEps(op, eps);
        FloatArray wa = optional(op, "weight", weight, cols, xa);
        int rows = (int) (x.numel() / cols);
        int hasWeight = weight != null ? 1 : 0;
        DeviceTensor y = op.session.allocate(DType.F32, x.shape());
        DeviceTensor rstd = op.session.allocate(DType.F32, rows);
        DeviceTensor dx = op.session.allocate(DType.F32, x.shape());
        DeviceTensor dw = weight != null ? op.session.allocate(DType.F32, cols) : null;
        DeviceTensor pw = weight != null ? ColumnSums.partials(op, 1, rows, cols) : null;
        op.graph.task("rstd", NormKernels::rmsNorm, new KernelContext(), xa, wa, (FloatArray) y.array(),
                (FloatArray) rstd.array(), rows, cols, eps, hasWeight);
        op.grid("rstd", NormKernels.rowGrid(rows, cols));
        op.graph.task("dx", NormKernels::rmsNormBackward, new KernelContext(), dya, xa, wa,
                (FloatArray) rstd.array(), (FloatArray) dx.array(), rows, cols, hasWeight);
        op.grid("dx", NormKernels.rowGrid(rows, cols));
        if (dw != null) {
            op.graph.task("partials", NormKernels::rmsNormParamPartials, new KernelContext(), dya, xa,
                    (FloatArray) rstd.array(), (FloatArray) pw.array(), rows, cols, ColumnSums.CHUNK_ROWS);
            op.grid("partials", NormKernels.partialsGrid(cols, ColumnSums.chunks(rows)));
            ColumnSums.sum(op, "dWeight", pw, dw, cols, 1, rows);
        }
        return runGrads(op, new Grads(dx, dw, null), y, rstd, pw);
    }

    private static Grads runGrads(Op op, Grads grads, DeviceTensor... temporaries) {
        try {
            op.run();
            return grads;
        } catch (RuntimeException e) {
            grads.close();
            throw e;
        } finally {
            for (DeviceTensor t : temporaries) {
                if (t != null) {
                    t.close();
                }
            }
        }
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
