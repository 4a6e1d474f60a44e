package io.sparge4j.engine.gpu;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.WorkerGrid3D;
import io.sparge4j.kernels.linalg.GemmKernels;
import io.sparge4j.kernels.nn.ActivationKernels;
import io.sparge4j.kernels.nn.TensorKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

import java.util.Arrays;

/**
 * Fully connected layers on the device, in PyTorch's convention {@code y = x W^T + b}, as
 * {@code io.sparge4j.engine.ops.Linear.linear} computes them: f32 through {@code GemmKernels.sgemm}, or, chosen per
 * call ({@link GemmPrecision}), bf16 or f16 operands with f32 accumulation through the tensor-core pair GEMM
 * ({@code mmaGemmBF16Pairs}, {@code mmaGemmF16Pairs}). The bias is added by a second kernel
 * ({@link TensorKernels#addRow}), so the result rounds as the CPU op's ({@code round(xW^T) + b}).
 */
public final class DeviceLinear {
    private DeviceLinear() {
    }

    /**
     * @param x f32 (..., in)
     * @param weight f32 (out, in)
     * @param bias f32 (out), or null for none
     * @return y, f32, (..., out)
     */
    public static DeviceTensor linear(DeviceTensor x, DeviceTensor weight, DeviceTensor bias) {
        return linear(x, weight, bias, GemmPrecision.F32);
    }

    /**
     * @param x f32 (..., in)
     * @param weight (out, in): f32 (rounded per call for a 16-bit precision), or the precision's operand type, bf16
     *     for {@link GemmPrecision#BF16} or f16 for {@link GemmPrecision#F16}, used as is
     * @param bias f32 (out), or null for none
     * @param precision how to multiply; BF16 and F16 need an even {@code in}
     * @return y, f32, (..., out)
     */
    public static DeviceTensor linear(DeviceTensor x, DeviceTensor weight, DeviceTensor bias,
            GemmPrecision precision) {
        String name = "DeviceLinear.linear";
        Op op = Op.of(name, x);
        if (precision == null) {
            throw op.fail("precision", null, "F32, BF16 or F16");
        }
        FloatArray xa = op.f32("x", x);
        int in = op.lastDim("x", x);
        if (weight == null || weight.rank() != 2 || weight.dim(1) != in || weight.dim(0) < 1) {
            throw op.fail("weight", weight == null ? null : Arrays.toString(weight.shape()),
                    "shape (out, " + in + ") for x of shape " + Arrays.toString(x.shape()));
        }
        int out = weight.dim(0);
        int m = (int) (x.numel() / in);
        FloatArray ba = null;
        if (bias != null) {
            ba = op.f32("bias", bias);
            op.shape("bias", bias, out);
        }
        DType operand = precision.operandType();
        if (precision != GemmPrecision.F32 && in % 2 != 0) {
            throw op.fail("in features (x's last dimension)", in, "an even number for GemmPrecision." + precision
                    + " (the pair GEMM reads " + operand + " pairs); use GemmPrecision.F32");
        }
        if (weight.dtype() != DType.F32 && weight.dtype() != operand) {
            throw op.fail("weight", weight.dtype().name(), "F32" + (precision == GemmPrecision.F32 ? "" : " or "
                    + operand.name()) + " for GemmPrecision." + precision + " (a BF16 weight needs GemmPrecision.BF16,"
                    + " an F16 one GemmPrecision.F16)");
        }
        op.array("weight", weight, weight.dtype());   // open and of this session, before anything is allocated
        int[] yShape = x.shape();
        yShape[yShape.length - 1] = out;
        DeviceTensor y = op.session.allocate(DType.F32, yShape);
        FloatArray ya = (FloatArray) y.array();
        DeviceTensor[] temporaries;
        if (precision == GemmPrecision.F32) {
            temporaries = f32Product(op, xa, weight, ya, m, out, in);
        } else {
            temporaries = halfProduct(op, x, weight, operand, ya, m, out, in);
        }
        if (ba != null) {
            int n = m * out;
            op.graph.task("bias", TensorKernels::addRow, new KernelContext(), ya, ba, ya, n, out);
            op.grid("bias", ActivationKernels.grid(n));
        }
        return Ops.runOrFree(op, y, temporaries);
    }

