package io.sparge4j.kernels.selftest;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.annotations.Constant;
import io.sparge4j.kernels.annotations.Parallel;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

/**
 * The portability suite's kernels: the same methods run on the CPU emulator, and later through the kernel JIT
 * on CUDA and OpenCL, and in {@code sparge selftest}. Written TornadoVM-style: static methods, first parameter
 * a {@link KernelContext}, only primitives, kernel arrays and {@link KernelMath}, constant local sizes, an
 * explicit bounds guard, and barriers reached by every work-item.
 */
public final class PortabilityKernels {
    /** Work-group size limit of {@link #reduceSum}: its local array has this many floats. */
    public static final int REDUCE_MAX_GROUP = 256;
    /** Tile edge of {@link #gemmTiled}: launch with 16x16 work-groups. */
    public static final int TILE = 16;
    /** Work-group size of {@link #softmaxRows} and the MMA kernels: one 32-wide sub-group. */
    public static final int WARP = 32;

    private PortabilityKernels() {
    }

    /**
     * {@code y[i] = alpha * x[i] + y[i]} for {@code i < n}; 1D grid of at least {@code n} work-items.
     *
     * @param ctx the work-item
     * @param alpha scale
     * @param x input
     * @param y input and output
     * @param n element count
     */
    public static void saxpy(KernelContext ctx, float alpha, FloatArray x, FloatArray y, int n) {
        int i = ctx.globalIdx;
        if (i < n) {
            y.set(i, KernelMath.fma(alpha, x.get(i), y.get(i)));
        }
    }

    /**
     * Per-group sums by a tree reduction in local memory: {@code partial[g] = sum of input[i]} over the
     * group's work-items {@code i < n}. 1D grid; the work-group size must be a power of two, at most
     * {@link #REDUCE_MAX_GROUP}.
     *
     * @param ctx the work-item
     * @param input values
     * @param partial one sum per work-group
     * @param n element count
     */
    public static void reduceSum(KernelContext ctx, FloatArray input, FloatArray partial, int n) {
        float[] scratch = ctx.allocateFloatLocalArray(REDUCE_MAX_GROUP);
        int lid = ctx.localIdx;
        int gid = ctx.globalIdx;
        scratch[lid] = gid < n ? input.get(gid) : 0f;
        ctx.localBarrier();
        for (int stride = ctx.localGroupSizeX / 2; stride > 0; stride /= 2) {
            if (lid < stride) {
                scratch[lid] += scratch[lid + stride];
            }
            ctx.localBarrier();
        }
        if (lid == 0) {
            partial.set(ctx.groupIdx, scratch[0]);
        }
    }

    /**
     * {@code C (m x n) = A (m x k) * B (k x n)}, row-major, through {@link #TILE}x{@link #TILE} tiles in local
     * memory. 2D grid: x over columns and y over rows, each rounded up to a multiple of {@link #TILE}, with
     * {@link #TILE}x{@link #TILE} work-groups. Any m, n, k.
     *
     * @param ctx the work-item
     * @param a A
     * @param b B
     * @param c C (written)
     * @param m rows of A and C
     * @param n columns of B and C
     * @param k columns of A, rows of B
     */
    public static void gemmTiled(KernelContext ctx, FloatArray a, FloatArray b, FloatArray c, int m, int n, int k) {
        float[] tileA = ctx.allocateFloatLocalArray(TILE * TILE);
        float[] tileB = ctx.allocateFloatLocalArray(TILE * TILE);
        int tx = ctx.localIdx;
        int ty = ctx.localIdy;
        int col = ctx.groupIdx * TILE + tx;
        int row = ctx.groupIdy * TILE + ty;
        float acc = 0f;
        for (int t = 0; t < k; t += TILE) {
            int ak = t + tx;
            int bk = t + ty;
            tileA[ty * TILE + tx] = row < m && ak < k ? a.get(row * k + ak) : 0f;
            tileB[ty * TILE + tx] = bk < k && col < n ? b.get(bk * n + col) : 0f;
            ctx.localBarrier();
            for (int p = 0; p < TILE; p++) {
                acc = KernelMath.fma(tileA[ty * TILE + p], tileB[p * TILE + tx], acc);
            }
            ctx.localBarrier();
        }
        if (row < m && col < n) {
            c.set(row * n + col, acc);
        }
    }

