package io.sparge4j.models.train;

import io.sparge4j.engine.gpu.DeviceGradients;
import io.sparge4j.engine.gpu.DeviceShapes;
import io.sparge4j.engine.gpu.DeviceTensor;

/**
 * A gradient summed over several contributions on the device (the time projection's over the blocks, the text
 * embedding's over the cross-attentions): the first is copied, the rest added in place, in call order.
 */
final class DeviceWanSum implements AutoCloseable {
    private DeviceTensor sum;

    /** Adds {@code g} (not kept: the caller still owns and may free it). */
    void add(DeviceTensor g) {
        if (sum == null) {
            sum = DeviceShapes.narrow(g, 0, g.dim(0));
        } else {
            DeviceGradients.accumulate(1f, g, sum);
        }
    }

    /** @return the sum, owned by this holder, or null when nothing was added */
    DeviceTensor value() {
        return sum;
    }

    @Override
    public void close() {
        if (sum != null) {
            sum.close();
            sum = null;
        }
    }
}
