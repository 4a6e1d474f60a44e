package io.sparge4j.kernels.nn;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;

/**
 * The small element-wise kernels a device op layer needs between the big ones: the sum of two tensors, a row
 * vector added to every row (a linear layer's bias), a copy of a contiguous range (a slice), the swap of two middle
 * axes (heads to the front and back, a weight's transpose) and the f32 to bf16 and f16 conversions in front of the
 * tensor-core GEMMs. All f32 arithmetic rounds exactly as the CPU ops' (one addition, no fusion), so results are
 * bit-identical to {@code io.sparge4j.engine.ops}.
 * Grid: {@link ActivationKernels#grid} of the element count (the kernels loop over any 1D grid), except
 * {@link #columnPartials} (a linear layer's bias gradient), on {@link ColumnSumKernels#partialsGrid}.
 */
public final class TensorKernels {
    private TensorKernels() {
    }

    /**
     * {@code out = a + b}, element-wise.
     *
     * @param ctx the work-item
     * @param a first term (n)
     * @param b second term (n)
     * @param out the sum (n), written (may be a or b)
     * @param n element count
     */
    public static void add(KernelContext ctx, FloatArray a, FloatArray b, FloatArray out, int n) {
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            out.set(i, a.get(i) + b.get(i));
        }
    }

    /**
     * {@code out[r, c] = x[r, c] + row[c]} for a row-major (n / cols, cols) matrix: a linear layer's bias.
     *
     * @param ctx the work-item
     * @param x the matrix (n)
     * @param row the vector added to every row (cols)
     * @param out the result (n), written (may be x)
     * @param n element count, a multiple of cols
     * @param cols row length, at least 1
     */
    public static void addRow(KernelContext ctx, FloatArray x, FloatArray row, FloatArray out, int n, int cols) {
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            out.set(i, x.get(i) + row.get(i % cols));
        }
    }

    /**
     * {@code dst[dstOffset + i] = src[srcOffset + i]} for {@code i < n}: a contiguous slice, such as rows of a matrix.
     *
     * @param ctx the work-item
     * @param src the input
     * @param srcOffset first element read
     * @param dst the output, written from {@code dstOffset}
     * @param dstOffset first element written
     * @param n element count
     */
    public static void copy(KernelContext ctx, FloatArray src, int srcOffset, FloatArray dst, int dstOffset, int n) {
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            dst.set(dstOffset + i, src.get(srcOffset + i));
        }
    }

    /**
     * {@code out[i] = value}: {@code torch.full}/{@code zeros} on the device, without a host copy. Grid:
     * {@link ActivationKernels#grid} of n.
     *
     * @param ctx the work-item
     * @param out the output (n)
     * @param value what every element becomes
     * @param n element count
     */
    public static void fill(KernelContext ctx, FloatArray out, float value, int n) {
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            out.set(i, value);
        }
    }

    /**
     * Swaps the two middle axes: {@code dst[o, j, i, e] = src[o, i, j, e]} for src of shape
     * (outer, first, second, inner) and dst of shape (outer, second, first, inner). (B, L, H, d) to (B, H, L, d) and
     * back is {@code outer = B, inner = d}; a matrix transpose is {@code outer = inner = 1}. One work-item per
     * element of dst, so the writes are coalesced.
     *
     * @param ctx the work-item
     * @param src the input (outer * first * second * inner)
     * @param dst the output, written (not src)
     * @param outer leading extent
     * @param first the first swapped extent, as src orders them
     * @param second the second swapped extent
     * @param inner trailing extent
     */
    public static void swapMiddleAxes(KernelContext ctx, FloatArray src, FloatArray dst, int outer, int first,
            int second, int inner) {
        int n = outer * first * second * inner;
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            int e = i % inner;
            int t = i / inner;
            int f = t % first;
            t = t / first;
            int s = t % second;
            int o = t / second;
            dst.set(i, src.get(((o * first + f) * second + s) * inner + e));
        }
    }

    /**
     * Rounds f32 to bf16 (round to nearest even, as {@code KernelMath.floatToBFloat16}), element-wise.
     *
     * @param ctx the work-item
     * @param src the input (n)
     * @param dst the output (n), written
     * @param n element count
     */
    public static void toBFloat16(KernelContext ctx, FloatArray src, BFloat16Array dst, int n) {
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            dst.set(i, src.get(i));
        }
    }

    /**
     * Rounds f32 to IEEE binary16 (round to nearest even, subnormals kept, beyond 65504 to infinity, as
     * {@code KernelMath.floatToHalf}), element-wise.
     *
     * @param ctx the work-item
     * @param src the input (n)
     * @param dst the output (n), written
     * @param n element count
     */
    public static void toFloat16(KernelContext ctx, FloatArray src, HalfFloatArray dst, int n) {
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            dst.set(i, src.get(i));
        }
    }

    /**
     * Partial column sums per chunk of rows, {@code partial[chunk, c] = sum a[r, c]} over the chunk's rows in row
     * order, laid out as {@link ColumnSumKernels} describes; {@link ColumnSumKernels#sumChunks} adds the chunks (a
     * linear layer's bias gradient is the column sum of dy). Grid: {@link ColumnSumKernels#partialsGrid}.
     *
     * @param ctx the work-item
     * @param a (groups * groupRows, cols)
     * @param partial (groups * chunksPerGroup, cols), written
     * @param cols column count
     * @param groups group count
     * @param groupRows rows per group
     * @param chunkRows rows per chunk, at least 1
     */
    public static void columnPartials(KernelContext ctx, FloatArray a, FloatArray partial, int cols, int groups,
            int groupRows, int chunkRows) {
        int perGroup = (groupRows + chunkRows - 1) / chunkRows;
        for (int chunk = ctx.globalIdy; chunk < groups * perGroup; chunk += ctx.globalGroupSizeY) {
            int g = chunk / perGroup;
            int first = g * groupRows + (chunk - g * perGroup) * chunkRows;
            int end = KernelMath.min(first + chunkRows, (g + 1) * groupRows);
            for (int c = ctx.globalIdx; c < cols; c += ctx.globalGroupSizeX) {
                float acc = 0f;
                for (int r = first; r < end; r++) {
                    acc += a.get(r * cols + c);
                }
                partial.set(chunk * cols + c, acc);
            }
        }
    }
}
