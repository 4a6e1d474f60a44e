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

    /**
     * @param dy upstream gradient, shaped like x
     * @param x the forward input, f32
     * @return a new tensor {@code dy * gelu'(x)}
     */
    public static DeviceTensor geluBackward(DeviceTensor dy, DeviceTensor x) {
        return backward("DeviceActivations.geluBackward", dy, x, true);
    }

    /**
     * @param dy upstream gradient, shaped like x
     * @param x the forward input, f32
     * @return a new tensor {@code dy * silu'(x)}
     */
    public static DeviceTensor siluBackward(DeviceTensor dy, DeviceTensor x) {
        return backward("DeviceActivations.siluBackward", dy, x, false);
    }

    private static DeviceTensor backward(String name, DeviceTensor dy, DeviceTensor x, boolean gelu) {
        Op op = Op.of(name, dy);
        FloatArray dya = op.f32("dy", dy);
        FloatArray xa = op.f32("x", x);
        op.shape("dy", dy, x.shape());
        int n = (int) x.numel();
        DeviceTensor dx = op.session.allocate(x.dtype(), x.shape());
        FloatArray out = (FloatArray) dx.array();
        if (gelu) {
            op.graph.task("geluBackward", ActivationKernels::geluBackward, new KernelContext(), dya, xa, out, n);
            op.grid("geluBackward", ActivationKernels.grid(n));
        } else {
            op.graph.task("siluBackward", ActivationKernels::siluBackward, new KernelContext(), dya, xa, out, n);
            op.grid("siluBackward", ActivationKernels.grid(n));
        }
        return Ops.runOrFree(op, dx);
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
