package io.sparge4j.engine.ops;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.cpu.vec.BinaryOp;
import io.sparge4j.engine.cpu.vec.FloatKernels;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * Softmax over the last dimension of an f32 tensor, and its backward. The row maximum is subtracted
 * before exponentiating, so large logits neither overflow nor lose the small ones.
 */
public final class Softmax {
    /** Elements per parallel chunk of rows. */
    private static final int CHUNK = 16384;

    private Softmax() {
    }

    /**
     * @param x f32 tensor (..., N), rank at least 1
     * @return a new tensor shaped like x whose rows are {@code exp(x - max) / sum(exp(x - max))}
     */
    public static Tensor softmax(Tensor x) {
        return softmax(x, FloatKernels.preferred());
    }

    /**
     * Backward of {@link #softmax}: {@code dx = y * (dy - sum(dy * y))}, the sum over each row.
     *
     * @param dy upstream gradient, shaped like y
     * @param y the forward output
     * @return dx
     */
    public static Tensor softmaxBackward(Tensor dy, Tensor y) {
        return softmaxBackward(dy, y, FloatKernels.preferred());
    }

    static Tensor softmax(Tensor x, FloatKernels k) {
        String op = "softmax";
        Check.f32(op, "x", x);
        Check.minRank(op, "x", x, 1);
        int n = x.dim(-1);
        Tensor y = Tensor.allocate(DType.F32, x.shape());
        MemorySegment xs = x.segment();
        MemorySegment ys = y.segment();
        forEachRowRange(x, n, (from, to) -> {
            for (int r = from; r < to; r++) {
                long off = (long) r * n;
                float max = k.max(xs, off, n);
                float sum = k.expShifted(xs, off, max, ys, off, n);
                k.binaryScalarRight(BinaryOp.MUL, ys, off, 1f / sum, ys, off, n);
            }
        });
        return y;
    }

    static Tensor softmaxBackward(Tensor dy, Tensor y, FloatKernels k) {
        String op = "softmaxBackward";
        Check.f32(op, "dy", dy);
        Check.f32(op, "y", y);
        Check.minRank(op, "y", y, 1);
        Check.sameShape(op, "y", y, "dy", dy);
        int n = y.dim(-1);
        Tensor dx = Tensor.allocate(DType.F32, y.shape());
        MemorySegment dys = dy.segment();
        MemorySegment ys = y.segment();
        MemorySegment dxs = dx.segment();
        forEachRowRange(y, n, (from, to) -> {
            for (int r = from; r < to; r++) {
                long off = (long) r * n;
                float s = k.dot(dys, off, ys, off, n);
                k.mulShifted(ys, off, dys, off, s, dxs, off, n);
            }
        });
        return dx;
    }

    private static void forEachRowRange(Tensor x, int n, CpuRuntime.RangeBody body) {
        int rows = n == 0 ? 0 : Math.toIntExact(x.numel() / n);
        CpuRuntime.parallelForRange(rows, Math.max(1, CHUNK / Math.max(1, n)), body);
    }
}
