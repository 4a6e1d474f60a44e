package io.sparge4j.engine.cpu.vec;

import io.sparge4j.engine.cpu.SimdSupport;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.DoubleBinaryOperator;

import static io.sparge4j.engine.testing.Assertions2.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each kernel, SIMD and scalar, against a float64 loop, over lengths around the vector width and at an
 * odd offset (so vector loads are unaligned and the scalar tail runs). Tolerances: maps are a few f32
 * roundings (rtol 1e-6, atol 1e-6 where results cross zero); reductions of up to 1000 terms of size ~1
 * get atol 1e-4 (f32 epsilon times the sum of magnitudes).
 */
class FloatKernelsTest {
    private static final int[] LENGTHS = {0, 1, 5, 15, 16, 17, 31, 33, 64, 100, 1000};
    private static final int OFF = 3;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    @Test
    void simdIsAvailableUnderTheBuildFlags() {
        // surefire passes --add-modules jdk.incubator.vector, so the SIMD path must be the one tested and used
        assertTrue(SimdSupport.available());
        assertEquals("simd", FloatKernels.preferred().name());
        assertEquals("scalar", FloatKernels.scalar().name());
    }

    /** n random values at OFF, in a segment with room for OFF + n + 2 floats. */
    private static MemorySegment data(SplittableRandom rng, int n, double spread) {
        Tensor t = Tensor.allocate(io.sparge4j.engine.tensor.DType.F32, OFF + n + 2);
        for (int i = 0; i < OFF + n + 2; i++) {
            t.setFloat(i, (float) (rng.nextGaussian() * spread));
        }
        return t.segment();
    }

