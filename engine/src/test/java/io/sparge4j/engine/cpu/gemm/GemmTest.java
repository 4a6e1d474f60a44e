package io.sparge4j.engine.cpu.gemm;

import io.sparge4j.engine.cpu.SimdSupport;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.HalfFloats;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * GEMM against a float64 triple loop, for both micro-kernels, every transpose combination, alpha/beta,
 * half-precision B, element offsets and padded leading dimensions.
 *
 * <p>Tolerance: each element may differ from the exact result by the standard worst-case bound for a
 * length-k f32 dot product, (k + 2) * 2^-24 * (|alpha| sum_p |a_ip b_pj| + |beta c_ij|), which any
 * indexing or packing bug exceeds by orders of magnitude on these random inputs.
 */
class GemmTest {
    private static final int[][] SIZES = {
        {1, 1, 1}, {7, 13, 5}, {9, 32, 1}, {10, 33, 17}, {33, 65, 129}, {130, 67, 300}, {600, 40, 20}, {3, 2100, 5},
    };

    private static List<MicroKernel> kernels() {
        List<MicroKernel> list = new ArrayList<>();
        list.add(ScalarMicroKernel.INSTANCE);
        if (SimdSupport.available()) {
            list.add(Gemm.defaultKernel());
        }
        return list;
    }

    @Test
    void simdKernelIsUsedWhenTheVectorApiIsPresent() {
        // surefire adds jdk.incubator.vector, so the fast path must be the one under test
        assertTrue(SimdSupport.available(), "Vector API should be enabled in tests");
        assertEquals("SimdMicroKernel", Gemm.defaultKernel().getClass().getSimpleName());
    }

    @Test
    void matchesFloat64ForAllTransposesAndSizes() {
        SplittableRandom rng = new SplittableRandom(11);
        for (MicroKernel kernel : kernels()) {
            for (int[] s : SIZES) {
                for (int t = 0; t < 4; t++) {
                    boolean ta = (t & 1) != 0;
                    boolean tb = (t & 2) != 0;
                    float alpha = (float) (0.5 + rng.nextDouble());
                    float beta = t == 3 ? 0f : (float) rng.nextDouble(-1, 1);
                    check(kernel, rng, s[0], s[1], s[2], ta, tb, alpha, beta, DType.F32, 0, 0);
                }
            }
        }
    }

    @Test
    void halfPrecisionB() {
        SplittableRandom rng = new SplittableRandom(12);
        for (MicroKernel kernel : kernels()) {
            for (DType bt : new DType[] {DType.BF16, DType.F16}) {
                check(kernel, rng, 33, 65, 129, false, false, 1f, 0f, bt, 0, 0);
                check(kernel, rng, 20, 70, 300, false, true, 0.75f, 0.5f, bt, 0, 0);
                check(kernel, rng, 7, 13, 5, true, true, 1f, 1f, bt, 3, 2);
            }
        }
    }

    @Test
    void offsetsAndPaddedLeadingDimensions() {
        SplittableRandom rng = new SplittableRandom(13);
        for (MicroKernel kernel : kernels()) {
            for (int t = 0; t < 4; t++) {
                check(kernel, rng, 37, 45, 70, (t & 1) != 0, (t & 2) != 0, 1.25f, -0.5f, DType.F32, 5, 7);
                check(kernel, rng, 130, 67, 300, (t & 1) != 0, (t & 2) != 0, 1f, 0f, DType.F32, 1, 19);
            }
        }
    }

