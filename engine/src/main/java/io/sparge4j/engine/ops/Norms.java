package io.sparge4j.engine.ops;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.cpu.vec.BinaryOp;
import io.sparge4j.engine.cpu.vec.FloatKernels;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * LayerNorm and RMSNorm over the last dimension of an f32 tensor, with their backward passes.
 *
 * <p>Statistics are computed in f32 with a two-pass mean and variance ({@code mean = sum(x) / D}, then
 * {@code var = sum((x - mean)^2) / D}), which, unlike {@code E[x^2] - mean^2}, does not cancel when the
 * mean is large against the spread; the vector kernels' lane-wise partial sums keep long rows accurate.
 * The backward recomputes the per-row statistics instead of storing them.
 */
public final class Norms {
    /** Elements per parallel chunk of rows. */
    private static final int CHUNK = 16384;

    private Norms() {
    }

    /**
     * Gradients of a normalisation.
     *
     * @param dx gradient with respect to the input, shaped like it
     * @param dWeight gradient with respect to the weight (D), or null if there was no weight
     * @param dBias gradient with respect to the bias (D), or null if there was no bias
     */
    public record NormGrads(Tensor dx, Tensor dWeight, Tensor dBias) {
    }

    /**
     * LayerNorm over the last dimension: {@code (x - mean) / sqrt(var + eps) * weight + bias}, with the
     * biased variance, as PyTorch computes it.
     *
     * @param x f32 tensor (..., D), rank at least 1
     * @param weight f32 (D), or null for no scaling (Wan's non-affine LayerNorm)
     * @param bias f32 (D), or null for no shift
     * @param eps added to the variance, at least 0 (Wan uses 1e-6)
     * @return a new tensor shaped like x
     */
    public static Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, float eps) {
        return forward("layerNorm", true, x, weight, bias, eps, FloatKernels.preferred());
    }

    /**
     * RMSNorm over the last dimension: {@code x / sqrt(mean(x^2) + eps) * weight}.
     *
     * @param x f32 tensor (..., D), rank at least 1
     * @param weight f32 (D), or null for no scaling
     * @param eps added to the mean square, at least 0 (Wan uses 1e-6)
     * @return a new tensor shaped like x
     */
    public static Tensor rmsNorm(Tensor x, Tensor weight, float eps) {
        return forward("rmsNorm", false, x, weight, null, eps, FloatKernels.preferred());
    }

    /**
     * Backward of {@link #layerNorm}.
     *
     * @param dy upstream gradient, shaped like x
     * @param x the forward input
     * @param weight the forward weight, or null
     * @param bias the forward bias, or null (only whether it is present matters)
     * @param eps the forward eps
     * @return dx, dWeight (null without weight), dBias (null without bias)
     */
    public static NormGrads layerNormBackward(Tensor dy, Tensor x, Tensor weight, Tensor bias, float eps) {
        return backward("layerNormBackward", true, dy, x, weight, bias, eps, FloatKernels.preferred());
    }

    /**
     * Backward of {@link #rmsNorm}.
     *
     * @param dy upstream gradient, shaped like x
     * @param x the forward input
     * @param weight the forward weight, or null
     * @param eps the forward eps
     * @return dx, dWeight (null without weight), and a null dBias
     */
    public static NormGrads rmsNormBackward(Tensor dy, Tensor x, Tensor weight, float eps) {
        return backward("rmsNormBackward", false, dy, x, weight, null, eps, FloatKernels.preferred());
    }

    static Tensor forward(String op, boolean centered, Tensor x, Tensor weight, Tensor bias, float eps, FloatKernels k) {
        int d = checkArgs(op, x, weight, bias, eps);
        Tensor out = Tensor.allocate(DType.F32, x.shape());
        MemorySegment xs = x.segment();
        MemorySegment os = out.segment();
        MemorySegment ws = weight == null ? null : weight.segment();
        MemorySegment bs = bias == null ? null : bias.segment();
        forEachRowRange(x, d, (from, to) -> {
            for (int r = from; r < to; r++) {
                long off = (long) r * d;
                float center = centered ? mean(k, xs, off, d) : 0f;
                float rstd = inverseStd(k, xs, off, d, center, centered, eps);
                k.normalize(xs, off, center, rstd, ws, 0, bs, 0, os, off, d);
            }
        });
        return out;
    }

    static NormGrads backward(String op, boolean centered, Tensor dy, Tensor x, Tensor weight, Tensor bias, float eps,
            FloatKernels k) {
        int d = checkArgs(op, x, weight, bias, eps);
        Check.f32(op, "dy", dy);
        Check.sameShape(op, "x", x, "dy", dy);
        int rows = rows(x, d);
        Tensor dx = Tensor.allocate(DType.F32, x.shape());
        // per-part partial sums of dWeight and dBias, merged after the parallel loop
        int parts = Math.max(1, Math.min(CpuRuntime.threads(), rows));
        Tensor partialW = weight == null ? null : Tensor.allocate(DType.F32, parts, d);
        Tensor partialB = bias == null ? null : Tensor.allocate(DType.F32, parts, d);
        MemorySegment xs = x.segment();
        MemorySegment dys = dy.segment();
        MemorySegment dxs = dx.segment();
        MemorySegment ws = weight == null ? null : weight.segment();
        MemorySegment pw = partialW == null ? null : partialW.segment();
        MemorySegment pb = partialB == null ? null : partialB.segment();
        CpuRuntime.parallelFor(parts, p -> {
            int from = (int) ((long) rows * p / parts);
            int to = (int) ((long) rows * (p + 1) / parts);
            long partOff = (long) p * d;
            for (int r = from; r < to; r++) {
                long off = (long) r * d;
                float center = centered ? mean(k, xs, off, d) : 0f;
                float rstd = inverseStd(k, xs, off, d, center, centered, eps);
                // g = dy * weight, staged in the dx row
                MemorySegment g = dys;
                if (ws != null) {
                    k.binary(BinaryOp.MUL, dys, off, ws, 0, dxs, off, d);
                    g = dxs;
                }
                float c1 = centered ? k.sum(g, off, d) / d : 0f;
                float c2 = rstd * rstd * k.dotCentered(g, off, xs, off, d, center) / d;
                k.normalizeBackward(g, off, xs, off, center, rstd, c1, c2, dxs, off, d);
                if (pw != null) {
                    k.accumulateNormalized(dys, off, xs, off, center, rstd, pw, partOff, d);
                }
                if (pb != null) {
                    k.axpy(1f, dys, off, pb, partOff, d);
                }
            }
        });
        Tensor dWeight = partialW == null ? null : sumParts(k, partialW, parts, d);
        Tensor dBias = partialB == null ? null : sumParts(k, partialB, parts, d);
        return new NormGrads(dx, dWeight, dBias);
    }

    private static Tensor sumParts(FloatKernels k, Tensor partial, int parts, int d) {
        Tensor out = Tensor.allocate(DType.F32, d);
        for (int p = 0; p < parts; p++) {
            k.axpy(1f, partial.segment(), (long) p * d, out.segment(), 0, d);
        }
        partial.close();
        return out;
    }

    private static float mean(FloatKernels k, MemorySegment x, long off, int d) {
        return k.sum(x, off, d) / d;
    }

    /** @return 1 / sqrt(var + eps) (LayerNorm) or 1 / sqrt(mean(x^2) + eps) (RMSNorm, center 0) */
    private static float inverseStd(FloatKernels k, MemorySegment x, long off, int d, float center, boolean centered,
            float eps) {
        float sq = centered ? k.sumSquaredDeviation(x, off, d, center) : k.dot(x, off, x, off, d);
        return (float) (1.0 / Math.sqrt((double) sq / d + eps));
    }

    private static int checkArgs(String op, Tensor x, Tensor weight, Tensor bias, float eps) {
        Check.f32(op, "x", x);
        Check.minRank(op, "x", x, 1);
        int d = x.dim(-1);
        if (weight != null) {
            Check.f32(op, "weight", weight);
            Check.shape(op, "weight", weight, d);
        }
        if (bias != null) {
            Check.f32(op, "bias", bias);
            Check.shape(op, "bias", bias, d);
        }
        Check.that(eps >= 0 && Float.isFinite(eps), op, "eps", eps, "a finite number >= 0");
        return d;
    }

    private static int rows(Tensor x, int d) {
        return d == 0 ? 0 : Math.toIntExact(x.numel() / d);
    }

    private static void forEachRowRange(Tensor x, int d, CpuRuntime.RangeBody body) {
        CpuRuntime.parallelForRange(rows(x, d), Math.max(1, CHUNK / Math.max(1, d)), body);
    }
}
