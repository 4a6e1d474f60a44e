package io.sparge4j.engine.tensor;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TensorTest {
    @Test
    void allocationIsAlignedAndZeroed() {
        try (Tensor t = Tensor.allocate(DType.BF16, 3, 5, 7)) {
            assertEquals(0, t.segment().address() % 64, "64-byte alignment");
            assertEquals(105, t.numel());
            assertEquals(210, t.byteSize());
            for (long i = 0; i < t.numel(); i++) {
                assertEquals(0f, t.getFloat(i));
            }
        }
    }

    @Test
    void roundTripsThroughEveryFloatDtype() {
        float[] values = Tensor.randn(11, 64).toFloatArray();
        for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            Tensor t = Tensor.of(dt, values, 8, 8);
            for (int i = 0; i < values.length; i++) {
                float expected = switch (dt) {
                    case BF16 -> HalfFloats.roundToBf16(values[i]);
                    case F16 -> HalfFloats.roundToF16(values[i]);
                    default -> values[i];
                };
                assertEquals(expected, t.getFloat(i), dt + " element " + i);
                // bf16 keeps 8 significant bits, f16 11: relative error bounded by 2^-8 and 2^-11
                double bound = dt == DType.BF16 ? 1.0 / 256 : dt == DType.F16 ? 1.0 / 2048 : 0;
                assertTrue(Math.abs(t.getFloat(i) - values[i]) <= bound * Math.abs(values[i]) + 1e-7, dt + " rounding");
            }
        }
    }

    @Test
    void bf16RoundsToNearestEven() {
        // 1 + 2^-8 lies exactly halfway between bf16 neighbours 1 and 1 + 2^-7: ties go to the even one (1).
        assertEquals(1f, HalfFloats.roundToBf16(1f + 0x1p-8f));
        // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: the even one is 1 + 2^-6.
        assertEquals(1f + 0x1p-6f, HalfFloats.roundToBf16(1f + 3 * 0x1p-8f));
        assertTrue(Float.isNaN(HalfFloats.roundToBf16(Float.NaN)));
        assertEquals(Float.POSITIVE_INFINITY, HalfFloats.roundToBf16(Float.POSITIVE_INFINITY));
    }

    @Test
    void viewsShareMemory() {
        Tensor t = Tensor.randn(3, 4, 6);
        Tensor r = t.reshape(2, -1, 6);
        assertArrayEquals(new int[] {2, 2, 6}, r.shape());
        Tensor row = t.select(2);
        row.set(42f, 5);
        assertEquals(42f, t.get(2, 5));
        Tensor mid = t.narrow(1, 2);
        assertEquals(t.get(1, 0), mid.get(0, 0));
        assertEquals(42f, mid.get(1, 5));
        mid.close(); // closing a view leaves the base alive
        assertEquals(42f, t.get(2, 5));
    }

    @Test
    void badArgumentsAreNamed() {
        Tensor t = Tensor.zeros(2, 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.reshape(4, 2));
        assertTrue(e.getMessage().contains("reshape") && e.getMessage().contains("expected 6"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.of(new float[5], 2, 3));
        assertTrue(e.getMessage().contains("expected 6"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(DType.F32, 2, -1));
        assertTrue(e.getMessage().contains("negative"), e.getMessage());
    }

    @Test
    void seededRandomIsReproducibleAndNormal() {
        float[] a = Tensor.randn(new SplittableRandom(5), DType.F32, 20000).toFloatArray();
        float[] b = Tensor.randn(new SplittableRandom(5), DType.F32, 20000).toFloatArray();
        assertArrayEquals(a, b);
        double mean = 0, sq = 0;
        for (float v : a) {
            mean += v;
            sq += v * v;
        }
        mean /= a.length;
        double var = sq / a.length - mean * mean;
        // 20000 samples: the standard error of the mean is 0.007, of the variance about 0.01
        assertEquals(0, mean, 0.04);
        assertEquals(1, var, 0.05);
    }

    @Test
    void arenaTensorsLiveWithTheirArena() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(arena, DType.I32, 4);
            t.setLong(3, 7);
            assertArrayEquals(new int[] {0, 0, 0, 7}, t.toIntArray());
            assertTrue(t.toString().contains("i32 (4)"), t.toString());
        }
    }

    @Test
    void segmentHoldsExactlyTheData() {
        assertEquals(0, Tensor.allocate(DType.F32, 0, 5).segment().byteSize());
        assertEquals(6, Tensor.allocate(DType.F16, 3).segment().byteSize());
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(0, Tensor.allocate(arena, DType.I32, 0).segment().byteSize());
        }
    }
}