    /** sgemm reads B as (in, out): the weight is transposed on the device first, into a temporary. */
    private static DeviceTensor[] f32Product(Op op, FloatArray xa, DeviceTensor weight, FloatArray ya, int m, int out,
            int in) {
        FloatArray wa = op.f32("weight", weight);
        DeviceTensor wt = op.session.allocate(DType.F32, in, out);
        FloatArray wta = (FloatArray) wt.array();
        op.graph.task("transposeWeight", TensorKernels::swapMiddleAxes, new KernelContext(), wa, wta, 1, out, in, 1);
        op.grid("transposeWeight", ActivationKernels.grid((long) out * in));
        op.graph.task("sgemm", GemmKernels::sgemm, new KernelContext(), xa, wta, ya, m, out, in);
        int e = GemmKernels.SGEMM_GROUP_EDGE;
        int block = GemmKernels.BLOCK;
        op.grid("sgemm", Op.grid2D((long) (out + block - 1) / block * e, (long) (m + block - 1) / block * e, e, e));
        return new DeviceTensor[]{wt};
    }

    /** x (and an f32 weight) rounded to {@code half} into temporaries, then the pair GEMM of that type. */
    private static DeviceTensor[] halfProduct(Op op, DeviceTensor x, DeviceTensor weight, DType half, FloatArray ya,
            int m, int out, int in) {
        String suffix = half == DType.BF16 ? "Bf16" : "F16";
        DeviceTensor xh = op.session.allocate(half, m, in);
        DeviceCasts.addToHalf(op, "xTo" + suffix, op.f32("x", x), xh);
        DeviceTensor wh = null;
        DeviceTensor wOperand = weight;
        if (weight.dtype() != half) {
            wh = op.session.allocate(half, out, in);
            DeviceCasts.addToHalf(op, "wTo" + suffix, op.f32("weight", weight), wh);
            wOperand = wh;
        } else {
            op.array("weight", weight, half);
        }
        IntArray xp = op.session.intPairs(xh);
        IntArray wp = op.session.intPairs(wOperand);
        if (half == DType.BF16) {
            op.graph.task("mmaGemm", GemmKernels::mmaGemmBF16Pairs, new KernelContext(), xp, wp, ya, m, out, in);
        } else {
            op.graph.task("mmaGemm", GemmKernels::mmaGemmF16Pairs, new KernelContext(), xp, wp, ya, m, out, in);
        }
        op.grid("mmaGemm", Op.grid2D((long) (out + GemmKernels.PAIR_BLOCK_N - 1) / GemmKernels.PAIR_BLOCK_N
                * GemmKernels.PAIR_GROUP_SIZE, (m + GemmKernels.PAIR_BLOCK_M - 1) / GemmKernels.PAIR_BLOCK_M,
                GemmKernels.PAIR_GROUP_SIZE, 1));
        return new DeviceTensor[]{xh, wh};
    }

    /**
     * The gradients of {@link #linear}; closing closes all three.
     *
     * @param dx gradient with respect to x, shaped like x
     * @param dWeight gradient with respect to the weight, (out, in)
     * @param dBias gradient with respect to the bias, (out), or null when not asked for
     */
    public record Grads(DeviceTensor dx, DeviceTensor dWeight, DeviceTensor dBias) implements AutoCloseable {
        @Override
        public void close() {
            dx.close();
            dWeight.close();
            if (dBias != null) {
                dBias.close();
            }
        }
    }

