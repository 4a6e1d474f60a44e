package io.sparge4j.models.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;

class PsnrTest {
    @Test
    void matchesTheFloat64Formula() {
        for (long seed = 100; seed < 105; seed++) {
            Tensor a = Tensor.rand(seed, -1f, 1f, 3, 8, 16, 24);
            Tensor b = Tensor.rand(seed + 1000, -1f, 1f, 3, 8, 16, 24);
            double[] x = a.toDoubleArray();
            double[] y = b.toDoubleArray();
            double sum = 0;
            for (int i = 0; i < x.length; i++) {
                sum += (x[i] - y[i]) * (x[i] - y[i]);
            }
            double mse = sum / x.length;
            double expected = 20 * Math.log10(2.0) - 10 * Math.log10(mse);
            assertEquals(mse, Psnr.meanSquaredError(a, b), 1e-12 * mse);
            assertEquals(expected, Psnr.of(a, b), 1e-9, "seed " + seed);
        }
    }

    @Test
    void knownValuesAndIdenticalClips() {
        Tensor a = Tensor.rand(7, -0.5f, 0.5f, 3, 4, 8, 8);
        float[] shifted = a.toFloatArray();
        for (int i = 0; i < shifted.length; i++) {
            shifted[i] += 0.25f; // exact in f32 for values in [-0.5, 0.5): both terms are multiples of 2^-26
        }
        Tensor b = Tensor.of(shifted, a.shape());
        // MSE 0.0625 over a peak of 2: 10 log10(4 / 0.0625) = 10 log10(64).
        assertEquals(10 * Math.log10(64), Psnr.of(a, b), 1e-6);
        assertEquals(Double.POSITIVE_INFINITY, Psnr.of(a, a.copy()));
        assertTrue(Psnr.of(a, b) > Psnr.of(a, Tensor.rand(8, -1f, 1f, 3, 4, 8, 8)));
    }

    @Test
    void badArgumentsAreRejected() {
        Tensor a = Tensor.rand(1, -1f, 1f, 3, 4, 8, 8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Psnr.of(a, Tensor.rand(1, -1f, 1f, 3, 4, 8, 9)));
        assertTrue(e.getMessage().contains("[3, 4, 8, 8] and [3, 4, 8, 9]"), e.getMessage());
        Tensor nan = a.copy();
        nan.setFloat(17, Float.NaN);
        e = assertThrows(IllegalArgumentException.class, () -> Psnr.of(a, nan));
        assertTrue(e.getMessage().contains("element 17"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Psnr.of(null, a));
        assertTrue(e.getMessage().contains("must not be null"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Psnr.of(Tensor.zeros(0, 3), Tensor.zeros(0, 3)));
        assertTrue(e.getMessage().contains("no elements"), e.getMessage());
    }
}
