package io.sparge4j.engine.gpu;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.nn.ActivationKernels;
import io.sparge4j.kernels.nn.TensorKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;

import java.util.Arrays;

/** Layout changes on the device (reshapes need none: see {@link DeviceTensor#reshape}). */
public final class DeviceShapes {
    private DeviceShapes() {
    }

    /**
     * Swaps axes 1 and 2 of a rank-4 tensor: (B, N, H, d) tokens to the (B, H, N, d) heads the attention kernels
     * take, and back (the op is its own inverse), as {@code Shapes.permute(x, 0, 2, 1, 3)} does on the CPU.
     *
     * @param x f32 (B, N, H, d)
     * @return a new tensor (B, H, N, d)
     */
    public static DeviceTensor swapTokensHeads(DeviceTensor x) {
        Op op = Op.of("DeviceShapes.swapTokensHeads", x);
        FloatArray xa = op.f32("x", x);
        if (x.rank() != 4) {
            throw op.fail("x's shape", Arrays.toString(x.shape()), "rank 4, (B, N, H, d)");
        }
        int[] s = x.shape();
        DeviceTensor out = op.session.allocate(DType.F32, s[0], s[2], s[1], s[3]);
        int n = (int) x.numel();
        op.graph.task("swap", TensorKernels::swapMiddleAxes, new KernelContext(), xa, (FloatArray) out.array(), s[0],
                s[1], s[2], s[3]);
        op.grid("swap", ActivationKernels.grid(Math.max(1, n)));
        return Ops.runOrFree(op, out);
    }
}