    /**
     * The backward of the f32 {@link #linear}, as {@code Linear.linearBackward}: {@code dx = dy W},
     * {@code dW = dy^T x} (summed over every leading dimension), {@code dBias = sum dy}.
     *
     * @param dy f32 (..., out)
     * @param x the forward input, f32 (..., in)
     * @param weight the forward weight, f32 (out, in)
     * @param withBias whether to compute dBias
     * @return dx, dWeight and dBias (or null)
     */
    public static Grads linearBackward(DeviceTensor dy, DeviceTensor x, DeviceTensor weight, boolean withBias) {
        Op op = Op.of("DeviceLinear.linearBackward", dy);
        FloatArray dya = op.f32("dy", dy);
        FloatArray xa = op.f32("x", x);
        FloatArray wa = op.f32("weight", weight);
        int in = op.lastDim("x", x);
        if (weight.rank() != 2 || weight.dim(1) != in) {
            throw op.fail("weight's shape", Arrays.toString(weight.shape()), "(out, " + in + ")");
        }
        int out = weight.dim(0);
        int[] dyShape = x.shape();
        dyShape[dyShape.length - 1] = out;
        op.shape("dy", dy, dyShape);
        int m = (int) (x.numel() / in);
        DeviceTensor dx = op.session.allocate(DType.F32, x.shape());
        DeviceTensor dw = op.session.allocate(DType.F32, out, in);
        DeviceTensor db = withBias ? op.session.allocate(DType.F32, out) : null;
        int e = GemmKernels.SGEMM_GROUP_EDGE;
        int block = GemmKernels.BLOCK;
        op.graph.task("dx", GemmKernels::sgemm, new KernelContext(), dya, wa, (FloatArray) dx.array(), m, in, out);
        op.grid("dx", Op.grid2D((long) (in + block - 1) / block * e, (long) (m + block - 1) / block * e, e, e));
        // dW = dy^T x, split over m when the weight is small: a (128 x 128) weight is one work-group of tiles, which
        // alone took ~80% of a 32-clip training step on an H200 (SPARGE_PROFILE, BENCHMARKS.md session 8)
        int tiles = (out + block - 1) / block * ((in + block - 1) / block);
        int kSlice = weightGradientSlice(m, tiles);
        int slices = (m + kSlice - 1) / kSlice;
        DeviceTensor sliced = slices > 1 ? op.session.allocate(DType.F32, slices, out, in) : null;
        op.graph.task("dW", GemmKernels::sgemmTransposedA, new KernelContext(), dya, xa,
                (FloatArray) (slices > 1 ? sliced : dw).array(), out, in, m, kSlice);
        WorkerGrid3D dwGrid = new WorkerGrid3D((long) (in + block - 1) / block * e, (long) (out + block - 1) / block * e,
                slices);
        dwGrid.setLocalWork(e, e, 1);
        op.grid("dW", dwGrid);
        // the slices added in order: the same sum on every run
        DeviceTensor slicePartial = slices > 1
                ? ColumnSums.addRowSum(op, "dWSlices", (FloatArray) sliced.array(), dw, out * in, slices) : null;
        DeviceTensor partial = withBias ? ColumnSums.addRowSum(op, "dBias", dya, db, out, m) : null;
        Grads g = new Grads(dx, dw, db);
        try {
            op.run();
            return g;
        } catch (RuntimeException ex) {
            g.close();
            throw ex;
        } finally {
            for (DeviceTensor t : new DeviceTensor[] {partial, sliced, slicePartial}) {
                if (t != null) {
                    t.close();
                }
            }
        }
    }

    /** Rows of the reduction below which the weight gradient is not split. */
    static final int SPLIT_MIN_ROWS = 2048;
    /** Work-groups the split aims at: a few per multiprocessor of a large GPU. */
    private static final int SPLIT_TARGET_GROUPS = 512;
    /** The shortest slice: long enough that its tiles' k-loop outweighs the slices' sum. */
    private static final int SPLIT_MIN_SLICE = 512;

    /**
     * The rows of the weight gradient's reduction per slice: all {@code m} (one slice) when the reduction is short
     * or the weight alone has enough tiles, else about {@code SPLIT_TARGET_GROUPS / tiles} slices of at least
     * {@code SPLIT_MIN_SLICE} rows, a multiple of 8 (the GEMM's k-tile).
     *
     * @param m the reduction length (tokens)
     * @param tiles the weight's 128 x 128 tiles
     * @return the slice length
     */
    static int weightGradientSlice(int m, int tiles) {
        if (m <= SPLIT_MIN_ROWS || tiles >= SPLIT_TARGET_GROUPS / 4) {
            return Math.max(8, (m + 7) / 8 * 8);
        }
        int slices = Math.max(1, Math.min(SPLIT_TARGET_GROUPS / tiles, m / SPLIT_MIN_SLICE));
        int slice = (m + slices - 1) / slices;
        return (slice + 7) / 8 * 8;
    }
}