    @Test
    void confinedSegmentsRunOnTheCallingThread() {
        // big enough to go parallel; a confined segment would throw WrongThreadException in a pool thread
        try (Arena arena = Arena.ofConfined()) {
            int n = 96;
            MemorySegment a = arena.allocate(4L * n * n);
            MemorySegment c = arena.allocate(4L * n * n);
            for (int i = 0; i < n; i++) {
                a.setAtIndex(ValueLayout.JAVA_FLOAT, (long) i * n + i, 2f);
            }
            Gemm.gemm(n, n, n, 1f, Operand.f32(a, 0, n, false), Operand.f32(a, 0, n, false), 0f, c, 0, n);
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    assertEquals(i == j ? 4f : 0f, c.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * n + j));
                }
            }
        }
    }

    @Test
    void zeroDepthScalesC() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocate(4);
            MemorySegment c = arena.allocate(6 * 4);
            for (int i = 0; i < 6; i++) {
                c.setAtIndex(ValueLayout.JAVA_FLOAT, i, i + 1);
            }
            Gemm.gemm(2, 3, 0, 1f, Operand.f32(a, 0, 0, false), Operand.f32(a, 0, 3, false), 0.5f, c, 0, 3);
            for (int i = 0; i < 6; i++) {
                assertEquals((i + 1) * 0.5f, c.getAtIndex(ValueLayout.JAVA_FLOAT, i));
            }
            // beta = 0 overwrites even NaN
            c.setAtIndex(ValueLayout.JAVA_FLOAT, 0, Float.NaN);
            Gemm.gemm(2, 3, 0, 1f, Operand.f32(a, 0, 0, false), Operand.f32(a, 0, 3, false), 0f, c, 0, 3);
            assertEquals(0f, c.getAtIndex(ValueLayout.JAVA_FLOAT, 0));
        }
    }

    @Test
    void badArgumentsAreRejectedWithClearMessages() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(4L * 64);
            Operand ok = Operand.f32(seg, 0, 8, false);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Gemm.gemm(8, 8, 8, 1f, new Operand(seg, DType.BF16, 0, 8, false), ok, 0f, seg, 0, 8));
            assertEquals("gemm: a has dtype bf16, expected f32", e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> Gemm.gemm(8, 8, 8, 1f, ok, new Operand(seg, DType.I32, 0, 8, false), 0f, seg, 0, 8));
            assertEquals("gemm: b has dtype i32, expected f32, bf16 or f16", e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> Gemm.gemm(8, 8, 8, 1f, Operand.f32(seg, 0, 4, false), ok, 0f, seg, 0, 8));
            assertTrue(e.getMessage().startsWith("gemm: a has leading dimension 4, expected at least 8"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> Gemm.gemm(8, 8, 8, 1f, ok, ok, 0f, seg, 1, 8));
            assertTrue(e.getMessage().startsWith("gemm: c (stored 8 x 8, offset 1, ld 8) needs 65 elements, expected at most 64"),
                    e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Gemm.gemm(-1, 8, 8, 1f, ok, ok, 0f, seg, 0, 8));
            assertEquals("gemm: sizes are m=-1 n=8 k=8, expected all >= 0", e.getMessage());
        }
    }

    /**
     * Runs one GEMM with random operands stored at an element offset {@code off} and with rows padded by
     * {@code pad} elements, and compares every element of C (padding included, which must be untouched).
     */
    private static void check(MicroKernel kernel, SplittableRandom rng, int m, int n, int k, boolean ta, boolean tb,
            float alpha, float beta, DType bType, int off, int pad) {
        String what = String.format("%s m=%d n=%d k=%d ta=%b tb=%b alpha=%s beta=%s b=%s off=%d pad=%d",
                kernel.getClass().getSimpleName(), m, n, k, ta, tb, alpha, beta, bType, off, pad);
        int aRows = ta ? k : m;
        int aCols = ta ? m : k;
        int bRows = tb ? n : k;
        int bCols = tb ? k : n;
        int lda = aCols + pad;
        int ldb = bCols + pad;
        int ldc = n + pad;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = arena.allocate(4L * (off + (long) aRows * lda), 64);
            MemorySegment b = arena.allocate((long) bType.byteSize() * (off + (long) bRows * ldb), 64);
            MemorySegment c = arena.allocate(4L * (off + (long) m * ldc), 64);
            double[] av = new double[m * k];
            double[] bv = new double[k * n];
            for (int r = 0; r < aRows; r++) {
                for (int q = 0; q < aCols; q++) {
                    float v = (float) rng.nextDouble(-1, 1);
                    a.setAtIndex(ValueLayout.JAVA_FLOAT, off + (long) r * lda + q, v);
                    av[ta ? q * k + r : r * k + q] = v;
                }
            }
            for (int r = 0; r < bRows; r++) {
                for (int q = 0; q < bCols; q++) {
                    float v = (float) rng.nextDouble(-1, 1);
                    long at = off + (long) r * ldb + q;
                    double stored = switch (bType) {
                        case F32 -> {
                            b.setAtIndex(ValueLayout.JAVA_FLOAT, at, v);
                            yield v;
                        }
                        case BF16 -> {
                            short h = HalfFloats.floatToBf16(v);
                            b.setAtIndex(ValueLayout.JAVA_SHORT, at, h);
                            yield HalfFloats.bf16ToFloat(h);
                        }
                        default -> {
                            short h = HalfFloats.floatToF16(v);
                            b.setAtIndex(ValueLayout.JAVA_SHORT, at, h);
                            yield HalfFloats.f16ToFloat(h);
                        }
                    };
                    bv[tb ? q * n + r : r * n + q] = stored;
                }
            }
            // C: random where beta != 0, NaN poison where beta == 0 (must be overwritten, never read);
            // the padding between rows holds a sentinel that must survive
            float sentinel = 12345f;
            double[] c0 = new double[m * n];
            for (int i = 0; i < m; i++) {
                for (int q = 0; q < ldc; q++) {
                    long at = off + (long) i * ldc + q;
                    if (q >= n) {
                        c.setAtIndex(ValueLayout.JAVA_FLOAT, at, sentinel);
                    } else {
                        float v = beta == 0 ? Float.NaN : (float) rng.nextDouble(-1, 1);
                        c.setAtIndex(ValueLayout.JAVA_FLOAT, at, v);
                        c0[i * n + q] = v;
                    }
                }
            }
            Gemm.gemm(kernel, m, n, k, alpha, new Operand(a, DType.F32, off, lda, ta), new Operand(b, bType, off, ldb, tb),
                    beta, c, off, ldc);
            double bound = (k + 2) * Math.scalb(1.0, -24);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < ldc; j++) {
                    float got = c.getAtIndex(ValueLayout.JAVA_FLOAT, off + (long) i * ldc + j);
                    if (j >= n) {
                        if (got != sentinel) {
                            fail(what + ": padding at row " + i + " column " + j + " was overwritten with " + got);
                        }
                        continue;
                    }
                    double exact = 0;
                    double magnitude = 0;
                    for (int p = 0; p < k; p++) {
                        exact += av[i * k + p] * bv[p * n + j];
                        magnitude += Math.abs(av[i * k + p] * bv[p * n + j]);
                    }
                    double old = beta == 0 ? 0 : beta * c0[i * n + j];
                    double expected = alpha * exact + old;
                    double tol = bound * (Math.abs(alpha) * magnitude + Math.abs(old)) + 1e-30;
                    if (!(Math.abs(got - expected) <= tol)) {
                        fail(String.format("%s: C[%d][%d] is %.9g, expected %.9g (tolerance %.3g)", what, i, j, got,
                                expected, tol));
                    }
                }
            }
        }
    }
}
