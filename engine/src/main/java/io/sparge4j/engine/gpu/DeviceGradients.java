package io.sparge4j.engine.gpu;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.nn.ActivationKernels;
import io.sparge4j.kernels.nn.ColumnSumKernels;
import io.sparge4j.kernels.nn.TensorKernels;
import io.sparge4j.kernels.nn.TrainingKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;

import java.util.Arrays;
import java.util.List;

/**
 * What a training step does to gradients on the device besides computing them, through {@link TrainingKernels}:
 * accumulation in place ({@link #accumulate}, so micro-batches add up without new tensors), the squared global
 * norm over many tensors ({@link #sumOfSquares}, deterministic, left on the device) and
 * {@code torch.nn.utils.clip_grad_norm_}'s scaling driven by that device value ({@link #clipByNorm}), so clipping
 * needs no read back.
 */
public final class DeviceGradients {
    private DeviceGradients() {
    }

    /**
     * {@code y += alpha * x} in place, one fused multiply-add per element.
     *
     * @param alpha the factor of x
     * @param x f32, shaped like y (or with y's element count)
     * @param y f32 accumulator, updated
     */
    public static void accumulate(float alpha, DeviceTensor x, DeviceTensor y) {
        Op op = Op.of("DeviceGradients.accumulate", y);
        FloatArray ya = op.f32("y", y);
        FloatArray xa = op.f32("x", x);
        if (x.numel() != y.numel()) {
            throw op.fail("x's shape", Arrays.toString(x.shape()), "y's element count " + y.numel() + " (y "
                    + Arrays.toString(y.shape()) + ")");
        }
        int n = (int) y.numel();
        op.graph.task("axpy", TrainingKernels::axpy, new KernelContext(), xa, ya, alpha, n);
        op.grid("axpy", ActivationKernels.grid(Math.max(1, n)));
        op.run();
    }

    /**
     * The sum over the first axis, {@code x.sum(0)}: for example a per-sample gradient of a batch, (B, ...), summed
     * into the gradient of a parameter the batch shares. Deterministic: rows are added in order within chunks of
     * 64, and the chunks in order.
     *
     * @param x f32 (R, ...), rank at least 2
     * @return a new tensor shaped like x without its first axis, owned by the caller
     */
    public static DeviceTensor sumRows(DeviceTensor x) {
        Op op = Op.of("DeviceGradients.sumRows", x);
        FloatArray xa = op.f32("x", x);
        if (x.rank() < 2 || x.numel() == 0) {
            throw op.fail("x's shape", Arrays.toString(x.shape()), "(R, ...) of rank at least 2, no zero dimension");
        }
        int rows = x.dim(0);
        int cols = (int) (x.numel() / rows);
        DeviceTensor out = op.session.allocate(DType.F32, Arrays.copyOfRange(x.shape(), 1, x.rank()));
        DeviceTensor partial = ColumnSums.addRowSum(op, "sum", xa, out, cols, rows);
        return Ops.runOrFree(op, out, partial);
    }

    /**
     * Sums of consecutive groups of rows, {@code x.reshape(groups, R / groups, cols).sum(1)}: for example each clip's
     * rows of a batch laid out clip after clip. Deterministic as {@link #sumRows}: within a group, rows in order in
     * chunks of 64, and the chunks in order.
     *
     * @param x f32 (R, cols), R a positive multiple of groups
     * @param groups how many groups, at least 1
     * @return a new f32 tensor (groups, cols), owned by the caller
     */
    public static DeviceTensor sumRowGroups(DeviceTensor x, int groups) {
        Op op = Op.of("DeviceGradients.sumRowGroups", x);
        FloatArray xa = op.f32("x", x);
        if (x.rank() != 2 || x.numel() == 0) {
            throw op.fail("x's shape", Arrays.toString(x.shape()), "(R, cols), no zero dimension");
        }
        if (groups < 1 || x.dim(0) % groups != 0) {
            throw op.fail("groups", String.valueOf(groups), "a positive divisor of x's " + x.dim(0) + " rows");
        }
        int cols = x.dim(1);
        int groupRows = x.dim(0) / groups;
        DeviceTensor out = op.session.allocate(DType.F32, groups, cols);
        DeviceTensor partial = ColumnSums.partials(op, groups, groupRows, cols);
        op.graph.task("sumPartials", TensorKernels::columnPartials, new KernelContext(), xa,
                (FloatArray) partial.array(), cols, groups, groupRows, ColumnSums.CHUNK_ROWS);
        op.grid("sumPartials", ColumnSumKernels.partialsGrid(cols, groups * ColumnSums.chunks(groupRows)));
        ColumnSums.sum(op, "sum", partial, out, cols, groups, groupRows);
        return Ops.runOrFree(op, out, partial);
    }

