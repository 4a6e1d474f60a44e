package io.sparge4j.models.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class NoiseTest {

    @Test
    void sameSeedSameValuesOtherSeedOtherValues() {
        try (Tensor a = Noise.gaussian(1234, 2, 3, 5, 7);
             Tensor b = Noise.gaussian(1234, 2, 3, 5, 7);
             Tensor c = Noise.gaussian(1235, 2, 3, 5, 7)) {
            assertEquals(DType.F32, a.dtype());
            assertArrayEquals(new int[] {2, 3, 5, 7}, a.shape());
            assertArrayEquals(a.toFloatArray(), b.toFloatArray(), 0f);
            assertFalse(Arrays.equals(a.toFloatArray(), c.toFloatArray()));
        }
    }

    @Test
    void generatorIsSplitMix64AsInSplittableRandom() {
        // SplittableRandom(seed).nextLong() is SplitMix64 seeded with seed: an independent implementation.
        for (long seed : new long[] {0, 1, -7, 0x123456789abcdefL}) {
            SplittableRandom rng = new SplittableRandom(seed);
            long state = seed;
            for (int i = 0; i < 100; i++) {
                state += 0x9e3779b97f4a7c15L;
                assertEquals(rng.nextLong(), Noise.mix64(state), "seed " + seed + " draw " + i);
            }
        }
    }

    @Test
    void valuesFollowBoxMullerOnThoseUniforms() {
        // Recomputed here from SplittableRandom's longs with Math (not StrictMath): equal within float rounding.
        try (Tensor t = Noise.gaussian(99, 9)) {
            SplittableRandom rng = new SplittableRandom(99);
            float[] got = t.toFloatArray();
            for (int i = 0; i < 9; i += 2) {
                double u1 = ((rng.nextLong() >>> 11) + 1) / 9007199254740992.0;
                double u2 = (rng.nextLong() >>> 11) / 9007199254740992.0;
                double r = Math.sqrt(-2 * Math.log(u1));
                assertEquals(r * Math.cos(2 * Math.PI * u2), got[i], 1e-6);
                if (i + 1 < 9) {
                    assertEquals(r * Math.sin(2 * Math.PI * u2), got[i + 1], 1e-6);
                }
            }
        }
    }

    @Test
    void momentsAreStandardNormal() {
        int n = 200_000;
        try (Tensor t = Noise.gaussian(2026, n)) {
            double sum = 0;
            double sq = 0;
            double fourth = 0;
            int within1 = 0;
            for (float v : t.toFloatArray()) {
                sum += v;
                sq += (double) v * v;
                fourth += (double) v * v * v * v;
                within1 += Math.abs(v) < 1 ? 1 : 0;
            }
            double mean = sum / n;
            double var = sq / n - mean * mean;
            // Standard errors: mean 1/sqrt(n) = 0.0022, variance sqrt(2/n) = 0.0032; bounds at about 5 sigma.
            assertEquals(0, mean, 0.012);
            assertEquals(1, var, 0.016);
            assertEquals(3, fourth / n, 0.1);
            assertEquals(0.6827, (double) within1 / n, 0.006);
        }
    }

    @Test
    void badShapesAreNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Noise.gaussian(1, 2, -3));
        assertTrue(e.getMessage().contains("[2, -3]") && e.getMessage().contains(">= 0"), e.getMessage());
        try (Tensor empty = Noise.gaussian(1, 0, 4)) {
            assertEquals(0, empty.numel());
        }
    }
}