    /**
     * Row-wise softmax of a {@code rows x cols} matrix with sub-group reductions: one work-group of
     * {@link #WARP} work-items (one sub-group) per row, so the grid is {@code rows * WARP} with local size
     * {@link #WARP}. Max by shuffle-down, sum by {@code simdSum}.
     *
     * @param ctx the work-item
     * @param input the matrix
     * @param output the softmax (written)
     * @param rows row count
     * @param cols row length, any
     */
    public static void softmaxRows(KernelContext ctx, FloatArray input, FloatArray output, int rows, int cols) {
        int row = ctx.groupIdx;
        int lane = ctx.localIdx;
        if (row < rows) {
            int base = row * cols;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = lane; j < cols; j += WARP) {
                max = KernelMath.max(max, input.get(base + j));
            }
            for (int delta = WARP / 2; delta > 0; delta /= 2) {
                max = KernelMath.max(max, ctx.simdShuffleDown(max, delta));
            }
            max = ctx.simdBroadcastFirst(max);
            float sum = 0f;
            for (int j = lane; j < cols; j += WARP) {
                float e = KernelMath.exp(input.get(base + j) - max);
                output.set(base + j, e);
                sum += e;
            }
            float inv = 1f / ctx.simdSum(sum);
            for (int j = lane; j < cols; j += WARP) {
                output.set(base + j, output.get(base + j) * inv);
            }
        }
    }

    /**
     * Histogram with global atomics: {@code bins[values[i]] += 1} for {@code i < n}; values must lie in
     * {@code [0, bins.getSize())}. 1D grid.
     *
     * @param ctx the work-item
     * @param values bin indices
     * @param bins counts (accumulated)
     * @param n element count
     */
    public static void histogram(KernelContext ctx, IntArray values, IntArray bins, int n) {
        int i = ctx.globalIdx;
        if (i < n) {
            ctx.atomicAdd(bins, values.get(i), 1);
        }
    }

    /**
     * {@code C (16 x 8, f32) = A (16 x k, f16) * B (k x 8, f16)}, row-major, with k a multiple of 16, by one
     * sub-group through {@link KernelContext#mma16x8x16F16}. Launch one work-group of {@link #WARP}
     * work-items.
     *
     * @param ctx the work-item
     * @param a A
     * @param b B
     * @param c C (written)
     * @param k the reduction length, a multiple of 16
     */
    public static void mmaTileF16(KernelContext ctx, HalfFloatArray a, HalfFloatArray b, FloatArray c, int k) {
        short[] tileA = ctx.allocateHalfFloatLocalArray(16 * 16);
        short[] tileB = ctx.allocateHalfFloatLocalArray(16 * 8);
        float[] acc = ctx.allocateFloatLocalArray(16 * 8);
        int lane = ctx.localIdx;
        for (int e = lane; e < 16 * 8; e += WARP) {
            acc[e] = 0f;
        }
        for (int t = 0; t < k; t += 16) {
            for (int e = lane; e < 16 * 16; e += WARP) {
                tileA[e] = a.getHalfBits((e / 16) * k + t + e % 16);
            }
            for (int e = lane; e < 16 * 8; e += WARP) {
                tileB[e] = b.getHalfBits((t + e / 8) * 8 + e % 8);
            }
            ctx.localBarrier();
            ctx.mma16x8x16F16(tileA, 0, 16, tileB, 0, 8, acc, 0, 8);
            ctx.localBarrier();
        }
        for (int e = lane; e < 16 * 8; e += WARP) {
            c.set(e, acc[e]);
        }
    }

    /**
     * As {@link #mmaTileF16} with bf16 inputs, through {@link KernelContext#mma16x8x16BF16}.
     *
     * @param ctx the work-item
     * @param a A (16 x k)
     * @param b B (k x 8)
     * @param c C (16 x 8, written)
     * @param k the reduction length, a multiple of 16
     */
    public static void mmaTileBF16(KernelContext ctx, BFloat16Array a, BFloat16Array b, FloatArray c, int k) {
        short[] tileA = ctx.allocateBFloat16LocalArray(16 * 16);
        short[] tileB = ctx.allocateBFloat16LocalArray(16 * 8);
        float[] acc = ctx.allocateFloatLocalArray(16 * 8);
        int lane = ctx.localIdx;
        for (int e = lane; e < 16 * 8; e += WARP) {
            acc[e] = 0f;
        }
        for (int t = 0; t < k; t += 16) {
            for (int e = lane; e < 16 * 16; e += WARP) {
                tileA[e] = a.getHalfBits((e / 16) * k + t + e % 16);
            }
            for (int e = lane; e < 16 * 8; e += WARP) {
                tileB[e] = b.getHalfBits((t + e / 8) * 8 + e % 8);
            }
            ctx.localBarrier();
            ctx.mma16x8x16BF16(tileA, 0, 16, tileB, 0, 8, acc, 0, 8);
            ctx.localBarrier();
        }
        for (int e = lane; e < 16 * 8; e += WARP) {
            c.set(e, acc[e]);
        }
    }

    /**
     * {@code y[i] = gelu(x[i]) * scale} (tanh form) through nested static helpers, which the JIT inlines or
     * emits as device functions. 1D grid.
     *
     * @param ctx the work-item
     * @param x input
     * @param y output
     * @param scale factor
     * @param n element count
     */
    public static void geluScaled(KernelContext ctx, FloatArray x, FloatArray y, float scale, int n) {
        int i = ctx.globalIdx;
        if (i < n) {
            y.set(i, gelu(x.get(i)) * scale);
        }
    }

    private static float gelu(float v) {
        float inner = 0.7978845608f * (v + 0.044715f * cube(v));
        return 0.5f * v * (1f + KernelMath.tanh(inner));
    }

    private static float cube(float v) {
        return v * v * v;
    }

    /**
     * Sliding-window sums {@code y[i] = x[i] + ... + x[i + width - 1]} (terms past the end count as 0), with
     * {@code width} a specialisation constant: the JIT folds it, so the loop unrolls. 1D grid.
     *
     * @param ctx the work-item
     * @param x input
     * @param y output
     * @param width window length, a specialisation constant
     * @param n element count
     */
    public static void windowSum(KernelContext ctx, FloatArray x, FloatArray y, @Constant int width, int n) {
        int i = ctx.globalIdx;
        if (i < n) {
            float sum = 0f;
            for (int j = 0; j < width; j++) {
                if (i + j < n) {
                    sum += x.get(i + j);
                }
            }
            y.set(i, sum);
        }
    }

    /**
     * A loop-style kernel (no {@link KernelContext}): {@code C = A * B} for row-major {@code n x n} matrices, the
     * two outer loops marked {@link Parallel} as in TornadoVM's loop API. Any grid computes all of C.
     *
     * @param a A
     * @param b B
     * @param c C (written)
     * @param n the matrices' edge
     */
    public static void matmulLoops(FloatArray a, FloatArray b, FloatArray c, int n) {
        for (@Parallel int row = 0; row < n; row++) {
            for (@Parallel int col = 0; col < n; col++) {
                float acc = 0f;
                for (int p = 0; p < n; p++) {
                    acc = KernelMath.fma(a.get(row * n + p), b.get(p * n + col), acc);
                }
                c.set(row * n + col, acc);
            }
        }
    }
}