    private static double[] read(MemorySegment s, int n) {
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            out[i] = s.getAtIndex(F, OFF + i);
        }
        return out;
    }

    private static float[] readF(MemorySegment s, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = s.getAtIndex(F, OFF + i);
        }
        return out;
    }

    private static MemorySegment poisoned(int n) {
        MemorySegment s = data(new SplittableRandom(0), n, 1);
        for (int i = 0; i < n; i++) {
            s.setAtIndex(F, OFF + i, Float.NaN);
        }
        return s;
    }

    private static void assertGuardsUntouched(MemorySegment out, MemorySegment before, int n, String what) {
        for (int i : new int[]{0, 1, 2, OFF + n, OFF + n + 1}) {
            assertEquals(before.getAtIndex(F, i), out.getAtIndex(F, i), what + ": wrote outside [off, off + n) at " + i);
        }
    }

    /**
     * AdamW against a float64 loop of the same formula (each of the ~8 float roundings of an element within a few
     * ulps: rtol 1e-5), and SIMD against scalar bit for bit (both do the device kernel's float operations in its
     * order), with the guards around [OFF, OFF + n) untouched.
     */
    @Test
    void adamWMatchesFloat64AndSimdEqualsScalar() {
        AdamWCoefficients c = new AdamWCoefficients(1f - 1e-3f * 0.01f, 0.9f, 0.999f, 1f - 0.9f, 1f - 0.999f, 1e-8f,
                (float) (1e-3 / (1 - Math.pow(0.9, 7))), (float) Math.sqrt(1 - Math.pow(0.999, 7)));
        for (int n : LENGTHS) {
            SplittableRandom rng = new SplittableRandom(40 + n);
            MemorySegment g = data(rng, n, 0.5);
            MemorySegment m0 = data(rng, n, 0.1);
            MemorySegment v0 = data(rng, n, 0.1);
            MemorySegment p0 = data(rng, n, 1);
            for (int i = 0; i < n; i++) {
                v0.setAtIndex(F, OFF + i, Math.abs(v0.getAtIndex(F, OFF + i)));   // a second moment is >= 0
            }
            MemorySegment[][] runs = new MemorySegment[2][];
            FloatKernels[] kernels = {FloatKernels.scalar(), FloatKernels.simd()};
            for (int r = 0; r < 2; r++) {
                MemorySegment p = copy(p0);
                MemorySegment m = copy(m0);
                MemorySegment v = copy(v0);
                kernels[r].adamW(p, m, v, g, OFF, n, c);
                assertGuardsUntouched(p, p0, n, kernels[r].name() + " adamW p");
                runs[r] = new MemorySegment[] {p, m, v};
            }
            double[] ep = new double[n];
            double[] em = new double[n];
            double[] ev = new double[n];
            for (int i = 0; i < n; i++) {
                double gi = g.getAtIndex(F, OFF + i);
                em[i] = c.beta1() * (double) m0.getAtIndex(F, OFF + i) + c.oneMinusBeta1() * gi;
                ev[i] = c.beta2() * (double) v0.getAtIndex(F, OFF + i) + c.oneMinusBeta2() * gi * gi;
                ep[i] = p0.getAtIndex(F, OFF + i) * (double) c.decay()
                        - c.stepSize() * em[i] / (Math.sqrt(ev[i]) / c.bc2Sqrt() + c.eps());
            }
            assertClose(em, read(runs[0][1], n), 1e-5, 1e-7, "scalar adamW m, n = " + n);
            assertClose(ev, read(runs[0][2], n), 1e-5, 1e-9, "scalar adamW v, n = " + n);
            assertClose(ep, read(runs[0][0], n), 1e-5, 1e-6, "scalar adamW p, n = " + n);
            for (int a = 0; a < 3; a++) {
                org.junit.jupiter.api.Assertions.assertArrayEquals(readF(runs[0][a], n), readF(runs[1][a], n),
                        "simd against scalar, array " + a + ", n = " + n);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void reductionsMatchFloat64(FloatKernels k) {
        SplittableRandom rng = new SplittableRandom(1);
        for (int n : LENGTHS) {
            MemorySegment a = data(rng, n, 1);
            MemorySegment b = data(rng, n, 1);
            double[] ad = read(a, n);
            double[] bd = read(b, n);
            double sum = 0;
            double dot = 0;
            double max = Double.NEGATIVE_INFINITY;
            double center = 0.3;
            double ssd = 0;
            double dotc = 0;
            for (int i = 0; i < n; i++) {
                sum += ad[i];
                dot += ad[i] * bd[i];
                max = Math.max(max, ad[i]);
                ssd += (ad[i] - center) * (ad[i] - center);
                dotc += bd[i] * (ad[i] - center);
            }
            String at = k.name() + " n=" + n;
            assertClose(new double[]{sum}, new float[]{k.sum(a, OFF, n)}, 1e-5, 1e-4, "sum " + at);
            assertClose(new double[]{dot}, new float[]{k.dot(a, OFF, b, OFF, n)}, 1e-5, 1e-4, "dot " + at);
            assertEquals(max, k.max(a, OFF, n), "max " + at); // exact: no rounding in a max
            assertClose(new double[]{ssd}, new float[]{k.sumSquaredDeviation(a, OFF, n, (float) center)}, 1e-5, 1e-4,
                    "sumSquaredDeviation " + at);
            assertClose(new double[]{dotc}, new float[]{k.dotCentered(b, OFF, a, OFF, n, (float) center)}, 1e-5, 1e-4,
                    "dotCentered " + at);
        }
    }

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void mapsMatchFloat64(FloatKernels k) {
        SplittableRandom rng = new SplittableRandom(2);
        for (int n : LENGTHS) {
            MemorySegment a = data(rng, n, 1);
            MemorySegment b = data(rng, n, 1);
            MemorySegment c = data(rng, n, 1);
            double[] ad = read(a, n);
            double[] bd = read(b, n);
            double[] cd = read(c, n);
            String at = k.name() + " n=" + n;
            for (BinaryOp op : BinaryOp.values()) {
                DoubleBinaryOperator f = switch (op) {
                    case ADD -> Double::sum;
                    case SUB -> (x, y) -> x - y;
                    case MUL -> (x, y) -> x * y;
                };
                MemorySegment out = poisoned(n);
                MemorySegment before = copy(out);
                k.binary(op, a, OFF, b, OFF, out, OFF, n);
                assertClose(map2(ad, bd, f), readF(out, n), 1e-6, 1e-7, op + " " + at);
                assertGuardsUntouched(out, before, n, op + " " + at);
                out = poisoned(n);
                k.binaryScalarRight(op, a, OFF, 0.7f, out, OFF, n);
                assertClose(map2(ad, constant(n, 0.7f), f), readF(out, n), 1e-6, 1e-7, op + " scalar right " + at);
                out = poisoned(n);
                k.binaryScalarLeft(op, 0.7f, b, OFF, out, OFF, n);
                assertClose(map2(constant(n, 0.7f), bd, f), readF(out, n), 1e-6, 1e-7, op + " scalar left " + at);
            }
            MemorySegment out = poisoned(n);
            k.scale(a, OFF, -1.5f, out, OFF, n);
            assertClose(map2(ad, ad, (x, y) -> -1.5 * x), readF(out, n), 1e-6, 0, "scale " + at);
            out = poisoned(n);
            k.mulAdd(a, OFF, b, OFF, c, OFF, out, OFF, n);
            double[] fma = new double[n];
            for (int i = 0; i < n; i++) {
                fma[i] = ad[i] * bd[i] + cd[i];
            }
            assertClose(fma, readF(out, n), 1e-6, 1e-6, "mulAdd " + at);
            MemorySegment acc = copy(c);
            k.accumulateProduct(a, OFF, b, OFF, acc, OFF, n);
            assertClose(fma, readF(acc, n), 1e-6, 1e-6, "accumulateProduct " + at);
            MemorySegment y = copy(c);
            MemorySegment before = copy(y);
            k.axpy(0.25f, a, OFF, y, OFF, n);
            assertClose(map2(ad, cd, (x, z) -> 0.25 * x + z), readF(y, n), 1e-6, 1e-6, "axpy " + at);
            assertGuardsUntouched(y, before, n, "axpy " + at);
        }
    }

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void normalisationKernelsMatchFloat64(FloatKernels k) {
        SplittableRandom rng = new SplittableRandom(3);
        float center = -0.4f;
        float factor = 1.7f;
        float c1 = 0.2f;
        float c2 = -0.6f;
        for (int n : LENGTHS) {
            MemorySegment x = data(rng, n, 1);
            MemorySegment w = data(rng, n, 1);
            MemorySegment bias = data(rng, n, 1);
            double[] xd = read(x, n);
            double[] wd = read(w, n);
            double[] bd = read(bias, n);
            String at = k.name() + " n=" + n;
            for (int variant = 0; variant < 4; variant++) {
                boolean hasW = (variant & 1) != 0;
                boolean hasB = (variant & 2) != 0;
                double[] expected = new double[n];
                for (int i = 0; i < n; i++) {
                    expected[i] = (xd[i] - center) * factor * (hasW ? wd[i] : 1) + (hasB ? bd[i] : 0);
                }
                MemorySegment out = poisoned(n);
                k.normalize(x, OFF, center, factor, hasW ? w : null, OFF, hasB ? bias : null, OFF, out, OFF, n);
                assertClose(expected, readF(out, n), 1e-6, 1e-6, "normalize w=" + hasW + " b=" + hasB + " " + at);
            }
            double[] back = new double[n];
            double[] accExpected = new double[n];
            for (int i = 0; i < n; i++) {
                back[i] = factor * (wd[i] - c1 - (xd[i] - center) * c2);
                accExpected[i] = bd[i] + wd[i] * (xd[i] - center) * factor;
            }
            MemorySegment out = poisoned(n);
            k.normalizeBackward(w, OFF, x, OFF, center, factor, c1, c2, out, OFF, n);
            assertClose(back, readF(out, n), 1e-6, 1e-6, "normalizeBackward " + at);
            MemorySegment acc = copy(bias);
            k.accumulateNormalized(w, OFF, x, OFF, center, factor, acc, OFF, n);
            assertClose(accExpected, readF(acc, n), 1e-6, 1e-6, "accumulateNormalized " + at);
        }
    }

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void softmaxAndActivationKernelsMatchFloat64(FloatKernels k) {
        SplittableRandom rng = new SplittableRandom(4);
        for (int n : LENGTHS) {
            // spread 4 reaches the tails of both activations (|x| up to ~15)
            MemorySegment x = data(rng, n, 4);
            MemorySegment dy = data(rng, n, 1);
            double[] xd = read(x, n);
            double[] dyd = read(dy, n);
            String at = k.name() + " n=" + n;
            double shift = 2.5;
            double[] e = new double[n];
            double esum = 0;
            for (int i = 0; i < n; i++) {
                e[i] = Math.exp(xd[i] - shift);
                esum += e[i];
            }
            MemorySegment out = poisoned(n);
            float s = k.expShifted(x, OFF, (float) shift, out, OFF, n);
            assertClose(e, readF(out, n), 2e-6, 0, "expShifted " + at);
            assertClose(new double[]{esum}, new float[]{s}, 1e-5, 0, "expShifted sum " + at);
            out = poisoned(n);
            k.mulShifted(x, OFF, dy, OFF, 0.3f, out, OFF, n);
            assertClose(map2(xd, dyd, (p, q) -> p * (q - 0.3)), readF(out, n), 1e-6, 1e-6, "mulShifted " + at);

            double[] gelu = new double[n];
            double[] geluGrad = new double[n];
            double[] silu = new double[n];
            double[] siluGrad = new double[n];
            for (int i = 0; i < n; i++) {
                double v = xd[i];
                double c = Math.sqrt(2 / Math.PI);
                double t = Math.tanh(c * (v + 0.044715 * v * v * v));
                gelu[i] = 0.5 * v * (1 + t);
                geluGrad[i] = dyd[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v));
                double sg = 1 / (1 + Math.exp(-v));
                silu[i] = v * sg;
                siluGrad[i] = dyd[i] * sg * (1 + v * (1 - sg));
            }
            // transcendental kernels: a few ulp in tanh/exp, amplified where 1 + tanh cancels (atol)
            out = poisoned(n);
            k.gelu(x, OFF, out, OFF, n);
            assertClose(gelu, readF(out, n), 1e-5, 1e-6, "gelu " + at);
            out = poisoned(n);
            k.geluBackward(dy, OFF, x, OFF, out, OFF, n);
            assertClose(geluGrad, readF(out, n), 1e-5, 1e-6, "geluBackward " + at);
            out = poisoned(n);
            k.silu(x, OFF, out, OFF, n);
            assertClose(silu, readF(out, n), 1e-5, 1e-6, "silu " + at);
            out = poisoned(n);
            k.siluBackward(dy, OFF, x, OFF, out, OFF, n);
            assertClose(siluGrad, readF(out, n), 1e-5, 1e-6, "siluBackward " + at);
        }
    }

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void maxOfEmptyIsNegativeInfinityAndActivationTailsAreFinite(FloatKernels k) {
        MemorySegment x = data(new SplittableRandom(5), 20, 1);
        assertEquals(Float.NEGATIVE_INFINITY, k.max(x, OFF, 0));
        float[] extreme = {-1e4f, -200f, -90f, -30f, 30f, 90f, 200f, 1e4f, -1e4f, -200f, -90f, -30f, 30f, 90f, 200f, 1e4f, 0f};
        for (int i = 0; i < extreme.length; i++) {
            x.setAtIndex(F, OFF + i, extreme[i]);
        }
        MemorySegment out = poisoned(20);
        k.silu(x, OFF, out, OFF, extreme.length);
        float[] silu = readF(out, extreme.length);
        k.gelu(x, OFF, out, OFF, extreme.length);
        float[] gelu = readF(out, extreme.length);
        for (int i = 0; i < extreme.length; i++) {
            double expected = extreme[i] > 0 ? extreme[i] : 0;
            // at |x| >= 30 both are x or 0 to f32 precision
            assertEquals(expected, silu[i], Math.abs(expected) * 1e-6 + 1e-6, k.name() + " silu(" + extreme[i] + ") " + Arrays.toString(silu));
            assertEquals(expected, gelu[i], Math.abs(expected) * 1e-6 + 1e-6, k.name() + " gelu(" + extreme[i] + ") " + Arrays.toString(gelu));
        }
    }

    private static MemorySegment copy(MemorySegment s) {
        Tensor t = Tensor.allocate(io.sparge4j.engine.tensor.DType.F32, (int) (s.byteSize() / 4));
        MemorySegment.copy(s, 0, t.segment(), 0, s.byteSize());
        return t.segment();
    }

    private static double[] constant(int n, float v) {
        double[] out = new double[n];
        Arrays.fill(out, v);
        return out;
    }

    private static double[] map2(double[] a, double[] b, DoubleBinaryOperator f) {
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = f.applyAsDouble(a[i], b[i]);
        }
        return out;
    }
}
