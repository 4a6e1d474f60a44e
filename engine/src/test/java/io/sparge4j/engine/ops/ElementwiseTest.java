package io.sparge4j.engine.ops;

import io.sparge4j.engine.cpu.vec.BinaryOp;
import io.sparge4j.engine.cpu.vec.FloatKernels;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.DoubleBinaryOperator;

import static io.sparge4j.engine.testing.Assertions2.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Element-wise ops against float64 references written here. Tolerances: one f32 rounding per output
 * (rtol 1e-6, atol 1e-7 where results cross zero); reductions over up to a few hundred terms and
 * gradients compared with float64 central differences: rtol 1e-5, atol 1e-5.
 */
class ElementwiseTest {
    private static final int[][][] SHAPE_PAIRS = {
            {{2, 3, 4}, {4}},
            {{2, 1, 4}, {1, 3, 1}},
            {{5, 7}, {5, 7}},
            {{3, 1}, {1, 17}},
            {{}, {3, 2}},
            {{4, 1, 33}, {4, 5, 1}},
            {{17}, {2, 3, 17}},
            {{1}, {1}},
            {{2, 3, 1, 5}, {3, 4, 1}},
            {{3, 100, 70}, {100, 1}}, // > one parallel chunk, inner dim not a multiple of 16
            {{2, 20001}, {2, 20001}}, // one merged run of 40002, cut into pieces for the threads
            {{3, 20001}, {3, 1}}, // long rows with a broadcast scalar, cut into pieces
    };

    private static final int[][][] SMALL_SHAPE_PAIRS = {
            {{2, 3, 4}, {4}},
            {{2, 1, 4}, {1, 3, 1}},
            {{3, 1}, {1, 5}},
            {{}, {3, 2}},
            {{2, 3}, {2, 3}},
            {{2, 3, 1, 5}, {3, 4, 1}},
    };

    // ---------------------------------------------------------------- float64 reference

    static Tensor randn(SplittableRandom rng, int... shape) {
        return Tensor.randn(rng, DType.F32, shape);
    }

    /** Index into a (broadcast) source of the output element at {@code outFlat}. */
    static int sourceIndex(int outFlat, int[] outShape, int[] srcShape) {
        int src = 0;
        int srcStride = 1;
        int rem = outFlat;
        for (int d = outShape.length - 1; d >= 0; d--) {
            int coord = rem % outShape[d];
            rem /= outShape[d];
            int sd = d - (outShape.length - srcShape.length);
            if (sd >= 0) {
                if (srcShape[sd] != 1) {
                    src += coord * srcStride;
                }
                srcStride *= srcShape[sd];
            }
        }
        return src;
    }

    static int[] refShape(int[] a, int[] b) {
        int r = Math.max(a.length, b.length);
        int[] out = new int[r];
        for (int i = 0; i < r; i++) {
            int da = i - (r - a.length) >= 0 ? a[i - (r - a.length)] : 1;
            int db = i - (r - b.length) >= 0 ? b[i - (r - b.length)] : 1;
            out[i] = Math.max(da, db);
        }
        return out;
    }

    static double[] refBinary(double[] a, int[] as, double[] b, int[] bs, DoubleBinaryOperator f) {
        int[] os = refShape(as, bs);
        double[] out = new double[(int) Tensor.numelOf(os)];
        for (int i = 0; i < out.length; i++) {
            out[i] = f.applyAsDouble(a[sourceIndex(i, os, as)], b[sourceIndex(i, os, bs)]);
        }
        return out;
    }

    static DoubleBinaryOperator fn(BinaryOp op) {
        return switch (op) {
            case ADD -> Double::sum;
            case SUB -> (x, y) -> x - y;
            case MUL -> (x, y) -> x * y;
        };
    }

    // ---------------------------------------------------------------- add, sub, mul

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void broadcastingBinaryOpsMatchFloat64(FloatKernels k) {
        SplittableRandom rng = new SplittableRandom(11);
        for (int[][] pair : SHAPE_PAIRS) {
            for (int swap = 0; swap < 2; swap++) {
                int[] as = pair[swap];
                int[] bs = pair[1 - swap];
                Tensor a = randn(rng, as);
                Tensor b = randn(rng, bs);
                for (BinaryOp op : BinaryOp.values()) {
                    Tensor out = Elementwise.binary(op.name(), op, a, b, k);
                    String what = k.name() + " " + op + " " + Arrays.toString(as) + " with " + Arrays.toString(bs);
                    assertArrayEquals(refShape(as, bs), out.shape(), what + ": shape");
                    assertClose(refBinary(a.toDoubleArray(), as, b.toDoubleArray(), bs, fn(op)), out.toFloatArray(),
                            1e-6, 1e-7, what);
                }
            }
        }
    }

