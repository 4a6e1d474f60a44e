package io.sparge4j.kernels.nn;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.types.arrays.FloatArray;

/**
 * Wan's adaLN modulation {@code x * (1 + scale) + shift} and gated residual {@code x + gate * y}, with their
 * backward passes, as {@code io.sparge4j.engine.ops.Elementwise} computes them. Tokens x are (B, L, C), flat;
 * a modulation vector (shift, scale, gate) is (B, 1, C) ({@code modRows = B}) or shared by the batch, (C) or
 * (1, 1, C) ({@code modRows = 1}).
 *
 * <p>The element-wise kernels take {@link ActivationKernels#grid}. The parameter gradients are column sums: per
 * batch when {@code modRows = B} (groups = B, groupRows = L), over every token when {@code modRows = 1} (one group
 * of B * L rows); {@link #modulateParamPartials} and {@link ColumnSumKernels#productPartials} write partial sums
 * per chunk of rows on {@link ColumnSumKernels#partialsGrid}, and {@link ColumnSumKernels#sumChunks} adds them.
 */
public final class ModulationKernels {
    private ModulationKernels() {
    }

    /**
     * {@code out = fma(x, 1 + scale, shift)} (1 + scale rounded to float first, as the CPU op does).
     *
     * @param ctx the work-item
     * @param x tokens (B, L, C)
     * @param shift (shiftRows, C)
     * @param scale (scaleRows, C)
     * @param out (B, L, C), written
     * @param n B * L * C
     * @param cols C
     * @param tokens L
     * @param shiftRows 1 or B
     * @param scaleRows 1 or B
     */
    public static void modulate(KernelContext ctx, FloatArray x, FloatArray shift, FloatArray scale, FloatArray out,
            int n, int cols, int tokens, int shiftRows, int scaleRows) {
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            float onePlusScale = 1f + scale.get(modIndex(i, cols, tokens, scaleRows));
            out.set(i, KernelMath.fma(x.get(i), onePlusScale, shift.get(modIndex(i, cols, tokens, shiftRows))));
        }
    }

    /**
     * The input gradient of {@link #modulate}: {@code dx = fma(dy, scale, dy)} ({@code = dy * (1 + scale)}).
     *
     * @param ctx the work-item
     * @param dy upstream gradient (B, L, C)
     * @param scale (scaleRows, C)
     * @param dx (B, L, C), written
     * @param n B * L * C
     * @param cols C
     * @param tokens L
     * @param scaleRows 1 or B
     */
    public static void modulateBackward(KernelContext ctx, FloatArray dy, FloatArray scale, FloatArray dx, int n,
            int cols, int tokens, int scaleRows) {
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            float d = dy.get(i);
            dx.set(i, KernelMath.fma(d, scale.get(modIndex(i, cols, tokens, scaleRows)), d));
        }
    }

    /**
     * The shift and scale gradients of {@link #modulate}, partial sums per chunk of rows:
     * {@code partialShift[chunk, c] = sum dy} and {@code partialScale[chunk, c] = sum dy * x} (fused
     * multiply-adds) over the chunk's rows; see {@link ColumnSumKernels} for the chunk layout. Grid:
     * {@link ColumnSumKernels#partialsGrid}.
     *
     * @param ctx the work-item
     * @param dy upstream gradient (groups * groupRows, C)
     * @param x the forward input (groups * groupRows, C)
     * @param partialShift (groups * chunksPerGroup, C), written
     * @param partialScale (groups * chunksPerGroup, C), written
     * @param cols C
     * @param groups B for per-batch shift and scale, 1 for shared ones
     * @param groupRows L for per-batch, B * L for shared
     * @param chunkRows rows per chunk, at least 1
     */
    public static void modulateParamPartials(KernelContext ctx, FloatArray dy, FloatArray x, FloatArray partialShift,
            FloatArray partialScale, int cols, int groups, int groupRows, int chunkRows) {
        int perGroup = ColumnSumKernels.chunksPerGroup(groupRows, chunkRows);
        for (int chunk = ctx.globalIdy; chunk < groups * perGroup; chunk += ctx.globalGroupSizeY) {
            int g = chunk / perGroup;
            int first = g * groupRows + (chunk - g * perGroup) * chunkRows;
            int end = KernelMath.min(first + chunkRows, (g + 1) * groupRows);
            for (int c = ctx.globalIdx; c < cols; c += ctx.globalGroupSizeX) {
                float accShift = 0f;
                float accScale = 0f;
                for (int r = first; r < end; r++) {
                    float d = dy.get(r * cols + c);
                    accShift += d;
                    accScale = KernelMath.fma(d, x.get(r * cols + c), accScale);
                }
                partialShift.set(chunk * cols + c, accShift);
                partialScale.set(chunk * cols + c, accScale);
            }
        }
    }

    /**
     * The gated residual {@code out = fma(gate, y, x)}.
     *
     * @param ctx the work-item
     * @param x residual (B, L, C)
     * @param gate (gateRows, C)
     * @param y branch output (B, L, C)
     * @param out (B, L, C), written
     * @param n B * L * C
     * @param cols C
     * @param tokens L
     * @param gateRows 1 or B
     */
    public static void gatedAdd(KernelContext ctx, FloatArray x, FloatArray gate, FloatArray y, FloatArray out, int n,
            int cols, int tokens, int gateRows) {
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            out.set(i, KernelMath.fma(gate.get(modIndex(i, cols, tokens, gateRows)), y.get(i), x.get(i)));
        }
    }

    /**
     * The branch gradient of {@link #gatedAdd}: {@code dy = gate * dOut}. (The residual's gradient is dOut
     * itself; the gate's is {@link ColumnSumKernels#productPartials} of dOut and y, then
     * {@link ColumnSumKernels#sumChunks}.)
     *
     * @param ctx the work-item
     * @param dOut upstream gradient (B, L, C)
     * @param gate (gateRows, C)
     * @param dy (B, L, C), written
     * @param n B * L * C
     * @param cols C
     * @param tokens L
     * @param gateRows 1 or B
     */
    public static void gatedAddBackward(KernelContext ctx, FloatArray dOut, FloatArray gate, FloatArray dy, int n,
            int cols, int tokens, int gateRows) {
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            dy.set(i, gate.get(modIndex(i, cols, tokens, gateRows)) * dOut.get(i));
        }
    }

    /** The index into a (modRows, C) modulation vector of token element {@code i} of (B, L, C). */
    private static int modIndex(int i, int cols, int tokens, int modRows) {
        int row = i / cols;
        int c = i - row * cols;
        int batch = modRows == 1 ? 0 : row / tokens;
        return batch * cols + c;
    }
}
