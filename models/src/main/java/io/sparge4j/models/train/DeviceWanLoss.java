package io.sparge4j.models.train;

import io.sparge4j.engine.gpu.DeviceMeanSquaredError;
import io.sparge4j.engine.gpu.DeviceTensor;

/**
 * Issue 7's losses on the device, over a {@link DeviceWanGraph.Tape}'s velocity tokens: the mean over every element
 * of the squared difference to a target in the same token layout (a dense teacher's {@link
 * DeviceWanGraph#predictTokens}, for velocity distillation; {@link DeviceWanGraph#tokens}{@code (noise - x0)} for the
 * flow-matching loss). The mean is permutation-invariant, so it equals the mean over the video layout (up to the
 * order of the f32 additions). The gradient stays on the device for {@link DeviceWanGraph#backward(
 * DeviceWanGraph.Tape, DeviceTensor)}; only {@link DeviceMeanSquaredError.Result#lossValue()} reads back.
 */
public final class DeviceWanLoss {
    private DeviceWanLoss() {
    }

    /**
     * @param tape the student's forward
     * @param target f32, shaped like {@link DeviceWanGraph.Tape#velocityTokens()}
     * @return the loss (a device scalar) and its gradient with respect to the velocity tokens; the caller closes it
     */
    public static DeviceMeanSquaredError.Result mse(DeviceWanGraph.Tape tape, DeviceTensor target) {
        if (tape == null) {
            throw new IllegalArgumentException("DeviceWanLoss.mse: tape is null, expected a DeviceWanGraph.Tape");
        }
        return mse(tape, target, 1.0);
    }

    /**
     * @param tape the student's forward
     * @param target f32, shaped like {@link DeviceWanGraph.Tape#velocityTokens()}
     * @param gradWeight the factor of the gradient (1 / k for k accumulated micro-batches); the loss is not scaled
     * @return the loss (a device scalar) and its weighted gradient; the caller closes it
     */
    public static DeviceMeanSquaredError.Result mse(DeviceWanGraph.Tape tape, DeviceTensor target,
            double gradWeight) {
        if (tape == null) {
            throw new IllegalArgumentException("DeviceWanLoss.mse: tape is null, expected a DeviceWanGraph.Tape");
        }
        return DeviceMeanSquaredError.of(tape.velocityTokens(), target, gradWeight);
    }
}
