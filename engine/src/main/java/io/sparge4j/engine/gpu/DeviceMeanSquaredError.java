package io.sparge4j.engine.gpu;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.nn.TrainingKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;

import java.util.Arrays;

/**
 * {@code mean((pred - target)^2)} over every element and its gradient {@code 2 (pred - target) / n}, on the device
 * in one pass plus one small sum ({@link TrainingKernels#squaredErrorPartials}, {@link TrainingKernels#sumPartials}):
 * the loss stays on the device as a scalar, so a training step reads back only that one number, when it wants it.
 */
public final class DeviceMeanSquaredError {
    private DeviceMeanSquaredError() {
    }

    /**
     * The loss and its gradient; closing closes both.
     *
     * @param loss f32 (1): the mean squared error (the partial sums are f32, added in a fixed order)
     * @param grad f32, shaped like pred: the gradient of the loss with respect to pred
     */
    public record Result(DeviceTensor loss, DeviceTensor grad) implements AutoCloseable {
        /** @return the loss, read back (waits for the device) */
        public double lossValue() {
            try (var host = loss.toHost()) {
                return host.getFloat(0);
            }
        }

        @Override
        public void close() {
            loss.close();
            grad.close();
        }
    }

    /**
     * @param pred f32 prediction
     * @param target f32 target, shaped like pred
     * @return the loss and the gradient with respect to pred
     */
    public static Result of(DeviceTensor pred, DeviceTensor target) {
        return of(pred, target, 1.0);
    }

    /**
     * The loss with its gradient scaled by {@code gradWeight} (for example {@code 1 / k} when k micro-batches
     * accumulate into one step); the loss itself is not scaled.
     *
     * @param pred f32 prediction
     * @param target f32 target, shaped like pred
     * @param gradWeight the factor of the gradient, finite
     * @return the loss and {@code gradWeight} times its gradient with respect to pred
     */
    public static Result of(DeviceTensor pred, DeviceTensor target, double gradWeight) {
        Op op = Op.of("DeviceMeanSquaredError.of", pred);
        if (!Double.isFinite(gradWeight)) {
            throw op.fail("gradWeight", gradWeight, "a finite number");
        }
        FloatArray pa = op.f32("pred", pred);
        FloatArray ta = op.f32("target", target);
        if (!Arrays.equals(pred.shape(), target.shape()) || pred.numel() == 0) {
            throw op.fail("target's shape", Arrays.toString(target.shape()), "pred's shape "
                    + Arrays.toString(pred.shape()) + " with at least one element");
        }
        int n = (int) pred.numel();
        int groups = TrainingKernels.PARTIAL_GROUPS;
        DeviceTensor grad = op.session.allocate(DType.F32, pred.shape());
        DeviceTensor loss = op.session.allocate(DType.F32, 1);
        DeviceTensor partials = op.session.allocate(DType.F32, groups);
        FloatArray pp = (FloatArray) partials.array();
        op.graph.task("partials", TrainingKernels::squaredErrorPartials, new KernelContext(), pa, ta,
                (FloatArray) grad.array(), n, (float) (2.0 * gradWeight / n), pp);
        op.grid("partials", TrainingKernels.partialsGrid());
        op.graph.task("mean", TrainingKernels::sumPartials, new KernelContext(), pp, groups, (float) (1.0 / n),
                (FloatArray) loss.array(), 0);
        op.grid("mean", TrainingKernels.sumGrid());
        Result r = new Result(loss, grad);
        try {
            op.run();
            return r;
        } catch (RuntimeException e) {
            r.close();
            throw e;
        } finally {
            partials.close();
        }
    }
}
