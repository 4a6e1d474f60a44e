package io.sparge4j.kernels.attention;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;

/**
 * bf16 and f16 to f32 widening on the device, the counterparts of {@code TensorKernels.toBFloat16} and
 * {@code toFloat16}: the attention op layer widens 16-bit q, k, v for the paths that run in f32 (cross-attention's
 * row kernels) and gives models a way back from 16-bit tensors. Widening is exact.
 */
public final class AttentionCastKernels {
    private AttentionCastKernels() {
    }

    /**
     * {@code dst[i] = src[i]} widened to f32 (exact), grid-stride. Launch: any 1D grid (e.g.
     * {@code ActivationKernels.grid(n)}).
     *
     * @param ctx the work-item
     * @param src the input (n) bf16
     * @param dst the output (n) f32, written
     * @param n element count
     */
    public static void toFloat(KernelContext ctx, BFloat16Array src, FloatArray dst, int n) {
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            dst.set(i, src.get(i));
        }
    }

    /**
     * {@link #toFloat} for f16 (exact, subnormals included). Launch: any 1D grid.
     *
     * @param ctx the work-item
     * @param src the input (n) f16
     * @param dst the output (n) f32, written
     * @param n element count
     */
    public static void halfToFloat(KernelContext ctx, HalfFloatArray src, FloatArray dst, int n) {
        for (int i = ctx.globalIdx; i < n; i += ctx.globalGroupSizeX) {
            dst.set(i, src.get(i));
        }
    }
}
