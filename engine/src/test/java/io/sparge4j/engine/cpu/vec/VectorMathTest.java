package io.sparge4j.engine.cpu.vec;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link VectorMath} against float64 {@link Math#exp} on fresh random arguments: exp within
 * 2 ulp of the correctly rounded float over [-87.3, 88.7] (plus the documented edges: 0 below the normal range,
 * +inf above, NaN kept), (1 + tanh u) / 2 within 4 ulp relative over [-20, 20] (u below about -43 underflows).
 */
class VectorMathTest {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    @Test
    void expIsWithinTwoUlpOfFloat64() {
        Random rnd = new Random(0x5eed);
        float[] x = new float[S.length()];
        float[] y = new float[S.length()];
        double worst = 0;
        for (int trial = 0; trial < 20000; trial++) {
            for (int l = 0; l < x.length; l++) {
                double range = trial % 2 == 0 ? 20 : 176;
                x[l] = (float) (rnd.nextDouble() * range - range / 2);
                x[l] = Math.max(-87.3f, Math.min(88.7f, x[l]));
            }
            VectorMath.exp(FloatVector.fromArray(S, x, 0)).intoArray(y, 0);
            for (int l = 0; l < x.length; l++) {
                float ref = (float) Math.exp(x[l]);
                double ulps = Math.abs(y[l] - ref) / Math.ulp(ref);
                worst = Math.max(worst, ulps);
                assertTrue(ulps <= 2, "exp(" + x[l] + ") = " + y[l] + ", float64 " + ref + ": " + ulps + " ulp");
            }
        }
        System.out.println("VectorMath.exp worst " + worst + " ulp");
    }

    @Test
    void expEdges() {
        float[] x = new float[S.length()];
        float[] in = {Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, Float.NaN, 89f, -100f, 0f, -0f, 1f};
        float[] want = {0f, Float.POSITIVE_INFINITY, Float.NaN, Float.POSITIVE_INFINITY, 0f, 1f, 1f, (float) Math.E};
        float[] y = new float[S.length()];
        for (int start = 0; start < in.length; start += x.length) {
            int n = Math.min(x.length, in.length - start);
            System.arraycopy(in, start, x, 0, n);
            VectorMath.exp(FloatVector.fromArray(S, x, 0)).intoArray(y, 0);
            for (int l = 0; l < n; l++) {
                float w = want[start + l];
                if (Float.isNaN(w) || Float.isInfinite(w) || w == 0f) {
                    assertEquals(w, y[l], "exp(" + in[start + l] + ")");   // NaN, infinities and zeros exactly
                } else {
                    assertEquals(w, y[l], Math.ulp(w), "exp(" + in[start + l] + ")");
                }
            }
        }
    }

    @Test
    void logisticOfTwiceUIsWithinAFewUlpRelative() {
        Random rnd = new Random(0x7a4);
        float[] u = new float[S.length()];
        float[] t = new float[S.length()];
        for (int trial = 0; trial < 20000; trial++) {
            for (int l = 0; l < u.length; l++) {
                u[l] = (float) (rnd.nextDouble() * (trial % 2 == 0 ? 2 : 40) - (trial % 2 == 0 ? 1 : 20));
            }
            VectorMath.logistic2(FloatVector.fromArray(S, u, 0)).intoArray(t, 0);
            for (int l = 0; l < u.length; l++) {
                double ref = 1 / (1 + Math.exp(-2.0 * u[l]));
                assertTrue(Math.abs(t[l] - ref) <= 4 * Math.ulp((float) ref), "(1 + tanh(" + u[l] + ")) / 2 = "
                        + t[l] + ", float64 " + ref);
            }
        }
    }
}
