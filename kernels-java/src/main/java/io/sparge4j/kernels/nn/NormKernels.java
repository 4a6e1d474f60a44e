package io.sparge4j.kernels.nn;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.WorkerGrid2D;
import io.sparge4j.kernels.types.arrays.FloatArray;

/**
 * LayerNorm and RMSNorm over the last dimension of a row-major {@code (rows, cols)} f32 matrix, with their
 * backward passes, as {@code io.sparge4j.engine.ops.Norms} computes them: per-row statistics in f32 with a
 * two-pass mean and variance (biased), {@code rstd = 1 / sqrt(var + eps)} (LayerNorm) or
 * {@code 1 / sqrt(mean(x^2) + eps)} (RMSNorm), then {@code (x - mean) * rstd * weight + bias}.
 *
 * <p>Launches:
 * <ul>
 * <li>row kernels ({@link #layerNorm}, {@link #layerNormBackward}, {@link #rmsNorm}, {@link #rmsNormBackward}):
 * one work-group per row, {@link #rowGrid}: {@code rows * GROUP} work-items in groups of {@link #GROUP} (any
 * multiple of 32 up to 1024 works; fewer groups than rows loop over the rows);</li>
 * <li>parameter gradients ({@link #layerNormParamPartials}, {@link #rmsNormParamPartials}): partial column sums
 * per chunk of rows on {@link #partialsGrid}, then {@link ColumnSumKernels#sumChunks} over the chunks.</li>
 * </ul>
 * The weight and bias are optional (Wan's norm1/norm2 have none): the {@code affine} flag says which are given,
 * and an absent one may be any array (a 1-element placeholder), which is not read.
 */
public final class NormKernels {
    /** Work-items per row in {@link #rowGrid}. */
    public static final int GROUP = 256;
    /** Flag bit of {@code affine}: a weight is given. */
    public static final int HAS_WEIGHT = 1;
    /** Flag bit of {@code affine}: a bias is given. */
    public static final int HAS_BIAS = 2;
    /** Rows per chunk of the parameter-gradient partial sums chosen by {@link #chunks}. */
    public static final int CHUNK_ROWS = 64;

    private NormKernels() {
    }

    /**
     * LayerNorm forward; also writes each row's mean and rstd for the backward pass.
     *
     * @param ctx the work-item
     * @param x input (rows, cols)
     * @param weight (cols) when {@code affine} has {@link #HAS_WEIGHT}, else not read
     * @param bias (cols) when {@code affine} has {@link #HAS_BIAS}, else not read
     * @param y output (rows, cols), written
     * @param stats (rows, 2), written: {@code [mean, rstd]} per row
     * @param rows row count
     * @param cols row length, at least 1
     * @param eps added to the variance (Wan: 1e-6)
     * @param affine {@link #HAS_WEIGHT} | {@link #HAS_BIAS}, or 0
     */
    public static void layerNorm(KernelContext ctx, FloatArray x, FloatArray weight, FloatArray bias, FloatArray y,
            FloatArray stats, int rows, int cols, float eps, int affine) {
        float[] partials = ctx.allocateFloatLocalArray(GroupSums.MAX_WARPS);
        int lid = ctx.localIdx;
        int step = ctx.localGroupSizeX;
        int groups = ctx.globalGroupSizeX / ctx.localGroupSizeX;
        for (int row = ctx.groupIdx; row < rows; row += groups) {
            int base = row * cols;
            float s = 0f;
            for (int j = lid; j < cols; j += step) {
                s += x.get(base + j);
            }
            float mean = GroupSums.sum(ctx, partials, s) / cols;
            float sq = 0f;
            for (int j = lid; j < cols; j += step) {
                float c = x.get(base + j) - mean;
                sq = KernelMath.fma(c, c, sq);
            }
            float rstd = 1f / KernelMath.sqrt(GroupSums.sum(ctx, partials, sq) / cols + eps);
            for (int j = lid; j < cols; j += step) {
                float v = (x.get(base + j) - mean) * rstd;
                if ((affine & HAS_WEIGHT) != 0) {
                    v *= weight.get(j);
                }
                if ((affine & HAS_BIAS) != 0) {
                    v += bias.get(j);
                }
                y.set(base + j, v);
            }
            if (lid == 0) {
                stats.set(2 * row, mean);
                stats.set(2 * row + 1, rstd);
            }
        }
    }

