package io.sparge4j.engine.cpu.vec;

import io.sparge4j.engine.cpu.SimdSupport;

import java.lang.foreign.MemorySegment;

/**
 * The inner loops of the CPU element-wise, normalisation, activation and softmax ops, over runs of f32
 * values in memory segments.
 *
 * <p>Every method works on {@code n} consecutive floats; offsets count floats, not bytes. Outputs may
 * alias inputs element for element (in-place use) but must not overlap them otherwise. There are two
 * implementations with the same contract: {@link #simd()} (Vector API) and {@link #scalar()} (plain
 * Java, for JVMs without the Vector API); {@link #preferred()} picks one. Reductions may sum in a
 * different order in the two, so their results agree to rounding, not bit for bit.
 */
public interface FloatKernels {

    /** @return the SIMD kernels when the Vector API is available, else the scalar ones */
    static FloatKernels preferred() {
        return Selection.PREFERRED;
    }

    /** @return the plain-Java kernels (always available) */
    static FloatKernels scalar() {
        return ScalarFloatKernels.INSTANCE;
    }

    /**
     * @return the Vector API kernels
     * @throws IllegalStateException if the Vector API is not available in this JVM
     */
    static FloatKernels simd() {
        if (!SimdSupport.available()) {
            throw new IllegalStateException("FloatKernels.simd: the Vector API is not available;"
                    + " add --add-modules jdk.incubator.vector to the JVM flags");
        }
        return Selection.simdInstance();
    }

    /** @return a short name for messages and benchmarks ("simd" or "scalar") */
    String name();

    // ------------------------------------------------------------------ reductions

    /** @return the sum of {@code x[0..n)} */
    float sum(MemorySegment x, long xOff, int n);

    /** @return the sum of {@code a[i] * b[i]} over {@code [0, n)} */
    float dot(MemorySegment a, long aOff, MemorySegment b, long bOff, int n);

    /** @return the largest of {@code x[0..n)}, or negative infinity when {@code n == 0} */
    float max(MemorySegment x, long xOff, int n);

    /** @return the sum of {@code (x[i] - center)^2}: the second pass of a two-pass variance */
    float sumSquaredDeviation(MemorySegment x, long xOff, int n, float center);

    /** @return the sum of {@code g[i] * (x[i] - center)} */
    float dotCentered(MemorySegment g, long gOff, MemorySegment x, long xOff, int n, float center);

    // ------------------------------------------------------------------ maps

    /** {@code y[i] += alpha * x[i]}. */
    void axpy(float alpha, MemorySegment x, long xOff, MemorySegment y, long yOff, int n);

    /** {@code out[i] = alpha * x[i]}. */
    void scale(MemorySegment x, long xOff, float alpha, MemorySegment out, long outOff, int n);

    /** {@code out[i] = a[i] op b[i]}. */
    void binary(BinaryOp op, MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out, long outOff, int n);

    /** {@code out[i] = a[i] op s}. */
    void binaryScalarRight(BinaryOp op, MemorySegment a, long aOff, float s, MemorySegment out, long outOff, int n);

    /** {@code out[i] = s op b[i]}. */
    void binaryScalarLeft(BinaryOp op, float s, MemorySegment b, long bOff, MemorySegment out, long outOff, int n);

    /** {@code out[i] = a[i] * b[i] + c[i]}. */
    void mulAdd(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment c, long cOff,
            MemorySegment out, long outOff, int n);

    /** {@code acc[i] += a[i] * b[i]}. */
    void accumulateProduct(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment acc, long accOff, int n);

    // ------------------------------------------------------------------ normalisation

    /**
     * {@code out[i] = (x[i] - center) * factor * w[i] + bias[i]}, where a null {@code w} counts as ones
     * and a null {@code bias} as zeros.
     */
    void normalize(MemorySegment x, long xOff, float center, float factor, MemorySegment w, long wOff,
            MemorySegment bias, long biasOff, MemorySegment out, long outOff, int n);

    /**
     * The input gradient of a normalisation row: {@code out[i] = factor * (g[i] - c1 - (x[i] - center) * c2)}.
     * {@code out} may alias {@code g}.
     */
    void normalizeBackward(MemorySegment g, long gOff, MemorySegment x, long xOff, float center, float factor,
            float c1, float c2, MemorySegment out, long outOff, int n);

    /** {@code acc[i] += dy[i] * (x[i] - center) * factor}: the weight gradient of a normalisation row. */
    void accumulateNormalized(MemorySegment dy, long dyOff, MemorySegment x, long xOff, float center, float factor,
            MemorySegment acc, long accOff, int n);

    // ------------------------------------------------------------------ softmax

    /** {@code out[i] = exp(x[i] - shift)}; returns the sum of the outputs. */
    float expShifted(MemorySegment x, long xOff, float shift, MemorySegment out, long outOff, int n);

    /** {@code out[i] = a[i] * (b[i] - s)}: the softmax backward {@code y * (dy - sum(dy * y))}. */
    void mulShifted(MemorySegment a, long aOff, MemorySegment b, long bOff, float s, MemorySegment out, long outOff, int n);

    // ------------------------------------------------------------------ activations

    /** {@code out[i] = gelu(x[i])}, tanh form: {@code 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))}. */
    void gelu(MemorySegment x, long xOff, MemorySegment out, long outOff, int n);

    /** {@code out[i] = dy[i] * gelu'(x[i])} for the tanh form. */
    void geluBackward(MemorySegment dy, long dyOff, MemorySegment x, long xOff, MemorySegment out, long outOff, int n);

    /** {@code out[i] = x[i] * sigmoid(x[i])}. */
    void silu(MemorySegment x, long xOff, MemorySegment out, long outOff, int n);

    /** {@code out[i] = dy[i] * silu'(x[i])}, with {@code silu'(x) = s (1 + x (1 - s))}, {@code s = sigmoid(x)}. */
    void siluBackward(MemorySegment dy, long dyOff, MemorySegment x, long xOff, MemorySegment out, long outOff, int n);

    // ------------------------------------------------------------------ optimizer

    /**
     * One AdamW update of elements {@code [off, off + n)} in place, in float as the device kernel does it:
     * {@code m = fma(beta1, m, oneMinusBeta1 g)}, {@code v = fma(beta2, v, oneMinusBeta2 g g)},
     * {@code p = p decay - stepSize m / (sqrt(v) / bc2Sqrt + eps)}. Every implementation gives the same bits.
     */
    void adamW(MemorySegment p, MemorySegment m, MemorySegment v, MemorySegment g, long off, int n,
            AdamWCoefficients c);
}
