package io.sparge4j.engine.gpu;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.nn.ActivationKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;

/** GELU (tanh form) and SiLU on the device, as {@code io.sparge4j.engine.ops.Activations} computes them. */
public final class DeviceActivations {
    private DeviceActivations() {
    }

    /**
     * @param x f32 device tensor
     * @return a new tensor {@code 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))}, shaped like x
     */
    public static DeviceTensor gelu(DeviceTensor x) {
        return apply("DeviceActivations.gelu", x, true);
    }

    /**
     * @param x f32 device tensor
     * @return a new tensor {@code x * sigmoid(x)}, shaped like x
     */
    public static DeviceTensor silu(DeviceTensor x) {
        return apply("DeviceActivations.silu", x, false);
    }

    private static DeviceTensor apply(String name, DeviceTensor x, boolean gelu) {
        Op op = Op.of(name, x);
        FloatArray in = op.f32("x", x);
        int n = (int) x.numel();
        DeviceTensor y = op.session.allocate(x.dtype(), x.shape());
        FloatArray out = (FloatArray) y.array();
        if (gelu) {
            op.graph.task("gelu", ActivationKernels::gelu, new KernelContext(), in, out, n);
            op.grid("gelu", ActivationKernels.grid(n));
        } else {
            op.graph.task("silu", ActivationKernels::silu, new KernelContext(), in, out, n);
            op.grid("silu", ActivationKernels.grid(n));
        }
        return Ops.runOrFree(op, y);
    }
}