    /**
     * LayerNorm backward, the input gradient: with {@code g = dy * weight} (or {@code dy}) and
     * {@code xc = x - mean}, {@code dx = rstd * (g - mean(g) - xc * rstd^2 * mean(g * xc))}.
     *
     * @param ctx the work-item
     * @param dy upstream gradient (rows, cols)
     * @param x the forward input (rows, cols)
     * @param weight (cols) when {@code affine} has {@link #HAS_WEIGHT}, else not read
     * @param stats the forward pass's {@code [mean, rstd]} per row
     * @param dx input gradient (rows, cols), written
     * @param rows row count
     * @param cols row length, at least 1
     * @param affine the forward flags (only {@link #HAS_WEIGHT} matters)
     */
    public static void layerNormBackward(KernelContext ctx, FloatArray dy, FloatArray x, FloatArray weight,
            FloatArray stats, FloatArray dx, int rows, int cols, int affine) {
        float[] partials = ctx.allocateFloatLocalArray(GroupSums.MAX_WARPS);
        int lid = ctx.localIdx;
        int step = ctx.localGroupSizeX;
        int groups = ctx.globalGroupSizeX / ctx.localGroupSizeX;
        for (int row = ctx.groupIdx; row < rows; row += groups) {
            int base = row * cols;
            float mean = stats.get(2 * row);
            float rstd = stats.get(2 * row + 1);
            float sumG = 0f;
            float sumGx = 0f;
            for (int j = lid; j < cols; j += step) {
                float g = upstream(dy, weight, base, j, affine);
                sumG += g;
                sumGx = KernelMath.fma(g, x.get(base + j) - mean, sumGx);
            }
            float c1 = GroupSums.sum(ctx, partials, sumG) / cols;
            float c2 = rstd * rstd * GroupSums.sum(ctx, partials, sumGx) / cols;
            for (int j = lid; j < cols; j += step) {
                float g = upstream(dy, weight, base, j, affine);
                dx.set(base + j, rstd * (g - c1 - (x.get(base + j) - mean) * c2));
            }
        }
    }

    /**
     * LayerNorm backward, the parameter gradients' partial sums: for the chunk {@code k} of rows
     * {@code [k * chunkRows, (k + 1) * chunkRows)}, {@code partialW[k, c] = sum dy * (x - mean) * rstd} and
     * {@code partialB[k, c] = sum dy}. Sum them over the chunks with {@link ColumnSumKernels#sumChunks} to get
     * dWeight and dBias. Grid: {@link #partialsGrid}.
     *
     * @param ctx the work-item
     * @param dy upstream gradient (rows, cols)
     * @param x the forward input (rows, cols)
     * @param stats the forward pass's {@code [mean, rstd]} per row
     * @param partialW (chunks, cols), written
     * @param partialB (chunks, cols), written
     * @param rows row count
     * @param cols row length
     * @param chunkRows rows per chunk, at least 1; chunks = ceil(rows / chunkRows)
     */
    public static void layerNormParamPartials(KernelContext ctx, FloatArray dy, FloatArray x, FloatArray stats,
            FloatArray partialW, FloatArray partialB, int rows, int cols, int chunkRows) {
        int chunks = (rows + chunkRows - 1) / chunkRows;
        for (int chunk = ctx.globalIdy; chunk < chunks; chunk += ctx.globalGroupSizeY) {
            int end = KernelMath.min(rows, (chunk + 1) * chunkRows);
            for (int c = ctx.globalIdx; c < cols; c += ctx.globalGroupSizeX) {
                float accW = 0f;
                float accB = 0f;
                for (int r = chunk * chunkRows; r < end; r++) {
                    float d = dy.get(r * cols + c);
                    float xhat = (x.get(r * cols + c) - stats.get(2 * r)) * stats.get(2 * r + 1);
                    accW = KernelMath.fma(d, xhat, accW);
                    accB += d;
                }
                partialW.set(chunk * cols + c, accW);
                partialB.set(chunk * cols + c, accB);
            }
        }
    }

