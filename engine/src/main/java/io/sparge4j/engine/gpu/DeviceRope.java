package io.sparge4j.engine.gpu;

import io.sparge4j.engine.ops.Rope;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.nn.ActivationKernels;
import io.sparge4j.kernels.nn.RopeKernels;
import io.sparge4j.kernels.nn.RopeTables;
import io.sparge4j.kernels.types.arrays.FloatArray;

import java.util.Arrays;

/**
 * Wan2.1's 3D rotary position embedding on the device, as {@code io.sparge4j.engine.ops.Rope.apply} computes it,
 * through {@link RopeKernels}. The angle table ({@link RopeTables#cosSin}, float64 angles rounded once) is uploaded
 * once per grid and head dimension and kept by the session.
 */
public final class DeviceRope {
    private DeviceRope() {
    }

    /**
     * @param x f32 queries or keys (B, L, H, d), L at least the grid's token count (tokens past it are copied)
     * @param grid the token grid
     * @return a new rotated tensor shaped like x
     */
    public static DeviceTensor apply(DeviceTensor x, Rope.Grid grid) {
        return apply(x, grid, Rope.Layout.BLHD);
    }

    /**
     * @param x f32 queries or keys, (B, L, H, d) or (B, H, L, d) per {@code layout}, d even
     * @param grid the token grid, at most L tokens
     * @param layout where the token and head axes are
     * @return a new rotated tensor shaped like x
     */
    public static DeviceTensor apply(DeviceTensor x, Rope.Grid grid, Rope.Layout layout) {
        return rotate("DeviceRope.apply", x, grid, layout, true);
    }

    /**
     * The backward of {@link #apply}: the gradient rotated by the negative angles, as {@code Rope.backward}.
     *
     * @param dy gradient with respect to the output, shaped as the forward input
     * @param grid the forward's grid
     * @param layout the forward's layout
     * @return the gradient with respect to the input
     */
    public static DeviceTensor backward(DeviceTensor dy, Rope.Grid grid, Rope.Layout layout) {
        return rotate("DeviceRope.backward", dy, grid, layout, false);
    }

    private static DeviceTensor rotate(String name, DeviceTensor x, Rope.Grid grid, Rope.Layout layout,
            boolean forward) {
        Op op = Op.of(name, x);
        FloatArray xa = op.f32("x", x);
        if (grid == null || layout == null) {
            throw op.fail(grid == null ? "grid" : "layout", null, "a value");
        }
        if (x.rank() != 4 || x.numel() == 0 || x.dim(3) % 2 != 0) {
            throw op.fail("x's shape", Arrays.toString(x.shape()), "(B, L, H, d) or (B, H, L, d) with d even and no"
                    + " zero dimension");
        }
        boolean tokensFirst = layout == Rope.Layout.BLHD;
        int d = x.dim(3);
        int tokens = tokensFirst ? x.dim(1) : x.dim(2);
        int heads = tokensFirst ? x.dim(2) : 1;
        int rows = (int) (x.numel() / ((long) heads * d));
        if (grid.tokens() > tokens) {
            throw op.fail("grid", grid + " (" + grid.tokens() + " tokens)", "at most the " + tokens + " tokens of x ("
                    + layout + " " + Arrays.toString(x.shape()) + ")");
        }
        int gridTokens = (int) grid.tokens();
        DeviceTensor table = op.session.constant("rope " + grid + " d=" + d, () -> {
            FloatArray cs = RopeTables.cosSin(grid.frames(), grid.rows(), grid.cols(), d);
            return Tensor.wrap(cs.getSegment(), DType.F32, cs.getSize());
        });
        DeviceTensor out = op.session.allocate(DType.F32, x.shape());
        if (forward) {
            op.graph.task("rope", RopeKernels::ropeApply, new KernelContext(), xa, (FloatArray) table.array(),
                    (FloatArray) out.array(), rows, tokens, gridTokens, heads, d);
        } else {
            op.graph.task("rope", RopeKernels::ropeBackward, new KernelContext(), xa, (FloatArray) table.array(),
                    (FloatArray) out.array(), rows, tokens, gridTokens, heads, d);
        }
        op.grid("rope", ActivationKernels.grid((long) rows * heads * (d / 2)));
        return Ops.runOrFree(op, out);
    }
}
