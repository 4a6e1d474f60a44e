package io.sparge4j.kernels.nn;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.types.arrays.FloatArray;

/**
 * Wan2.1's 3D rotary position embedding and its backward, as {@code io.sparge4j.engine.ops.Rope} computes them,
 * on f32 queries or keys of shape (B, L, H, d) (for (B, H, L, d) pass {@code heads = 1} and
 * {@code rows = B * H * L}, as the CPU op does). Pair {@code i} of a head, {@code (x[2i], x[2i+1])}, of token
 * {@code l < gridTokens} is rotated by that token's angle for the pair; tokens past the grid (padding) are copied.
 *
 * <p>The angles come from {@link RopeTables#cosSin}: one row of d/2 {@code (cos, sin)} pairs per grid token,
 * computed in float64 on the host (exactly the CPU op's angles) and rounded to float once. The rotation itself is
 * float arithmetic ({@code re*cos - im*sin}, {@code re*sin + im*cos}, fused where the device contracts), so the
 * result is within a few float ulps of |x| of the CPU op's, which multiplies in float64 and rounds once. One
 * work-item per pair, on {@link ActivationKernels#grid} of {@code rows * heads * d/2}; the rotation may be in
 * place ({@code out == x}).
 */
public final class RopeKernels {
    private RopeKernels() {
    }

    /**
     * Rotates every pair by {@code exp(+j * angle)}.
     *
     * @param ctx the work-item
     * @param x input, (rows, heads, headDim) with rows = B * L
     * @param cosSin {@link RopeTables#cosSin} of the grid and headDim: (gridTokens, headDim / 2, 2)
     * @param out output shaped like x, written (may be x)
     * @param rows B * L
     * @param tokens L; the token of row r is {@code r % tokens}
     * @param gridTokens frames * rows * cols of the latent grid, at most L
     * @param heads H
     * @param headDim d, even
     */
    public static void ropeApply(KernelContext ctx, FloatArray x, FloatArray cosSin, FloatArray out, int rows,
            int tokens, int gridTokens, int heads, int headDim) {
        rotate(ctx, x, cosSin, out, rows, tokens, gridTokens, heads, headDim, 1f);
    }

    /**
     * Backward of {@link #ropeApply}: the rotation is orthogonal, so the gradient is rotated by the negative angles.
     *
     * @param ctx the work-item
     * @param dy gradient of the output, (rows, heads, headDim)
     * @param cosSin the table given to the forward pass
     * @param dx the input gradient shaped like dy, written (may be dy)
     * @param rows B * L
     * @param tokens L
     * @param gridTokens frames * rows * cols of the latent grid, at most L
     * @param heads H
     * @param headDim d, even
     */
    public static void ropeBackward(KernelContext ctx, FloatArray dy, FloatArray cosSin, FloatArray dx, int rows,
            int tokens, int gridTokens, int heads, int headDim) {
        rotate(ctx, dy, cosSin, dx, rows, tokens, gridTokens, heads, headDim, -1f);
    }

    private static void rotate(KernelContext ctx, FloatArray x, FloatArray cosSin, FloatArray out, int rows,
            int tokens, int gridTokens, int heads, int headDim, float sign) {
        int half = headDim / 2;
        int pairs = rows * heads * half;
        for (int p = ctx.globalIdx; p < pairs; p += ctx.globalGroupSizeX) {
            int rowHead = p / half;
            int i = p - rowHead * half;
            int token = (rowHead / heads) % tokens;
            float re = x.get(2 * p);
            float im = x.get(2 * p + 1);
            if (token < gridTokens) {
                int t = 2 * (token * half + i);
                float c = cosSin.get(t);
                float s = sign * cosSin.get(t + 1);
                out.set(2 * p, KernelMath.fma(re, c, -im * s));
                out.set(2 * p + 1, KernelMath.fma(re, s, im * c));
            } else {
                out.set(2 * p, re);
                out.set(2 * p + 1, im);
            }
        }
    }
}