    /**
     * RMSNorm forward; also writes each row's rstd for the backward pass.
     *
     * @param ctx the work-item
     * @param x input (rows, cols)
     * @param weight (cols) when {@code hasWeight} is 1, else not read
     * @param y output (rows, cols), written
     * @param rstd (rows), written: {@code 1 / sqrt(mean(x^2) + eps)}
     * @param rows row count
     * @param cols row length, at least 1
     * @param eps added to the mean square (Wan: 1e-6)
     * @param hasWeight 1 with a weight, 0 without
     */
    public static void rmsNorm(KernelContext ctx, FloatArray x, FloatArray weight, FloatArray y, FloatArray rstd,
            int rows, int cols, float eps, int hasWeight) {
        float[] partials = ctx.allocateFloatLocalArray(GroupSums.MAX_WARPS);
        int lid = ctx.localIdx;
        int step = ctx.localGroupSizeX;
        int groups = ctx.globalGroupSizeX / ctx.localGroupSizeX;
        for (int row = ctx.groupIdx; row < rows; row += groups) {
            int base = row * cols;
            float sq = 0f;
            for (int j = lid; j < cols; j += step) {
                float v = x.get(base + j);
                sq = KernelMath.fma(v, v, sq);
            }
            float r = 1f / KernelMath.sqrt(GroupSums.sum(ctx, partials, sq) / cols + eps);
            for (int j = lid; j < cols; j += step) {
                float v = x.get(base + j) * r;
                if (hasWeight != 0) {
                    v *= weight.get(j);
                }
                y.set(base + j, v);
            }
            if (lid == 0) {
                rstd.set(row, r);
            }
        }
    }

    /**
     * RMSNorm backward, the input gradient: with {@code g = dy * weight} (or {@code dy}),
     * {@code dx = rstd * (g - x * rstd^2 * mean(g * x))}.
     *
     * @param ctx the work-item
     * @param dy upstream gradient (rows, cols)
     * @param x the forward input (rows, cols)
     * @param weight (cols) when {@code hasWeight} is 1, else not read
     * @param rstd the forward pass's rstd per row
     * @param dx input gradient (rows, cols), written
     * @param rows row count
     * @param cols row length, at least 1
     * @param hasWeight 1 with a weight, 0 without
     */
    public static void rmsNormBackward(KernelContext ctx, FloatArray dy, FloatArray x, FloatArray weight,
            FloatArray rstd, FloatArray dx, int rows, int cols, int hasWeight) {
        float[] partials = ctx.allocateFloatLocalArray(GroupSums.MAX_WARPS);
        int lid = ctx.localIdx;
        int step = ctx.localGroupSizeX;
        int groups = ctx.globalGroupSizeX / ctx.localGroupSizeX;
        for (int row = ctx.groupIdx; row < rows; row += groups) {
            int base = row * cols;
            float r = rstd.get(row);
            float sumGx = 0f;
            for (int j = lid; j < cols; j += step) {
                sumGx = KernelMath.fma(upstream(dy, weight, base, j, hasWeight), x.get(base + j), sumGx);
            }
            float c2 = r * r * GroupSums.sum(ctx, partials, sumGx) / cols;
            for (int j = lid; j < cols; j += step) {
                float g = upstream(dy, weight, base, j, hasWeight);
                dx.set(base + j, r * (g - x.get(base + j) * c2));
            }
        }
    }