    /**
     * The sum of the squares of every element of every tensor (the squared global L2 norm of a model's gradients),
     * as a device scalar: each tensor gives {@value TrainingKernels#PARTIAL_GROUPS} partial sums, added in a fixed
     * order, so the value depends only on the tensors. Read it with {@code toHost()} (one number) or pass it to
     * {@link #clipByNorm}.
     *
     * @param tensors f32 tensors of one session, at least one
     * @return a new f32 tensor of shape (1), owned by the caller
     */
    public static DeviceTensor sumOfSquares(List<DeviceTensor> tensors) {
        if (tensors == null || tensors.isEmpty()) {
            throw new IllegalArgumentException("DeviceGradients.sumOfSquares: tensors is " + (tensors == null ? "null"
                    : "empty") + ", expected at least one device tensor");
        }
        Op op = Op.of("DeviceGradients.sumOfSquares", tensors.get(0));
        int groups = TrainingKernels.PARTIAL_GROUPS;
        DeviceTensor partials = op.session.allocate(DType.F32, tensors.size() * groups);
        DeviceTensor out = op.session.allocate(DType.F32, 1);
        FloatArray pa = (FloatArray) partials.array();
        for (int i = 0; i < tensors.size(); i++) {
            DeviceTensor t = tensors.get(i);
            FloatArray ta = op.f32("tensors[" + i + "]", t);
            op.graph.task("squares" + i, TrainingKernels::squarePartials, new KernelContext(), ta, (int) t.numel(), pa,
                    i * groups);
            op.grid("squares" + i, TrainingKernels.partialsGrid());
        }
        op.graph.task("sum", TrainingKernels::sumPartials, new KernelContext(), pa, tensors.size() * groups, 1f,
                (FloatArray) out.array(), 0);
        op.grid("sum", TrainingKernels.sumGrid());
        return Ops.runOrFree(op, out, partials);
    }

    /**
     * Scales every gradient by {@code maxNorm / (norm + 1e-6)} when that is below 1, with
     * {@code norm = sqrt(sumSquares[0])}, as {@code torch.nn.utils.clip_grad_norm_(grads, maxNorm)} does; the
     * coefficient is computed on the device from the value {@link #sumOfSquares} left there.
     *
     * @param grads f32 gradients, scaled in place
     * @param sumSquares the squared global norm, f32 (1)
     * @param maxNorm the largest norm kept, finite and above 0
     */
    public static void clipByNorm(List<DeviceTensor> grads, DeviceTensor sumSquares, double maxNorm) {
        Op op = Op.of("DeviceGradients.clipByNorm", sumSquares);
        FloatArray sa = op.f32("sumSquares", sumSquares);
        op.shape("sumSquares", sumSquares, 1);
        if (!(maxNorm > 0) || Double.isInfinite(maxNorm)) {
            throw op.fail("maxNorm", maxNorm, "a finite number > 0");
        }
        if (grads == null) {
            throw op.fail("grads", null, "a list of device tensors");
        }
        for (int i = 0; i < grads.size(); i++) {
            DeviceTensor g = grads.get(i);
            FloatArray ga = op.f32("grads[" + i + "]", g);
            int n = (int) g.numel();
            op.graph.task("clip" + i, TrainingKernels::clipByNorm, new KernelContext(), ga, n, sa, (float) maxNorm);
            op.grid("clip" + i, ActivationKernels.grid(Math.max(1, n)));
        }
        if (!grads.isEmpty()) {
            op.run();
        }
    }
}
