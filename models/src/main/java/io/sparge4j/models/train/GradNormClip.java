package io.sparge4j.models.train;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Global-norm gradient clipping with {@code torch.nn.utils.clip_grad_norm_}'s semantics (L2 norm): the norm of all
 * gradients together is computed; if {@code maxNorm / (norm + 1e-6)} is below 1, every gradient is multiplied by
 * it; the norm before clipping is returned.
 *
 * <p>The sum of squares is accumulated in float64 (PyTorch accumulates in f32), over fixed chunks whose partial
 * sums are added in a fixed order, so the result is the same for any thread count. The scale is rounded to f32
 * once and multiplied into each f32 element, as PyTorch's {@code mul_} does.
 */
public final class GradNormClip {
    /** The constant PyTorch adds to the norm before dividing. */
    public static final double EPS = 1e-6;

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;
    private static final int CHUNK = 16384;

    private GradNormClip() {
    }

    /**
     * @param gradients f32 tensors
     * @return the L2 norm of all their elements together (NaN or infinity if any element is)
     */
    public static double norm(Map<String, Tensor> gradients) {
        return Math.sqrt(sumOfSquares(gradients));
    }

    /**
     * The squared norm, in float64 over the fixed chunks (what a sharded run adds across ranks before the root).
     *
     * @param gradients f32 tensors
     * @return the sum of the squares of all their elements
     */
    public static double sumOfSquares(Map<String, Tensor> gradients) {
        List<long[]> chunks = chunks("norm", gradients);
        List<Tensor> tensors = new ArrayList<>(gradients.values());
        double[] partial = new double[chunks.size()];
        CpuRuntime.parallelForRange(chunks.size(), 1, (c0, c1) -> {
            for (int c = c0; c < c1; c++) {
                long[] chunk = chunks.get(c);
                MemorySegment s = tensors.get((int) chunk[0]).segment();
                double sum = 0;
                for (long i = chunk[1], end = chunk[1] + chunk[2]; i < end; i++) {
                    double x = s.getAtIndex(F32, i);
                    sum += x * x;
                }
                partial[c] = sum;
            }
        });
        double total = 0;
        for (double p : partial) {
            total += p;
        }
        return total;
    }

    /**
     * Clips in place.
     *
     * @param gradients f32 tensors, scaled in place when their norm exceeds {@code maxNorm}
     * @param maxNorm the largest norm allowed, above 0 and finite; pass {@code Double.POSITIVE_INFINITY} to only
     *     measure
     * @return the norm before clipping
     * @throws IllegalArgumentException if maxNorm is not above 0, or a gradient is not f32
     */
    public static double clip(Map<String, Tensor> gradients, double maxNorm) {
        if (!(maxNorm > 0)) {
            throw new IllegalArgumentException("GradNormClip.clip: maxNorm is " + maxNorm
                    + ", expected a number above 0 (Double.POSITIVE_INFINITY to measure only)");
        }
        double norm = norm(gradients);
        clipToNorm(gradients, norm, maxNorm);
        return norm;
    }

    /**
     * Scales the gradients as {@link #clip} does, given their norm (measured elsewhere, e.g. over all ranks' shards).
     *
     * @param gradients f32 tensors, scaled in place when {@code norm} exceeds {@code maxNorm}
     * @param norm their global norm
     * @param maxNorm the largest norm allowed
     */
    public static void clipToNorm(Map<String, Tensor> gradients, double norm, double maxNorm) {
        double coef = maxNorm / (norm + EPS);
        if (coef < 1) {   // false for a NaN norm: the caller sees the NaN and decides
            scale(gradients, (float) coef);
        }
    }

    /**
     * Multiplies every element by a factor, in place.
     *
     * @param tensors f32 tensors
     * @param factor the factor
     */
    public static void scale(Map<String, Tensor> tensors, float factor) {
        List<long[]> chunks = chunks("scale", tensors);
        List<Tensor> list = new ArrayList<>(tensors.values());
        CpuRuntime.parallelForRange(chunks.size(), 1, (c0, c1) -> {
            for (int c = c0; c < c1; c++) {
                long[] chunk = chunks.get(c);
                MemorySegment s = list.get((int) chunk[0]).segment();
                for (long i = chunk[1], end = chunk[1] + chunk[2]; i < end; i++) {
                    s.setAtIndex(F32, i, s.getAtIndex(F32, i) * factor);
                }
            }
        });
    }

    /** Fixed chunks {tensor index, from, length} over every tensor, after checking each is f32. */
    private static List<long[]> chunks(String op, Map<String, Tensor> tensors) {
        if (tensors == null) {
            throw new IllegalArgumentException("GradNormClip." + op + ": gradients is null, expected a map of tensors");
        }
        List<long[]> chunks = new ArrayList<>();
        int index = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            Tensor t = e.getValue();
            if (t == null || t.dtype() != DType.F32) {
                throw new IllegalArgumentException("GradNormClip." + op + ": gradient '" + e.getKey() + "' is "
                        + (t == null ? "null" : t.dtype().toString()) + ", expected an F32 tensor");
            }
            for (long from = 0; from < t.numel(); from += CHUNK) {
                chunks.add(new long[] {index, from, Math.min(CHUNK, t.numel() - from)});
            }
            index++;
        }
        return chunks;
    }
}
