package io.sparge4j.engine.ops;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Patchify and unpatchify move elements without arithmetic, so they are compared exactly with plain
 * loop references: patchify against the patches a Conv3d with kernel = stride sees (and, in float64,
 * against the convolution itself), unpatchify against Wan2.1's {@code einsum('fhwpqrc->cfphqwr')}.
 * Backward passes are checked against float64 finite differences of those references (1e-6 absolute:
 * the losses are linear) and by adjointness (1e-9 relative).
 */
class PatchifyTest {

    /** Reference patchify: token (fo, ho, wo), feature (c, kt, kh, kw) = x[b, c, fo*pt+kt, ho*ph+kh, wo*pw+kw]. */
    private static double[] refPatchify(double[] x, int[] s, int pt, int ph, int pw) {
        int batch = s[0], ch = s[1], nf = s[2], nh = s[3], nw = s[4];
        int gf = nf / pt, gh = nh / ph, gw = nw / pw;
        int k = ch * pt * ph * pw;
        double[] out = new double[batch * gf * gh * gw * k];
        int o = 0;
        for (int b = 0; b < batch; b++) {
            for (int fo = 0; fo < gf; fo++) {
                for (int ho = 0; ho < gh; ho++) {
                    for (int wo = 0; wo < gw; wo++) {
                        for (int c = 0; c < ch; c++) {
                            for (int kt = 0; kt < pt; kt++) {
                                for (int kh = 0; kh < ph; kh++) {
                                    for (int kw = 0; kw < pw; kw++) {
                                        out[o++] = x[(((b * ch + c) * nf + fo * pt + kt) * nh + ho * ph + kh) * nw
                                                + wo * pw + kw];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out;
    }

    /** Wan's unpatchify: view (gf, gh, gw, pt, ph, pw, C), einsum 'fhwpqrc->cfphqwr', reshape. */
    private static double[] refUnpatchify(double[] y, int batch, int len, int ch, int gf, int gh, int gw, int pt,
                                          int ph, int pw) {
        int nf = gf * pt, nh = gh * ph, nw = gw * pw;
        int k = pt * ph * pw * ch;
        double[] out = new double[batch * ch * nf * nh * nw];
        for (int b = 0; b < batch; b++) {
            for (int f = 0; f < gf; f++) {
                for (int h = 0; h < gh; h++) {
                    for (int w = 0; w < gw; w++) {
                        for (int p = 0; p < pt; p++) {
                            for (int q = 0; q < ph; q++) {
                                for (int r = 0; r < pw; r++) {
                                    for (int c = 0; c < ch; c++) {
                                        double v = y[(b * len + (f * gh + h) * gw + w) * k + ((p * ph + q) * pw + r) * ch + c];
                                        out[(((b * ch + c) * nf + f * pt + p) * nh + h * ph + q) * nw + w * pw + r] = v;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out;
    }

    private static final int[][] PATCHES = {{1, 2, 2}, {2, 3, 1}, {3, 1, 2}, {1, 1, 1}};

    @Test
    void patchifyMatchesReferenceForOddSizes() {
        SplittableRandom rng = new SplittableRandom(51);
        for (int[] p : PATCHES) {
            int[] s = {2, 3, 3 * p[0], 5 * p[1], 3 * p[2]};
            Tensor x = Tensor.randn(rng, DType.F32, s);
            Tensor y = Patchify.patchify(x, p[0], p[1], p[2]);
            assertArrayEquals(new int[]{2, 3 * 5 * 3, 3 * p[0] * p[1] * p[2]}, y.shape());
            assertArrayEquals(refPatchify(x.toDoubleArray(), s, p[0], p[1], p[2]), y.toDoubleArray(), 0.0,
                    "patch " + java.util.Arrays.toString(p));
            Rope.Grid grid = Patchify.grid(s, p[0], p[1], p[2]);
            assertEquals(new Rope.Grid(3, 5, 3), grid);
        }
    }

    @Test
    void patchifyThenFlattenedWeightIsTheConv3d() {
        SplittableRandom rng = new SplittableRandom(52);
        int batch = 1, ch = 3, dim = 5, pt = 1, ph = 2, pw = 2;
        int[] s = {batch, ch, 2, 6, 4};
        Tensor x = Tensor.randn(rng, DType.F32, s);
        double[] w = Tensor.randn(rng, DType.F32, dim, ch, pt, ph, pw).toDoubleArray(); // Conv3d weight layout
        double[] xd = x.toDoubleArray();
        double[] tokens = Patchify.patchify(x, pt, ph, pw).toDoubleArray();
        int k = ch * pt * ph * pw;
        int gf = 2, gh = 3, gw = 2;
        for (int fo = 0; fo < gf; fo++) {
            for (int ho = 0; ho < gh; ho++) {
                for (int wo = 0; wo < gw; wo++) {
                    int token = (fo * gh + ho) * gw + wo;
                    for (int o = 0; o < dim; o++) {
                        double conv = 0; // Conv3d, stride = kernel, written from its definition
                        for (int c = 0; c < ch; c++) {
                            for (int kt = 0; kt < pt; kt++) {
                                for (int kh = 0; kh < ph; kh++) {
                                    for (int kw = 0; kw < pw; kw++) {
                                        conv += w[(((o * ch + c) * pt + kt) * ph + kh) * pw + kw]
                                                * xd[((c * 2 + fo * pt + kt) * 6 + ho * ph + kh) * 4 + wo * pw + kw];
                                    }
                                }
                            }
                        }
                        double linear = 0; // tokens @ weight.reshape(dim, -1)^T
                        for (int j = 0; j < k; j++) {
                            linear += tokens[token * k + j] * w[o * k + j];
                        }
                        assertEquals(conv, linear, 1e-12 * (1 + Math.abs(conv)), "token " + token + " channel " + o);
                    }
                }
            }
        }
    }

    @Test
    void unpatchifyMatchesWanEinsumAndIgnoresPaddingTokens() {
        SplittableRandom rng = new SplittableRandom(53);
        for (int[] p : PATCHES) {
            int batch = 2, ch = 3, gf = 2, gh = 3, gw = 5, len = gf * gh * gw + 2;
            Tensor y = Tensor.randn(rng, DType.F32, batch, len, p[0] * p[1] * p[2] * ch);
            Tensor x = Patchify.unpatchify(y, ch, gf, gh, gw, p[0], p[1], p[2]);
            assertArrayEquals(new int[]{batch, ch, gf * p[0], gh * p[1], gw * p[2]}, x.shape());
            assertArrayEquals(refUnpatchify(y.toDoubleArray(), batch, len, ch, gf, gh, gw, p[0], p[1], p[2]),
                    x.toDoubleArray(), 0.0, "patch " + java.util.Arrays.toString(p));
        }
    }

    @Test
    void largeVideoRunsInParallelAndMatches() {
        SplittableRandom rng = new SplittableRandom(54);
        int[] s = {1, 16, 3, 64, 66};
        Tensor x = Tensor.randn(rng, DType.F32, s);
        Tensor y = Patchify.patchify(x, 1, 2, 2);
        assertArrayEquals(refPatchify(x.toDoubleArray(), s, 1, 2, 2), y.toDoubleArray(), 0.0);
        Tensor back = Patchify.unpatchify(y, 16, 3, 32, 33, 1, 2, 2);
        assertArrayEquals(refUnpatchify(y.toDoubleArray(), 1, 3 * 32 * 33, 16, 3, 32, 33, 1, 2, 2),
                back.toDoubleArray(), 0.0);
    }

    @Test
    void patchifyThenUnpatchifyWithMatchingOrdersIsIdentity() {
        SplittableRandom rng = new SplittableRandom(55);
        for (int[] p : PATCHES) {
            int ch = 3, pp = p[0] * p[1] * p[2];
            int[] s = {2, ch, 2 * p[0], 3 * p[1], 2 * p[2]};
            Tensor x = Tensor.randn(rng, DType.F32, s);
            Tensor tokens = Patchify.patchify(x, p[0], p[1], p[2]); // (c, kt, kh, kw)
            int len = tokens.dim(1);
            // reorder features to (kt, kh, kw, c), the order unpatchify reads
            Tensor channelLast = Shapes.permute(tokens.reshape(2, len, ch, pp), 0, 1, 3, 2).reshape(2, len, pp * ch);
            Tensor back = Patchify.unpatchify(channelLast, ch, 2, 3, 2, p[0], p[1], p[2]);
            assertArrayEquals(x.toFloatArray(), back.toFloatArray(), 0f, "patch " + java.util.Arrays.toString(p));
        }
        // with one channel the two feature orders coincide
        Tensor x = Tensor.randn(56, 1, 1, 4, 6, 4);
        Tensor back = Patchify.unpatchify(Patchify.patchify(x, 2, 3, 2), 1, 2, 2, 2, 2, 3, 2);
        assertArrayEquals(x.toFloatArray(), back.toFloatArray(), 0f);
    }

    @Test
    void patchifyBackwardMatchesFiniteDifferencesAndAdjointness() {
        SplittableRandom rng = new SplittableRandom(57);
        int[] s = {2, 2, 2, 4, 2};
        int pt = 2, ph = 2, pw = 1;
        Tensor x = Tensor.randn(rng, DType.F32, s);
        Tensor y = Patchify.patchify(x, pt, ph, pw);
        Tensor dy = Tensor.randn(rng, DType.F32, y.shape());
        double[] dyd = dy.toDoubleArray();
        Tensor dx = Patchify.patchifyBackward(dy, 2, 1, 2, 2, pt, ph, pw);
        assertArrayEquals(s, dx.shape());
        double[] fd = GradCheck.gradient(v -> GradCheck.dot(dyd, refPatchify(v, s, pt, ph, pw)), x.toDoubleArray());
        assertArrayEquals(fd, dx.toDoubleArray(), 1e-6, "d patchify / d x");
        double left = GradCheck.dot(dyd, y.toDoubleArray());
        assertEquals(left, GradCheck.dot(dx.toDoubleArray(), x.toDoubleArray()), 1e-9 * Math.abs(left), "adjoint");
        assertArrayEquals(x.toFloatArray(), Patchify.patchifyBackward(y, 2, 1, 2, 2, pt, ph, pw).toFloatArray(), 0f,
                "patchifyBackward inverts patchify");
    }

    @Test
    void unpatchifyBackwardMatchesFiniteDifferencesWithPaddingRows() {
        SplittableRandom rng = new SplittableRandom(58);
        int batch = 2, ch = 2, gf = 1, gh = 2, gw = 3, pt = 1, ph = 2, pw = 2, len = gf * gh * gw + 1;
        int k = pt * ph * pw * ch;
        Tensor y = Tensor.randn(rng, DType.F32, batch, len, k);
        Tensor x = Patchify.unpatchify(y, ch, gf, gh, gw, pt, ph, pw);
        Tensor dx = Tensor.randn(rng, DType.F32, x.shape());
        double[] dxd = dx.toDoubleArray();
        Tensor dy = Patchify.unpatchifyBackward(dx, len, pt, ph, pw);
        assertArrayEquals(y.shape(), dy.shape());
        double[] fd = GradCheck.gradient(
                v -> GradCheck.dot(dxd, refUnpatchify(v, batch, len, ch, gf, gh, gw, pt, ph, pw)), y.toDoubleArray());
        assertArrayEquals(fd, dy.toDoubleArray(), 1e-6, "d unpatchify / d y (padding rows zero)");
        double left = GradCheck.dot(dxd, x.toDoubleArray());
        assertEquals(left, GradCheck.dot(dy.toDoubleArray(), y.toDoubleArray()), 1e-9 * Math.abs(left), "adjoint");
        // without padding the shorter overload inverts unpatchify exactly
        Tensor y0 = Tensor.randn(rng, DType.F32, batch, len - 1, k);
        Tensor round = Patchify.unpatchifyBackward(Patchify.unpatchify(y0, ch, gf, gh, gw, pt, ph, pw), pt, ph, pw);
        assertArrayEquals(y0.toFloatArray(), round.toFloatArray(), 0f);
    }

    @Test
    void everyDtypeMovesBitExact() {
        for (DType dt : DType.values()) {
            Tensor x = ShapesTest.randomOf(dt, 59, 1, 2, 2, 4, 6);
            Tensor y = Patchify.patchify(x, 1, 2, 3);
            assertEquals(dt, y.dtype());
            double[] idx = new double[(int) x.numel()];
            for (int i = 0; i < idx.length; i++) {
                idx[i] = i;
            }
            double[] src = refPatchify(idx, x.shape(), 1, 2, 3);
            for (int i = 0; i < src.length; i++) {
                assertEquals(ShapesTest.bits(x, (long) src[i]), ShapesTest.bits(y, i), dt + " element " + i);
            }
            Tensor back = Patchify.patchifyBackward(y, 2, 2, 2, 2, 1, 2, 3);
            for (int i = 0; i < idx.length; i++) {
                assertEquals(ShapesTest.bits(x, i), ShapesTest.bits(back, i), dt + " round trip " + i);
            }
        }
    }

    @Test
    void badArgumentsGiveClearErrors() {
        Tensor x = Tensor.randn(1, 1, 3, 2, 5, 4);
        ShapesTest.assertMessage(() -> Patchify.patchify(x, 1, 2, 2), "patchify", "x height (axis 3)", "5",
                "a multiple of ph = 2");
        ShapesTest.assertMessage(() -> Patchify.patchify(x, 1, 1, 0), "patchify", "pw", "0", "positive");
        ShapesTest.assertMessage(() -> Patchify.patchify(Tensor.randn(1, 1, 3, 2, 4), 1, 1, 1), "patchify", "x",
                "rank 4", "rank 5");
        Tensor y = Tensor.randn(2, 1, 6, 12);
        ShapesTest.assertMessage(() -> Patchify.unpatchify(y, 4, 1, 2, 3, 1, 2, 2), "unpatchify",
                "y features (axis 2)", "12", "pt*ph*pw*channels = 16");
        ShapesTest.assertMessage(() -> Patchify.unpatchify(y, 3, 1, 2, 4, 1, 2, 2), "unpatchify", "y tokens (axis 1)",
                "6", "at least gridF*gridH*gridW = 8");
        ShapesTest.assertMessage(() -> Patchify.patchifyBackward(y, 3, 1, 2, 4, 1, 2, 2), "patchifyBackward", "dy",
                "[1, 6, 12]", "[1, 8, 12]");
        ShapesTest.assertMessage(() -> Patchify.unpatchifyBackward(Tensor.randn(3, 1, 2, 1, 4, 4), 3, 1, 2, 2),
                "unpatchifyBackward", "tokens", "3", "at least the grid's 4 tokens");
        ShapesTest.assertMessage(() -> Patchify.grid(new int[]{1, 2, 3, 4, 4}, 2, 2, 2), "Patchify.grid",
                "videoShape frames (axis 2)", "3", "a multiple of pt = 2");
    }
}
