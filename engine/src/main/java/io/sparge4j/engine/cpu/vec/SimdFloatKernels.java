package io.sparge4j.engine.cpu.vec;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Vector API {@link FloatKernels}: full vectors of the preferred width, then a scalar tail. Reductions
 * keep two vector accumulators (more independent adds in flight, and lane-wise partial sums that round
 * better than one running float). Only loaded once {@code SimdSupport.available()} is true.
 */
final class SimdFloatKernels implements FloatKernels {
    static final SimdFloatKernels INSTANCE = new SimdFloatKernels();

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final FloatVector ONE = FloatVector.broadcast(S, 1f);
    private static final FloatVector CUBIC = FloatVector.broadcast(S, GeluConstants.CUBIC);

    private SimdFloatKernels() {
    }

    private static FloatVector load(MemorySegment s, long index) {
        return FloatVector.fromMemorySegment(S, s, index * Float.BYTES, NATIVE);
    }

    private static void store(FloatVector v, MemorySegment s, long index) {
        v.intoMemorySegment(s, index * Float.BYTES, NATIVE);
    }

    private static float get(MemorySegment s, long i) {
        return s.getAtIndex(F, i);
    }

    private static void set(MemorySegment s, long i, float v) {
        s.setAtIndex(F, i, v);
    }

    @Override
    public String name() {
        return "simd";
    }

    // ------------------------------------------------------------------ reductions

