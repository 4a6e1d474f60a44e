package io.sparge4j.engine.cpu.vec;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Plain-Java {@link FloatKernels}: the fallback when the Vector API is absent. Reductions accumulate in
 * double, which costs nothing extra in scalar code and keeps long rows accurate.
 */
final class ScalarFloatKernels implements FloatKernels {
    static final ScalarFloatKernels INSTANCE = new ScalarFloatKernels();

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private ScalarFloatKernels() {
    }

    private static float get(MemorySegment s, long i) {
        return s.getAtIndex(F, i);
    }

    private static void set(MemorySegment s, long i, float v) {
        s.setAtIndex(F, i, v);
    }

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public float sum(MemorySegment x, long xOff, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += get(x, xOff + i);
        }
        return (float) s;
    }

    @Override
    public float dot(MemorySegment a, long aOff, MemorySegment b, long bOff, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += (double) get(a, aOff + i) * get(b, bOff + i);
        }
        return (float) s;
    }

    @Override
    public float max(MemorySegment x, long xOff, int n) {
        float m = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            m = Math.max(m, get(x, xOff + i));
        }
        return m;
    }

    @Override
    public float sumSquaredDeviation(MemorySegment x, long xOff, int n, float center) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            double d = get(x, xOff + i) - center;
            s += d * d;
        }
        return (float) s;
    }

    @Override
    public float dotCentered(MemorySegment g, long gOff, MemorySegment x, long xOff, int n, float center) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += (double) get(g, gOff + i) * (get(x, xOff + i) - center);
        }
        return (float) s;
    }

    @Override
    public void axpy(float alpha, MemorySegment x, long xOff, MemorySegment y, long yOff, int n) {
        for (int i = 0; i < n; i++) {
            set(y, yOff + i, Math.fma(alpha, get(x, xOff + i), get(y, yOff + i)));
        }
    }

    @Override
    public void scale(MemorySegment x, long xOff, float alpha, MemorySegment out, long outOff, int n) {
        for (int i = 0; i < n; i++) {
            set(out, outOff + i, alpha * get(x, xOff + i));
        }
    }

    @Override
    public void binary(BinaryOp op, MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out, long outOff, int n) {
        for (int i = 0; i < n; i++) {
            set(out, outOff + i, op.apply(get(a, aOff + i), get(b, bOff + i)));
        }
    }

    @Override
    public void binaryScalarRight(BinaryOp op, MemorySegment a, long aOff, float s, MemorySegment out, long outOff, int n) {
        for (int i = 0; i < n; i++) {
            set(out, outOff + i, op.apply(get(a, aOff + i), s));
        }
    }

    @Override
    public void binaryScalarLeft(BinaryOp op, float s, MemorySegment b, long bOff, MemorySegment out, long outOff, int n) {
        for (int i = 0; i < n; i++) {
            set(out, outOff + i, op.apply(s, get(b, bOff + i)));
        }
    }

    @Override
    public void mulAdd(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment c, long cOff,
            MemorySegment out, long outOff, int n) {
        for (int i = 0; i < n; i++) {
            set(out, outOff + i, Math.fma(get(a, aOff + i), get(b, bOff + i), get(c, cOff + i)));
        }
    }

    @Override
    public void accumulateProduct(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment acc, long accOff, int n) {
        for (int i = 0; i < n; i++) {
            set(acc, accOff + i, Math.fma(get(a, aOff + i), get(b, bOff + i), get(acc, accOff + i)));
        }
    }

    @Override
    public void normalize(MemorySegment x, long xOff, float center, float factor, MemorySegment w, long wOff,
            MemorySegment bias, long biasOff, MemorySegment out, long outOff, int n) {
        for (int i = 0; i < n; i++) {
            float v = (get(x, xOff + i) - center) * factor;
            if (w != null) {
                v *= get(w, wOff + i);
            }
            if (bias != null) {
                v += get(bias, biasOff + i);
            }
            set(out, outOff + i, v);
        }
    }

    @Override
    public void normalizeBackward(MemorySegment g, long gOff, MemorySegment x, long xOff, float center, float factor,
            float c1, float c2, MemorySegment out, long outOff, int n) {
        for (int i = 0; i < n; i++) {
            float centered = get(x, xOff + i) - center;
            set(out, outOff + i, factor * (get(g, gOff + i) - c1 - centered * c2));
        }
    }

    @Override
    public void accumulateNormalized(MemorySegment dy, long dyOff, MemorySegment x, long xOff, float center, float factor,
            MemorySegment acc, long accOff, int n) {
        for (int i = 0; i < n; i++) {
            float xhat = (get(x, xOff + i) - center) * factor;
            set(acc, accOff + i, Math.fma(get(dy, dyOff + i), xhat, get(acc, accOff + i)));
        }
    }

    @Override
    public float expShifted(MemorySegment x, long xOff, float shift, MemorySegment out, long outOff, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(get(x, xOff + i) - shift);
            set(out, outOff + i, e);
            s += e;
        }
        return (float) s;
    }

    @Override
    public void mulShifted(MemorySegment a, long aOff, MemorySegment b, long bOff, float s, MemorySegment out, long outOff, int n) {
        for (int i = 0; i < n; i++) {
            set(out, outOff + i, get(a, aOff + i) * (get(b, bOff + i) - s));
        }
    }

    @Override
    public void gelu(MemorySegment x, long xOff, MemorySegment out, long outOff, int n) {
        for (int i = 0; i < n; i++) {
            float v = get(x, xOff + i);
            float t = (float) Math.tanh(GeluConstants.SQRT_2_OVER_PI * (v + GeluConstants.CUBIC * v * v * v));
            set(out, outOff + i, 0.5f * v * (1f + t));
        }
    }

    @Override
    public void geluBackward(MemorySegment dy, long dyOff, MemorySegment x, long xOff, MemorySegment out, long outOff, int n) {
        for (int i = 0; i < n; i++) {
            float v = get(x, xOff + i);
            float v2 = v * v;
            float t = (float) Math.tanh(GeluConstants.SQRT_2_OVER_PI * (v + GeluConstants.CUBIC * v2 * v));
            float du = GeluConstants.SQRT_2_OVER_PI * (1f + 3f * GeluConstants.CUBIC * v2);
            float d = 0.5f * (1f + t) + 0.5f * v * (1f - t * t) * du;
            set(out, outOff + i, get(dy, dyOff + i) * d);
        }
    }

    @Override
    public void silu(MemorySegment x, long xOff, MemorySegment out, long outOff, int n) {
        for (int i = 0; i < n; i++) {
            float v = get(x, xOff + i);
            set(out, outOff + i, v * sigmoid(v));
        }
    }

    @Override
    public void siluBackward(MemorySegment dy, long dyOff, MemorySegment x, long xOff, MemorySegment out, long outOff, int n) {
        for (int i = 0; i < n; i++) {
            float v = get(x, xOff + i);
            float s = sigmoid(v);
            set(out, outOff + i, get(dy, dyOff + i) * (s * (1f + v * (1f - s))));
        }
    }

    @Override
    public void adamW(MemorySegment p, MemorySegment m, MemorySegment v, MemorySegment g, long off, int n,
            AdamWCoefficients c) {
        for (long i = off, end = off + n; i < end; i++) {
            adamWElement(p, m, v, g, i, c);
        }
    }

    /** One element of {@link #adamW}; the vector kernel's tail runs it too. */
    static void adamWElement(MemorySegment p, MemorySegment m, MemorySegment v, MemorySegment g, long i,
            AdamWCoefficients c) {
        float gi = get(g, i);
        float mi = Math.fma(c.beta1(), get(m, i), c.oneMinusBeta1() * gi);
        float vi = Math.fma(c.beta2(), get(v, i), c.oneMinusBeta2() * gi * gi);
        float denom = (float) Math.sqrt(vi) / c.bc2Sqrt() + c.eps();
        set(m, i, mi);
        set(v, i, vi);
        set(p, i, get(p, i) * c.decay() - c.stepSize() * mi / denom);
    }

    private static float sigmoid(float v) {
        // exp(-v) overflows to +inf for v < -88, which correctly gives 0.
        return (float) (1.0 / (1.0 + Math.exp(-v)));
    }
}
