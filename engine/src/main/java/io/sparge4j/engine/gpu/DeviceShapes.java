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

    /**
     * Rows {@code [start, start + length)} along the first axis, copied: for example one of the six (1, D) modulation
     * vectors of a (6, D) tensor, as {@code Tensor.narrow} selects them on the CPU.
     *
     * @param x f32 tensor of rank at least 1
     * @param start first row, {@code 0 <= start}
     * @param length rows, {@code start + length <= x.dim(0)}
     * @return a new tensor of x's shape with {@code length} rows
     */
    public static DeviceTensor narrow(DeviceTensor x, int start, int length) {
        Op op = Op.of("DeviceShapes.narrow", x);
        FloatArray xa = op.f32("x", x);
        if (x.rank() < 1) {
            throw op.fail("x's shape", "[]", "rank at least 1");
        }
        if (start < 0 || length < 0 || (long) start + length > x.dim(0)) {
            throw op.fail("[start, start + length)", "[" + start + ", " + ((long) start + length) + ")",
                    "inside [0, " + x.dim(0) + ")");
        }
        int[] s = x.shape();
        int rowSize = (int) (x.numel() / Math.max(1, s[0]));
        s[0] = length;
        DeviceTensor out = op.session.allocate(DType.F32, s);
        int n = length * rowSize;
        op.graph.task("copy", TensorKernels::copy, new KernelContext(), xa, start * rowSize, (FloatArray) out.array(),
                0, n);
        op.grid("copy", ActivationKernels.grid(Math.max(1, n)));
        return Ops.runOrFree(op, out);
    }

    /**
     * Joins tensors along the first axis, as {@code Shapes.concat(0, parts)} does on the CPU (for example the six
     * modulation gradients back into one (6, D) tensor).
     *
     * @param parts f32 tensors of one session whose shapes agree past the first axis
     * @return a new tensor with the parts' rows in order
     */
    public static DeviceTensor concat(DeviceTensor... parts) {
        if (parts == null || parts.length == 0) {
            throw new IllegalArgumentException("DeviceShapes.concat: parts is empty, expected at least one tensor");
        }
        Op op = Op.of("DeviceShapes.concat", parts[0]);
        int[] first = parts[0].shape();
        if (first.length < 1) {
            throw op.fail("parts[0]'s shape", "[]", "rank at least 1");
        }
        int rows = 0;
        for (int i = 0; i < parts.length; i++) {
            op.f32("parts[" + i + "]", parts[i]);
            int[] s = parts[i].shape();
            int[] expected = first.clone();
            expected[0] = s.length > 0 ? s[0] : -1;
            if (!Arrays.equals(s, expected)) {
                throw op.fail("parts[" + i + "]'s shape", Arrays.toString(s), "the shape of parts[0] "
                        + Arrays.toString(first) + " past the first axis");
            }
            rows += s[0];
        }
        int[] shape = first.clone();
        shape[0] = rows;
        DeviceTensor out = op.session.allocate(DType.F32, shape);
        int offset = 0;
        for (int i = 0; i < parts.length; i++) {
            int n = (int) parts[i].numel();
            op.graph.task("copy" + i, TensorKernels::copy, new KernelContext(), (FloatArray) parts[i].array(), 0,
                    (FloatArray) out.array(), offset, n);
            op.grid("copy" + i, ActivationKernels.grid(Math.max(1, n)));
            offset += n;
        }
        return Ops.runOrFree(op, out);
    }
}
