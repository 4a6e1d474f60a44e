package io.sparge4j.engine.cpu.vec;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * exp and (1 + tanh) / 2 on float vectors from additions, multiplications and FMAs only, so that a result does not depend on
 * whether the JIT has compiled the caller. {@code lanewise(EXP)} and {@code lanewise(TANH)} run the JDK's scalar
 * fallback in the interpreter and an intrinsic (SVML on x86) once compiled; the two differ in the last bits, and
 * then the same seed would not give the same video within one run.
 *
 * <p>exp: Cody-Waite reduction {@code x = k ln2 + r}, |r| ≤ ln2/2, Cephes' degree-7 polynomial for e^r, then 2^k
 * through the exponent bits; within 2 ulp of {@link Math#exp} for x in [-87.3, 88.7], +inf above, 0 below
 * (where Math.exp gives subnormals), NaN for NaN. {@link #logistic2} gives (1 + tanh u) / 2 = e^{2u} / (e^{2u} + 1)
 * without the cancellation near tanh u = -1 (GELU and its derivative need it).
 */
final class VectorMath {
    private static final float LOG2E = 1.44269504088896341f;
    /** ln 2 split so that k * LN2_HI is exact for |k| < 2^9. */
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    /** 1.5 * 2^23: adding and subtracting it rounds a float of magnitude below 2^22 to an integer. */
    private static final float ROUND = 12582912f;
    /** Above this Math.exp overflows to +inf in float. */
    private static final float MAX_ARG = 88.72283935546875f;
    /** Below this Math.exp is subnormal; this returns 0 there. */
    private static final float MIN_ARG = -87.33654475f;
    private static final float[] P = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f,
        1.6666665459e-1f, 5.0000001201e-1f};

    private VectorMath() {
    }

    /** @return e^x lane by lane */
    static FloatVector exp(FloatVector x) {
        // k <= 127 keeps 2^k a normal float; 88 * log2(e) = 126.96
        FloatVector xc = x.max(MIN_ARG).min(88f);
        FloatVector k = xc.fma(LOG2E, ROUND).sub(ROUND);
        FloatVector r = k.neg().fma(FloatVector.broadcast(x.species(), LN2_HI), xc);
        r = k.neg().fma(FloatVector.broadcast(x.species(), LN2_LO), r);
        FloatVector p = r.mul(P[0]).add(P[1]);
        for (int i = 2; i < P.length; i++) {
            p = p.fma(r, FloatVector.broadcast(x.species(), P[i]));
        }
        FloatVector r2 = r.mul(r);
        FloatVector er = p.fma(r2, r).add(1f);
        IntVector bits = ((IntVector) k.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
        FloatVector twoK = bits.reinterpretAsFloats();
        FloatVector e = er.mul(twoK);
        e = e.blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, MAX_ARG));
        // -inf and arguments below the normal range give 0; NaN stays NaN (every comparison with it is false)
        return e.blend(0f, x.compare(VectorOperators.LT, MIN_ARG));
    }


    /**
     * @return (1 + tanh u) / 2 = e^{2u} / (e^{2u} + 1) lane by lane, accurate to a few ulp relative also where it is
     *     tiny (u very negative), where 1 + tanh(u) would cancel; 1 for large u
     */
    static FloatVector logistic2(FloatVector u) {
        FloatVector e = exp(u.add(u));
        FloatVector one = FloatVector.broadcast(u.species(), 1f);
        FloatVector d = one.div(e.add(1f));
        // e d = e / (e + 1); for e > 1 use 1 - d instead, which is exact there and avoids inf * 0
        return e.mul(d).blend(one.sub(d), e.compare(VectorOperators.GT, 1f));
    }
}