    @Override
    public float sum(MemorySegment x, long xOff, int n) {
        FloatVector acc0 = FloatVector.zero(S);
        FloatVector acc1 = FloatVector.zero(S);
        int i = 0;
        for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
            acc0 = acc0.add(load(x, xOff + i));
            acc1 = acc1.add(load(x, xOff + i + L));
        }
        for (int bound = S.loopBound(n); i < bound; i += L) {
            acc0 = acc0.add(load(x, xOff + i));
        }
        float s = sumLanes(acc0.add(acc1));
        for (; i < n; i++) {
            s += get(x, xOff + i);
        }
        return s;
    }

    @Override
    public float dot(MemorySegment a, long aOff, MemorySegment b, long bOff, int n) {
        FloatVector acc0 = FloatVector.zero(S);
        FloatVector acc1 = FloatVector.zero(S);
        int i = 0;
        for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
            acc0 = load(a, aOff + i).fma(load(b, bOff + i), acc0);
            acc1 = load(a, aOff + i + L).fma(load(b, bOff + i + L), acc1);
        }
        for (int bound = S.loopBound(n); i < bound; i += L) {
            acc0 = load(a, aOff + i).fma(load(b, bOff + i), acc0);
        }
        float s = sumLanes(acc0.add(acc1));
        for (; i < n; i++) {
            s = Math.fma(get(a, aOff + i), get(b, bOff + i), s);
        }
        return s;
    }

    @Override
    public float max(MemorySegment x, long xOff, int n) {
        FloatVector acc = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            acc = acc.max(load(x, xOff + i));
        }
        float m = acc.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
            m = Math.max(m, get(x, xOff + i));
        }
        return m;
    }

    @Override
    public float sumSquaredDeviation(MemorySegment x, long xOff, int n, float center) {
        FloatVector c = FloatVector.broadcast(S, center);
        FloatVector acc0 = FloatVector.zero(S);
        FloatVector acc1 = FloatVector.zero(S);
        int i = 0;
        for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
            FloatVector d0 = load(x, xOff + i).sub(c);
            FloatVector d1 = load(x, xOff + i + L).sub(c);
            acc0 = d0.fma(d0, acc0);
            acc1 = d1.fma(d1, acc1);
        }
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector d0 = load(x, xOff + i).sub(c);
            acc0 = d0.fma(d0, acc0);
        }
        float s = sumLanes(acc0.add(acc1));
        for (; i < n; i++) {
            float d = get(x, xOff + i) - center;
            s = Math.fma(d, d, s);
        }
        return s;
    }

    @Override
    public float dotCentered(MemorySegment g, long gOff, MemorySegment x, long xOff, int n, float center) {
        FloatVector c = FloatVector.broadcast(S, center);
        FloatVector acc0 = FloatVector.zero(S);
        FloatVector acc1 = FloatVector.zero(S);
        int i = 0;
        for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
            acc0 = load(g, gOff + i).fma(load(x, xOff + i).sub(c), acc0);
            acc1 = load(g, gOff + i + L).fma(load(x, xOff + i + L).sub(c), acc1);
        }
        for (int bound = S.loopBound(n); i < bound; i += L) {
            acc0 = load(g, gOff + i).fma(load(x, xOff + i).sub(c), acc0);
        }
        float s = sumLanes(acc0.add(acc1));
        for (; i < n; i++) {
            s = Math.fma(get(g, gOff + i), get(x, xOff + i) - center, s);
        }
        return s;
    }

    // ------------------------------------------------------------------ maps

    @Override
    public void axpy(float alpha, MemorySegment x, long xOff, MemorySegment y, long yOff, int n) {
        FloatVector a = FloatVector.broadcast(S, alpha);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            store(load(x, xOff + i).fma(a, load(y, yOff + i)), y, yOff + i);
        }
        for (; i < n; i++) {
            set(y, yOff + i, Math.fma(alpha, get(x, xOff + i), get(y, yOff + i)));
        }
    }

    @Override
    public void scale(MemorySegment x, long xOff, float alpha, MemorySegment out, long outOff, int n) {
        binaryScalarRight(BinaryOp.MUL, x, xOff, alpha, out, outOff, n);
    }

    @Override
    public void binary(BinaryOp op, MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out, long outOff, int n) {
        int i = 0;
        int bound = S.loopBound(n);
        switch (op) {
            case ADD -> {
                for (; i < bound; i += L) {
                    store(load(a, aOff + i).add(load(b, bOff + i)), out, outOff + i);
                }
            }
            case SUB -> {
                for (; i < bound; i += L) {
                    store(load(a, aOff + i).sub(load(b, bOff + i)), out, outOff + i);
                }
            }
            case MUL -> {
                for (; i < bound; i += L) {
                    store(load(a, aOff + i).mul(load(b, bOff + i)), out, outOff + i);
                }
            }
        }
        for (; i < n; i++) {
            set(out, outOff + i, op.apply(get(a, aOff + i), get(b, bOff + i)));
        }
    }

    @Override
    public void binaryScalarRight(BinaryOp op, MemorySegment a, long aOff, float s, MemorySegment out, long outOff, int n) {
        FloatVector sv = FloatVector.broadcast(S, s);
        int i = 0;
        int bound = S.loopBound(n);
        switch (op) {
            case ADD -> {
                for (; i < bound; i += L) {
                    store(load(a, aOff + i).add(sv), out, outOff + i);
                }
            }
            case SUB -> {
                for (; i < bound; i += L) {
                    store(load(a, aOff + i).sub(sv), out, outOff + i);
                }
            }
            case MUL -> {
                for (; i < bound; i += L) {
                    store(load(a, aOff + i).mul(sv), out, outOff + i);
                }
            }
        }
        for (; i < n; i++) {
            set(out, outOff + i, op.apply(get(a, aOff + i), s));
        }
    }

    @Override
    public void binaryScalarLeft(BinaryOp op, float s, MemorySegment b, long bOff, MemorySegment out, long outOff, int n) {
        FloatVector sv = FloatVector.broadcast(S, s);
        int i = 0;
        int bound = S.loopBound(n);
        switch (op) {
            case ADD -> {
                for (; i < bound; i += L) {
                    store(sv.add(load(b, bOff + i)), out, outOff + i);
                }
            }
            case SUB -> {
                for (; i < bound; i += L) {
                    store(sv.sub(load(b, bOff + i)), out, outOff + i);
                }
            }
            case MUL -> {
                for (; i < bound; i += L) {
                    store(sv.mul(load(b, bOff + i)), out, outOff + i);
                }
            }
        }
        for (; i < n; i++) {
            set(out, outOff + i, op.apply(s, get(b, bOff + i)));
        }
    }

    @Override
    public void mulAdd(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment c, long cOff,
            MemorySegment out, long outOff, int n) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            store(load(a, aOff + i).fma(load(b, bOff + i), load(c, cOff + i)), out, outOff + i);
        }
        for (; i < n; i++) {
            set(out, outOff + i, Math.fma(get(a, aOff + i), get(b, bOff + i), get(c, cOff + i)));
        }
    }

    @Override
    public void accumulateProduct(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment acc, long accOff, int n) {
        mulAdd(a, aOff, b, bOff, acc, accOff, acc, accOff, n);
    }

    // ------------------------------------------------------------------ normalisation

    @Override
    public void normalize(MemorySegment x, long xOff, float center, float factor, MemorySegment w, long wOff,
            MemorySegment bias, long biasOff, MemorySegment out, long outOff, int n) {
        FloatVector c = FloatVector.broadcast(S, center);
        FloatVector f = FloatVector.broadcast(S, factor);
        int i = 0;
        int bound = S.loopBound(n);
        if (w != null && bias != null) {
            for (; i < bound; i += L) {
                FloatVector xhat = load(x, xOff + i).sub(c).mul(f);
                store(xhat.fma(load(w, wOff + i), load(bias, biasOff + i)), out, outOff + i);
            }
        } else if (w != null) {
            for (; i < bound; i += L) {
                store(load(x, xOff + i).sub(c).mul(f).mul(load(w, wOff + i)), out, outOff + i);
            }
        } else if (bias != null) {
            for (; i < bound; i += L) {
                store(load(x, xOff + i).sub(c).mul(f).add(load(bias, biasOff + i)), out, outOff + i);
            }
        } else {
            for (; i < bound; i += L) {
                store(load(x, xOff + i).sub(c).mul(f), out, outOff + i);
            }
        }
        for (; i < n; i++) {
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
        FloatVector c = FloatVector.broadcast(S, center);
        FloatVector f = FloatVector.broadcast(S, factor);
        FloatVector k1 = FloatVector.broadcast(S, c1);
        FloatVector k2 = FloatVector.broadcast(S, c2);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector centered = load(x, xOff + i).sub(c);
            FloatVector v = load(g, gOff + i).sub(k1).sub(centered.mul(k2));
            store(v.mul(f), out, outOff + i);
        }
        for (; i < n; i++) {
            float centered = get(x, xOff + i) - center;
            set(out, outOff + i, factor * (get(g, gOff + i) - c1 - centered * c2));
        }
    }

    @Override
    public void accumulateNormalized(MemorySegment dy, long dyOff, MemorySegment x, long xOff, float center, float factor,
            MemorySegment acc, long accOff, int n) {
        FloatVector c = FloatVector.broadcast(S, center);
        FloatVector f = FloatVector.broadcast(S, factor);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector xhat = load(x, xOff + i).sub(c).mul(f);
            store(load(dy, dyOff + i).fma(xhat, load(acc, accOff + i)), acc, accOff + i);
        }
        for (; i < n; i++) {
            float xhat = (get(x, xOff + i) - center) * factor;
            set(acc, accOff + i, Math.fma(get(dy, dyOff + i), xhat, get(acc, accOff + i)));
        }
    }

    // ------------------------------------------------------------------ softmax

    @Override
    public float expShifted(MemorySegment x, long xOff, float shift, MemorySegment out, long outOff, int n) {
        FloatVector sh = FloatVector.broadcast(S, shift);
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector e = VectorMath.exp(load(x, xOff + i).sub(sh));
            store(e, out, outOff + i);
            acc = acc.add(e);
        }
        float s = sumLanes(acc);
        for (; i < n; i++) {
            float e = (float) Math.exp(get(x, xOff + i) - shift);
            set(out, outOff + i, e);
            s += e;
        }
        return s;
    }

    @Override
    public void mulShifted(MemorySegment a, long aOff, MemorySegment b, long bOff, float s, MemorySegment out, long outOff, int n) {
        FloatVector sv = FloatVector.broadcast(S, s);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            store(load(a, aOff + i).mul(load(b, bOff + i).sub(sv)), out, outOff + i);
        }
        for (; i < n; i++) {
            set(out, outOff + i, get(a, aOff + i) * (get(b, bOff + i) - s));
        }
    }

    // ------------------------------------------------------------------ activations

    @Override
    public void gelu(MemorySegment x, long xOff, MemorySegment out, long outOff, int n) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector v = load(x, xOff + i);
            FloatVector u = v.mul(v).mul(v).fma(CUBIC, v).mul(GeluConstants.SQRT_2_OVER_PI);
            // 0.5 v (1 + tanh u) = v e/(e + 1) with e = exp(2u): no cancellation where tanh u is near -1
            store(v.mul(VectorMath.logistic2(u)), out, outOff + i);
        }
        for (; i < n; i++) {
            float v = get(x, xOff + i);
            float t = (float) Math.tanh(GeluConstants.SQRT_2_OVER_PI * (v + GeluConstants.CUBIC * v * v * v));
            set(out, outOff + i, 0.5f * v * (1f + t));
        }
    }

    @Override
    public void geluBackward(MemorySegment dy, long dyOff, MemorySegment x, long xOff, MemorySegment out, long outOff, int n) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector v = load(x, xOff + i);
            FloatVector v2 = v.mul(v);
            FloatVector s = VectorMath.logistic2(v2.mul(v).fma(CUBIC, v).mul(GeluConstants.SQRT_2_OVER_PI));
            FloatVector du = v2.fma(3f * GeluConstants.CUBIC * GeluConstants.SQRT_2_OVER_PI, GeluConstants.SQRT_2_OVER_PI);
            // with s = (1 + t) / 2: 0.5 (1 + t) + 0.5 v (1 - t^2) du = s + 2 v s (1 - s) du, no cancellation
            FloatVector oneMinusS = VectorMath.logistic2(v2.mul(v).fma(CUBIC, v).mul(-GeluConstants.SQRT_2_OVER_PI));
            FloatVector d = v.mul(2f).mul(s).mul(oneMinusS).fma(du, s);
            store(load(dy, dyOff + i).mul(d), out, outOff + i);
        }
        for (; i < n; i++) {
            float v = get(x, xOff + i);
            float v2 = v * v;
            float t = (float) Math.tanh(GeluConstants.SQRT_2_OVER_PI * (v + GeluConstants.CUBIC * v2 * v));
            float du = GeluConstants.SQRT_2_OVER_PI * (1f + 3f * GeluConstants.CUBIC * v2);
            set(out, outOff + i, get(dy, dyOff + i) * (0.5f * (1f + t) + 0.5f * v * (1f - t * t) * du));
        }
    }

    private static FloatVector sigmoid(FloatVector v) {
        // exp(-v) overflows to +inf for v < -88, which correctly gives 0.
        return ONE.div(VectorMath.exp(v.neg()).add(1f));
    }

    private static float sigmoid(float v) {
        return (float) (1.0 / (1.0 + Math.exp(-v)));
    }

    @Override
    public void silu(MemorySegment x, long xOff, MemorySegment out, long outOff, int n) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector v = load(x, xOff + i);
            store(v.mul(sigmoid(v)), out, outOff + i);
        }
        for (; i < n; i++) {
            float v = get(x, xOff + i);
            set(out, outOff + i, v * sigmoid(v));
        }
    }

    @Override
    public void siluBackward(MemorySegment dy, long dyOff, MemorySegment x, long xOff, MemorySegment out, long outOff, int n) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector v = load(x, xOff + i);
            FloatVector s = sigmoid(v);
            // s (1 + v (1 - s))
            FloatVector d = s.mul(v.mul(s.neg().add(1f)).add(1f));
            store(load(dy, dyOff + i).mul(d), out, outOff + i);
        }
        for (; i < n; i++) {
            float v = get(x, xOff + i);
            float s = sigmoid(v);
            set(out, outOff + i, get(dy, dyOff + i) * (s * (1f + v * (1f - s))));
        }
    }

    @Override
    public void adamW(MemorySegment p, MemorySegment m, MemorySegment v, MemorySegment g, long off, int n,
            AdamWCoefficients c) {
        // lane-wise the scalar kernel's operations in its order (fma, mul, sqrt, div are correctly rounded
        // either way, and float sqrt equals the scalar's sqrt through double): the same bits
        FloatVector beta1 = FloatVector.broadcast(S, c.beta1());
        FloatVector beta2 = FloatVector.broadcast(S, c.beta2());
        FloatVector oneMinusBeta1 = FloatVector.broadcast(S, c.oneMinusBeta1());
        FloatVector oneMinusBeta2 = FloatVector.broadcast(S, c.oneMinusBeta2());
        FloatVector bc2Sqrt = FloatVector.broadcast(S, c.bc2Sqrt());
        FloatVector eps = FloatVector.broadcast(S, c.eps());
        FloatVector decay = FloatVector.broadcast(S, c.decay());
        FloatVector stepSize = FloatVector.broadcast(S, c.stepSize());
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            long at = off + i;
            FloatVector gi = load(g, at);
            FloatVector mi = beta1.fma(load(m, at), oneMinusBeta1.mul(gi));
            FloatVector vi = beta2.fma(load(v, at), oneMinusBeta2.mul(gi).mul(gi));
            FloatVector denom = vi.lanewise(VectorOperators.SQRT).div(bc2Sqrt).add(eps);
            store(mi, m, at);
            store(vi, v, at);
            store(load(p, at).mul(decay).sub(stepSize.mul(mi).div(denom)), p, at);
        }
        for (; i < n; i++) {
            ScalarFloatKernels.adamWElement(p, m, v, g, off + i, c);
        }
    }

    /**
     * The sum of a vector's lanes in lane order. {@code reduceLanes(ADD)} leaves the order unspecified, and it
     * differs between interpreted and compiled code, so a run's results would depend on when the JIT kicked in: the
     * same seed must give the same output.
     */
    private static float sumLanes(FloatVector v) {
        float s = 0f;
        for (int l = 0; l < v.length(); l++) {
            s += v.lane(l);
        }
        return s;
    }
}