    /**
     * RMSNorm backward, the weight gradient's partial sums: {@code partialW[k, c] = sum dy * x * rstd} over
     * chunk {@code k}'s rows; then {@link ColumnSumKernels#sumChunks}. Grid: {@link #partialsGrid}.
     *
     * @param ctx the work-item
     * @param dy upstream gradient (rows, cols)
     * @param x the forward input (rows, cols)
     * @param rstd the forward pass's rstd per row
     * @param partialW (chunks, cols), written
     * @param rows row count
     * @param cols row length
     * @param chunkRows rows per chunk, at least 1
     */
    public static void rmsNormParamPartials(KernelContext ctx, FloatArray dy, FloatArray x, FloatArray rstd,
            FloatArray partialW, int rows, int cols, int chunkRows) {
        int chunks = (rows + chunkRows - 1) / chunkRows;
        for (int chunk = ctx.globalIdy; chunk < chunks; chunk += ctx.globalGroupSizeY) {
            int end = KernelMath.min(rows, (chunk + 1) * chunkRows);
            for (int c = ctx.globalIdx; c < cols; c += ctx.globalGroupSizeX) {
                float accW = 0f;
                for (int r = chunk * chunkRows; r < end; r++) {
                    accW = KernelMath.fma(dy.get(r * cols + c), x.get(r * cols + c) * rstd.get(r), accW);
                }
                partialW.set(chunk * cols + c, accW);
            }
        }
    }

    /** {@code dy * weight[j]} with a weight (bit {@link #HAS_WEIGHT} of {@code affine}), else {@code dy}. */
    private static float upstream(FloatArray dy, FloatArray weight, int base, int j, int affine) {
        float g = dy.get(base + j);
        if ((affine & HAS_WEIGHT) != 0) {
            g *= weight.get(j);
        }
        return g;
    }

    /**
     * @param rows row count
     * @return the grid of the row kernels: one group of {@link #GROUP} work-items per row (at least one group)
     */
    public static WorkerGrid1D rowGrid(int rows) {
        return rowGrid(rows, GROUP * 4);
    }

    /**
     * @param rows row count
     * @param cols row length
     * @return the grid of the row kernels sized to the rows: one group per row of about {@code cols / 4}
     *     work-items, a multiple of 32 from 32 to {@link #GROUP}. A DiT of width 128 then gets one sub-group per row
     *     instead of 256 work-items of which 128 idle and whose barriers span eight sub-groups (LayerNorm and
     *     RMSNorm were ~11% of a batched training step's device time at 256, SPARGE_PROFILE, BENCHMARKS.md session 8)
     */
    public static WorkerGrid1D rowGrid(int rows, int cols) {
        int wanted = (Math.max(1, cols) + 3) / 4;
        int local = Math.min(GROUP, Math.max(GroupSums.WARP, (wanted + GroupSums.WARP - 1) / GroupSums.WARP
                * GroupSums.WARP));
        WorkerGrid1D g = new WorkerGrid1D((long) Math.max(1, rows) * local);
        g.setLocalWork(local, 1, 1);
        return g;
    }

    /**
     * @param rows row count
     * @return the chunk count of the parameter-gradient partials with {@link #CHUNK_ROWS} rows per chunk
     */
    public static int chunks(int rows) {
        return Math.max(1, (rows + CHUNK_ROWS - 1) / CHUNK_ROWS);
    }

    /**
     * @param cols row length
     * @param chunks chunk count
     * @return the grid of the partial-sum kernels, {@link ColumnSumKernels#partialsGrid}
     */
    public static WorkerGrid2D partialsGrid(int cols, int chunks) {
        return ColumnSumKernels.partialsGrid(cols, chunks);
    }

    static long roundUp(long n, long m) {
        return (n + m - 1) / m * m;
    }
}