    @Test
    void publicEntryPointsUseTheSameOps() {
        SplittableRandom rng = new SplittableRandom(12);
        Tensor a = randn(rng, 2, 3, 4);
        Tensor b = randn(rng, 4);
        double[] ad = a.toDoubleArray();
        double[] bd = b.toDoubleArray();
        assertClose(refBinary(ad, a.shape(), bd, b.shape(), Double::sum), Elementwise.add(a, b).toFloatArray(), 1e-6, 1e-7, "add");
        assertClose(refBinary(ad, a.shape(), bd, b.shape(), (x, y) -> x - y), Elementwise.sub(a, b).toFloatArray(), 1e-6, 1e-7, "sub");
        assertClose(refBinary(ad, a.shape(), bd, b.shape(), (x, y) -> x * y), Elementwise.mul(a, b).toFloatArray(), 1e-6, 1e-7, "mul");
        assertArrayEquals(new int[]{2, 3, 4}, Elementwise.broadcastShape(new int[]{2, 1, 4}, new int[]{3, 1}));
    }

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void broadcastingBackwardMatchesFiniteDifferences(FloatKernels k) {
        SplittableRandom rng = new SplittableRandom(13);
        for (int[][] pair : SMALL_SHAPE_PAIRS) {
            for (int swap = 0; swap < 2; swap++) {
                int[] as = pair[swap];
                int[] bs = pair[1 - swap];
                Tensor a = randn(rng, as);
                Tensor b = randn(rng, bs);
                Tensor dy = randn(rng, refShape(as, bs));
                double[] ad = a.toDoubleArray();
                double[] bd = b.toDoubleArray();
                double[] dyd = dy.toDoubleArray();
                for (BinaryOp op : BinaryOp.values()) {
                    Elementwise.BroadcastGrads g = switch (op) {
                        case ADD -> Elementwise.linearBackward("addBackward", dy, a, b, false, k);
                        case SUB -> Elementwise.linearBackward("subBackward", dy, a, b, true, k);
                        case MUL -> Elementwise.mulBackward(dy, a, b, k);
                    };
                    DoubleBinaryOperator f = fn(op);
                    double[] expectA = GradCheck.gradient(x -> GradCheck.dot(refBinary(x, as, bd, bs, f), dyd), ad.clone());
                    double[] expectB = GradCheck.gradient(x -> GradCheck.dot(refBinary(ad, as, x, bs, f), dyd), bd.clone());
                    String what = k.name() + " " + op + "Backward " + Arrays.toString(as) + " with " + Arrays.toString(bs);
                    assertArrayEquals(as, g.da().shape(), what + ": da shape");
                    assertArrayEquals(bs, g.db().shape(), what + ": db shape");
                    assertClose(expectA, g.da().toFloatArray(), 1e-5, 1e-5, what + ": da");
                    assertClose(expectB, g.db().toFloatArray(), 1e-5, 1e-5, what + ": db");
                }
            }
        }
    }

    @Test
    void publicBackwardEntryPoints() {
        SplittableRandom rng = new SplittableRandom(14);
        Tensor a = randn(rng, 2, 1, 4);
        Tensor b = randn(rng, 1, 3, 1);
        Tensor dy = randn(rng, 2, 3, 4);
        double[] dyd = dy.toDoubleArray();
        double[] sumA = new double[8];
        double[] sumB = new double[3];
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < 3; j++) {
                for (int l = 0; l < 4; l++) {
                    sumA[i * 4 + l] += dyd[(i * 3 + j) * 4 + l];
                    sumB[j] += dyd[(i * 3 + j) * 4 + l];
                }
            }
        }
        Elementwise.BroadcastGrads add = Elementwise.addBackward(dy, a, b);
        assertClose(sumA, add.da().toFloatArray(), 1e-5, 1e-5, "addBackward da");
        assertClose(sumB, add.db().toFloatArray(), 1e-5, 1e-5, "addBackward db");
        Elementwise.BroadcastGrads sub = Elementwise.subBackward(dy, a, b);
        assertClose(Arrays.stream(sumB).map(v -> -v).toArray(), sub.db().toFloatArray(), 1e-5, 1e-5, "subBackward db");
        Elementwise.BroadcastGrads mul = Elementwise.mulBackward(dy, a, b);
        double[] expect = GradCheck.gradient(x -> GradCheck.dot(refBinary(x, a.shape(), b.toDoubleArray(), b.shape(),
                (p, q) -> p * q), dyd), a.toDoubleArray());
        assertClose(expect, mul.da().toFloatArray(), 1e-5, 1e-5, "mulBackward da");
    }

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void sumToReducesBroadcastDimensions(FloatKernels k) {
        SplittableRandom rng = new SplittableRandom(15);
        int[][][] cases = {
                {{3, 4, 5}, {3, 1, 1}}, {{3, 4, 5}, {4, 1}}, {{2, 3, 4}, {4}}, {{2, 3, 4}, {2, 1, 4}},
                {{2, 3, 4}, {}}, {{6, 5}, {6, 5}}, {{300, 70}, {70}}, {{70, 300}, {70, 1}}, {{2, 3, 4, 5}, {3, 1, 5}},
        };
        for (int[][] c : cases) {
            Tensor t = randn(rng, c[0]);
            double[] td = t.toDoubleArray();
            double[] expect = new double[(int) Tensor.numelOf(c[1])];
            for (int i = 0; i < td.length; i++) {
                expect[sourceIndex(i, c[0], c[1])] += td[i];
            }
            Tensor out = Elementwise.sumTo("sumTo", t, c[1], k);
            String what = k.name() + " sumTo " + Arrays.toString(c[0]) + " -> " + Arrays.toString(c[1]);
            assertArrayEquals(c[1], out.shape(), what);
            // up to 300 terms of size ~1: f32 sums good to ~1e-5 of sqrt(300)
            assertClose(expect, out.toFloatArray(), 1e-5, 1e-4, what);
        }
        assertClose(new double[]{Arrays.stream(randn(new SplittableRandom(16), 3).toDoubleArray()).sum()},
                Elementwise.sumTo(randn(new SplittableRandom(16), 3), 1).toFloatArray(), 1e-6, 1e-6, "public sumTo");
    }

    // ---------------------------------------------------------------- scale, in-place

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void inPlaceHelpers(FloatKernels k) {
        SplittableRandom rng = new SplittableRandom(17);
        Tensor a = randn(rng, 5, 37);
        Tensor b = randn(rng, 37);
        double[] ad = a.toDoubleArray();
        double[] bd = b.toDoubleArray();
        Elementwise.addInPlace(a, b, k);
        assertClose(refBinary(ad, new int[]{5, 37}, bd, new int[]{37}, Double::sum), a.toFloatArray(), 1e-6, 1e-7,
                k.name() + " addInPlace");

        Tensor x = randn(rng, 3, 41);
        Tensor y = randn(rng, 3, 41);
        double[] xd = x.toDoubleArray();
        double[] yd = y.toDoubleArray();
        Elementwise.axpy(-0.75f, x, y, k);
        double[] expect = new double[xd.length];
        for (int i = 0; i < xd.length; i++) {
            expect[i] = yd[i] - 0.75 * xd[i];
        }
        assertClose(expect, y.toFloatArray(), 1e-6, 1e-6, k.name() + " axpy");

        Tensor s = Tensor.allocate(DType.F32, 3, 41);
        s.fill(Float.NaN);
        Elementwise.scaleInto(x, 2.5f, s, k);
        assertClose(Arrays.stream(xd).map(v -> 2.5 * v).toArray(), s.toFloatArray(), 1e-6, 0, k.name() + " scale");
    }

    @Test
    void publicScaleHelpers() {
        SplittableRandom rng = new SplittableRandom(18);
        Tensor x = randn(rng, 40000); // several parallel chunks
        double[] xd = x.toDoubleArray();
        assertClose(Arrays.stream(xd).map(v -> -3 * v).toArray(), Elementwise.scale(x, -3f).toFloatArray(), 1e-6, 0, "scale");
        Elementwise.scaleInPlace(x, 0.5f);
        assertClose(Arrays.stream(xd).map(v -> 0.5 * v).toArray(), x.toFloatArray(), 1e-6, 0, "scaleInPlace");
        Tensor y = randn(rng, 40000);
        double[] yd = y.toDoubleArray();
        Elementwise.axpy(2f, x, y);
        double[] expect = new double[yd.length];
        for (int i = 0; i < yd.length; i++) {
            expect[i] = yd[i] + xd[i];
        }
        assertClose(expect, y.toFloatArray(), 1e-6, 1e-6, "axpy");
        Tensor a = randn(rng, 2, 3);
        double[] ad = a.toDoubleArray();
        Elementwise.addInPlace(a, Tensor.of(new float[]{1, 2, 3}, 3));
        assertEquals(ad[5] + 3, a.get(1, 2), 1e-6);
    }

    // ---------------------------------------------------------------- modulate and gatedAdd

    /** Row index of a modulation vector of shape {@code ms} for batch {@code b}. */
    private static int modRow(int[] ms, int b) {
        return ms.length == 1 || ms[0] == 1 ? 0 : b;
    }

    static double[] refModulate(double[] x, int[] xs, double[] shift, int[] hs, double[] scale, int[] ss) {
        int d = xs[xs.length - 1];
        int tokens = xs[xs.length - 2];
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            int b = i / (tokens * d);
            int c = i % d;
            out[i] = x[i] * (1 + scale[modRow(ss, b) * d + c]) + shift[modRow(hs, b) * d + c];
        }
        return out;
    }

    static double[] refGatedAdd(double[] x, int[] xs, double[] gate, int[] gs, double[] y) {
        int d = xs[xs.length - 1];
        int tokens = xs[xs.length - 2];
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] + gate[modRow(gs, i / (tokens * d)) * d + i % d] * y[i];
        }
        return out;
    }

    /** x shape, then the modulation shapes allowed with it. */
    private static final int[][][] MODULATION_CASES = {
            {{2, 5, 19}, {2, 19}, {2, 1, 19}, {19}, {1, 19}, {1, 1, 19}},
            {{7, 19}, {19}, {1, 19}, {1, 1, 19}},
            {{3, 40, 48}, {3, 48}},
            {{1, 2, 1}, {1}, {1, 1}},
    };

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void modulateAndGatedAddMatchFloat64(FloatKernels k) {
        SplittableRandom rng = new SplittableRandom(19);
        for (int[][] c : MODULATION_CASES) {
            int[] xs = c[0];
            for (int m = 1; m < c.length; m++) {
                int[] ms = c[m];
                int[] ms2 = c[1 + (m % (c.length - 1))]; // shift and scale of different allowed shapes
                Tensor x = randn(rng, xs);
                Tensor shift = randn(rng, ms2);
                Tensor scale = randn(rng, ms);
                Tensor y = randn(rng, xs);
                String what = k.name() + " x " + Arrays.toString(xs) + " mod " + Arrays.toString(ms);
                assertClose(refModulate(x.toDoubleArray(), xs, shift.toDoubleArray(), ms2, scale.toDoubleArray(), ms),
                        Elementwise.modulate(x, shift, scale, k).toFloatArray(), 1e-6, 1e-6, "modulate " + what);
                assertClose(refGatedAdd(x.toDoubleArray(), xs, scale.toDoubleArray(), ms, y.toDoubleArray()),
                        Elementwise.gatedAdd(x, scale, y, k).toFloatArray(), 1e-6, 1e-6, "gatedAdd " + what);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")
    void modulateAndGatedAddBackwardMatchFiniteDifferences(FloatKernels k) {
        SplittableRandom rng = new SplittableRandom(20);
        int[][][] cases = {
                {{2, 3, 5}, {2, 5}}, {{2, 3, 5}, {2, 1, 5}}, {{2, 3, 5}, {5}}, {{2, 3, 5}, {1, 5}}, {{4, 6}, {6}},
                {{2, 70, 20}, {2, 20}}, // two row groups in the reductions
                {{2, 15, 150}, {150}}, // several column blocks, reduced over the batch too
        };
        for (int[][] c : cases) {
            int[] xs = c[0];
            int[] ms = c[1];
            boolean big = Tensor.numelOf(xs) > 1000;
            Tensor x = randn(rng, xs);
            Tensor shift = randn(rng, ms);
            Tensor scale = randn(rng, ms);
            Tensor y = randn(rng, xs);
            Tensor dy = randn(rng, xs);
            double[] xd = x.toDoubleArray();
            double[] hd = shift.toDoubleArray();
            double[] sd = scale.toDoubleArray();
            double[] yd = y.toDoubleArray();
            double[] dyd = dy.toDoubleArray();
            String what = k.name() + " x " + Arrays.toString(xs) + " mod " + Arrays.toString(ms);

            Elementwise.ModulateGrads g = Elementwise.modulateBackward(dy, x, scale, k);
            assertArrayEquals(ms, g.dShift().shape(), what);
            assertArrayEquals(ms, g.dScale().shape(), what);
            if (!big) {
                assertClose(GradCheck.gradient(v -> GradCheck.dot(refModulate(v, xs, hd, ms, sd, ms), dyd), xd.clone()),
                        g.dx().toFloatArray(), 1e-5, 1e-5, "modulateBackward dx " + what);
            }
            assertClose(GradCheck.gradient(v -> GradCheck.dot(refModulate(xd, xs, v, ms, sd, ms), dyd), hd.clone()),
                    g.dShift().toFloatArray(), 1e-5, 1e-4, "modulateBackward dShift " + what);
            assertClose(GradCheck.gradient(v -> GradCheck.dot(refModulate(xd, xs, hd, ms, v, ms), dyd), sd.clone()),
                    g.dScale().toFloatArray(), 1e-5, 1e-4, "modulateBackward dScale " + what);

            Elementwise.GatedAddGrads ga = Elementwise.gatedAddBackward(dy, scale, y, k);
            assertArrayEquals(dy.toFloatArray(), ga.dx().toFloatArray(), "gatedAddBackward dx " + what);
            assertClose(GradCheck.gradient(v -> GradCheck.dot(refGatedAdd(xd, xs, v, ms, yd), dyd), sd.clone()),
                    ga.dGate().toFloatArray(), 1e-5, 1e-4, "gatedAddBackward dGate " + what);
            if (!big) {
                assertClose(GradCheck.gradient(v -> GradCheck.dot(refGatedAdd(xd, xs, sd, ms, v), dyd), yd.clone()),
                        ga.dy().toFloatArray(), 1e-5, 1e-5, "gatedAddBackward dy " + what);
            }
        }
    }

    @Test
    void publicModulationEntryPoints() {
        SplittableRandom rng = new SplittableRandom(21);
        int[] xs = {2, 4, 3};
        int[] ms = {2, 3};
        Tensor x = randn(rng, xs);
        Tensor shift = randn(rng, ms);
        Tensor scale = randn(rng, ms);
        Tensor y = randn(rng, xs);
        Tensor dy = randn(rng, xs);
        assertClose(refModulate(x.toDoubleArray(), xs, shift.toDoubleArray(), ms, scale.toDoubleArray(), ms),
                Elementwise.modulate(x, shift, scale).toFloatArray(), 1e-6, 1e-6, "modulate");
        assertClose(refGatedAdd(x.toDoubleArray(), xs, scale.toDoubleArray(), ms, y.toDoubleArray()),
                Elementwise.gatedAdd(x, scale, y).toFloatArray(), 1e-6, 1e-6, "gatedAdd");
        double[] dyd = dy.toDoubleArray();
        assertClose(GradCheck.gradient(v -> GradCheck.dot(refModulate(x.toDoubleArray(), xs, shift.toDoubleArray(), ms, v, ms),
                dyd), scale.toDoubleArray()), Elementwise.modulateBackward(dy, x, scale).dScale().toFloatArray(), 1e-5, 1e-5,
                "modulateBackward dScale");
        assertClose(GradCheck.gradient(v -> GradCheck.dot(refGatedAdd(x.toDoubleArray(), xs, v, ms, y.toDoubleArray()), dyd),
                scale.toDoubleArray()), Elementwise.gatedAddBackward(dy, scale, y).dGate().toFloatArray(), 1e-5, 1e-5,
                "gatedAddBackward dGate");
    }

    // ---------------------------------------------------------------- bad arguments

    private static void assertRejected(Runnable r, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "message '" + e.getMessage() + "' lacks '" + p + "'");
        }
    }

    @Test
    void rejectsBadArguments() {
        Tensor a23 = Tensor.randn(1, 2, 3);
        Tensor b4 = Tensor.randn(2, 4);
        assertRejected(() -> Elementwise.add(a23, b4), "add: b has shape [4]", "broadcasts with [2, 3]");
        assertRejected(() -> Elementwise.mul(Tensor.randn(3, 2, 3, 4), Tensor.randn(4, 2, 1, 3)), "mul: b has shape [2, 1, 3]");
        assertRejected(() -> Elementwise.broadcastShape(new int[]{3}, new int[]{2}), "broadcastShape", "[2]", "[3]");
        assertRejected(() -> Elementwise.sub(a23.to(DType.BF16), a23), "sub: a has dtype");
        assertRejected(() -> Elementwise.add(a23, Tensor.ofInts(new int[]{1, 2, 3}, 3)), "add: b has dtype");
        assertRejected(() -> Elementwise.add(null, a23), "add: a is null");
        assertRejected(() -> Elementwise.mulBackward(Tensor.randn(5, 3, 3), a23, a23), "mulBackward: dy has shape [3, 3]",
                "expected [2, 3]");
        assertRejected(() -> Elementwise.sumTo(a23, 3, 1), "sumTo", "[3, 1]", "[2, 3]");
        assertRejected(() -> Elementwise.addInPlace(Tensor.randn(6, 3), a23), "addInPlace: b has shape [2, 3]", "[3]");
        assertRejected(() -> Elementwise.axpy(1f, a23, Tensor.randn(7, 3, 2)), "axpy: y has shape [3, 2]", "expected [2, 3]");

        Tensor x = Tensor.randn(8, 2, 5, 6);
        assertRejected(() -> Elementwise.modulate(x, Tensor.randn(9, 2, 5), Tensor.randn(10, 6)), "modulate: shift has shape [2, 5]",
                "expected (6), (2, 6) or (2, 1, 6)");
        assertRejected(() -> Elementwise.modulate(x, Tensor.randn(9, 6), Tensor.randn(10, 3, 6)), "modulate: scale has shape [3, 6]");
        assertRejected(() -> Elementwise.modulate(x, Tensor.randn(9, 6), Tensor.randn(10, 2, 2, 6)), "modulate: scale");
        assertRejected(() -> Elementwise.modulate(Tensor.randn(9, 6), Tensor.randn(9, 6), Tensor.randn(10, 6)),
                "modulate: x has shape [6]", "expected (B, L, D) or (L, D)");
        assertRejected(() -> Elementwise.modulateBackward(Tensor.randn(3, 2, 4, 6), x, Tensor.randn(10, 6)),
                "modulateBackward: dy has shape [2, 4, 6]");
        assertRejected(() -> Elementwise.gatedAdd(x, Tensor.randn(9, 6).to(DType.F16), x), "gatedAdd: gate has dtype");
        assertRejected(() -> Elementwise.gatedAdd(x, Tensor.randn(9, 6), Tensor.randn(9, 2, 5, 7)), "gatedAdd: y has shape");
        assertRejected(() -> Elementwise.gatedAddBackward(x, Tensor.randn(9, 3, 6), x), "gatedAddBackward: gate has shape [3, 6]");
    }

    @Test
    void emptyTensorsGiveEmptyResults() {
        Tensor a = Tensor.allocate(DType.F32, 0, 4);
        Tensor b = Tensor.randn(1, 4);
        assertArrayEquals(new int[]{0, 4}, Elementwise.add(a, b).shape());
        Elementwise.BroadcastGrads g = Elementwise.addBackward(Tensor.allocate(DType.F32, 0, 4), a, b);
        assertArrayEquals(new float[4], g.db().toFloatArray());
        Elementwise.ModulateGrads m = Elementwise.modulateBackward(Tensor.allocate(DType.F32, 2, 0, 4),
                Tensor.allocate(DType.F32, 2, 0, 4), Tensor.randn(2, 2, 4));
        assertArrayEquals(new float[8], m.dScale().toFloatArray());
    }
}
