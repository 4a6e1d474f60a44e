package io.sparge4j.engine.ops;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Data movement is exact, so values are compared bit for bit against plain index arithmetic written
 * here. Backward passes are checked against float64 finite differences of that reference (tolerance
 * 1e-6 absolute: the reference loss is linear, so central differences are exact up to rounding) and by
 * adjointness, {@code <dy, f(x)> = <f^T(dy), x>} to 1e-9 relative in float64.
 */
class ShapesTest {

    // ---------------------------------------------------------------- references (plain index arithmetic)

    private static long[] strides(int[] shape) {
        long[] s = new long[shape.length];
        long st = 1;
        for (int k = shape.length - 1; k >= 0; k--) {
            s[k] = st;
            st *= shape[k];
        }
        return s;
    }

    /** out[i_0..i_{r-1}] = x[j] where j_{perm[k]} = i_k. */
    private static double[] refPermute(double[] x, int[] shape, int[] perm) {
        int r = shape.length;
        int[] outShape = new int[r];
        for (int k = 0; k < r; k++) {
            outShape[k] = shape[perm[k]];
        }
        long[] inStride = strides(shape);
        double[] out = new double[x.length];
        int[] idx = new int[r];
        for (int flat = 0; flat < out.length; flat++) {
            int rem = flat;
            for (int k = r - 1; k >= 0; k--) {
                idx[k] = rem % outShape[k];
                rem /= outShape[k];
            }
            long src = 0;
            for (int k = 0; k < r; k++) {
                src += idx[k] * inStride[perm[k]];
            }
            out[flat] = x[(int) src];
        }
        return out;
    }

    /** Concatenation along axis a: each output element looks up which input owns its coordinate. */
    private static double[] refConcat(int a, int[][] shapes, double[][] xs) {
        int[] outShape = shapes[0].clone();
        outShape[a] = 0;
        for (int[] s : shapes) {
            outShape[a] += s[a];
        }
        double[] out = new double[(int) Tensor.numelOf(outShape)];
        int[] idx = new int[outShape.length];
        for (int flat = 0; flat < out.length; flat++) {
            int rem = flat;
            for (int k = outShape.length - 1; k >= 0; k--) {
                idx[k] = rem % outShape[k];
                rem /= outShape[k];
            }
            int which = 0;
            int pos = idx[a];
            while (pos >= shapes[which][a]) {
                pos -= shapes[which][a];
                which++;
            }
            int[] j = idx.clone();
            j[a] = pos;
            long[] st = strides(shapes[which]);
            long src = 0;
            for (int k = 0; k < j.length; k++) {
                src += j[k] * st[k];
            }
            out[flat] = xs[which][(int) src];
        }
        return out;
    }

    private static int[] randomShape(SplittableRandom rng, int rank, int maxSize) {
        int[] s = new int[rank];
        for (int k = 0; k < rank; k++) {
            s[k] = 1 + rng.nextInt(maxSize);
        }
        return s;
    }

    private static int[] randomPerm(SplittableRandom rng, int rank) {
        int[] p = new int[rank];
        for (int k = 0; k < rank; k++) {
            p[k] = k;
        }
        for (int k = rank - 1; k > 0; k--) {
            int j = rng.nextInt(k + 1);
            int t = p[k];
            p[k] = p[j];
            p[j] = t;
        }
        return p;
    }

    // ---------------------------------------------------------------- concat / split

    @Test
    void concatMatchesReferenceOnEveryAxis() {
        SplittableRandom rng = new SplittableRandom(11);
        for (int rank = 1; rank <= 4; rank++) {
            for (int a = 0; a < rank; a++) {
                int[] base = randomShape(rng, rank, 5);
                int n = 1 + rng.nextInt(3);
                int[][] shapes = new int[n][];
                Tensor[] ts = new Tensor[n];
                double[][] xs = new double[n][];
                for (int i = 0; i < n; i++) {
                    shapes[i] = base.clone();
                    shapes[i][a] = rng.nextInt(4); // includes empty pieces
                    ts[i] = Tensor.randn(rng, DType.F32, shapes[i]);
                    xs[i] = ts[i].toDoubleArray();
                }
                int axisArg = rng.nextBoolean() ? a : a - rank;
                Tensor out = Shapes.concat(axisArg, ts);
                assertArrayEquals(refConcat(a, shapes, xs), out.toDoubleArray(), 0.0,
                        "concat axis " + a + " of " + Arrays.deepToString(shapes));
            }
        }
    }

    @Test
    void splitMatchesReferenceAndUndoesConcat() {
        SplittableRandom rng = new SplittableRandom(12);
        for (int trial = 0; trial < 20; trial++) {
            int rank = 1 + rng.nextInt(4);
            int a = rng.nextInt(rank);
            int[] shape = randomShape(rng, rank, 6);
            Tensor t = Tensor.randn(rng, DType.F32, shape);
            int[] sizes = randomSizes(rng, shape[a]);
            Tensor[] parts = Shapes.split(t, a, sizes);
            assertEquals(sizes.length, parts.length);
            // Reference: part i holds t's elements whose axis-a coordinate is in [start_i, start_i + sizes[i]).
            double[] x = t.toDoubleArray();
            long[] st = strides(shape);
            int start = 0;
            for (int i = 0; i < sizes.length; i++) {
                int[] ps = shape.clone();
                ps[a] = sizes[i];
                assertArrayEquals(ps, parts[i].shape());
                double[] expected = new double[(int) Tensor.numelOf(ps)];
                int[] idx = new int[rank];
                for (int flat = 0; flat < expected.length; flat++) {
                    int rem = flat;
                    for (int k = rank - 1; k >= 0; k--) {
                        idx[k] = rem % ps[k];
                        rem /= ps[k];
                    }
                    long src = 0;
                    for (int k = 0; k < rank; k++) {
                        src += (k == a ? idx[k] + start : idx[k]) * st[k];
                    }
                    expected[flat] = x[(int) src];
                }
                assertArrayEquals(expected, parts[i].toDoubleArray(), 0.0, "split part " + i);
                start += sizes[i];
            }
            assertArrayEquals(x, Shapes.concat(a, parts).toDoubleArray(), 0.0, "concat(split(t)) == t");
        }
    }

    private static int[] randomSizes(SplittableRandom rng, int total) {
        int n = 1 + rng.nextInt(4);
        int[] sizes = new int[n];
        int left = total;
        for (int i = 0; i < n - 1; i++) {
            sizes[i] = rng.nextInt(left + 1);
            left -= sizes[i];
        }
        sizes[n - 1] = left;
        return sizes;
    }

    @Test
    void concatBackwardIsSplitByFiniteDifferencesAndAdjointness() {
        SplittableRandom rng = new SplittableRandom(13);
        int[][] shapes = {{2, 3, 4}, {2, 1, 4}, {2, 5, 4}};
        int a = 1;
        Tensor[] ts = new Tensor[3];
        double[][] xs = new double[3][];
        int total = 0;
        for (int i = 0; i < 3; i++) {
            ts[i] = Tensor.randn(rng, DType.F32, shapes[i]);
            xs[i] = ts[i].toDoubleArray();
            total += xs[i].length;
        }
        Tensor y = Shapes.concat(a, ts);
        Tensor dy = Tensor.randn(rng, DType.F32, y.shape());
        double[] dyd = dy.toDoubleArray();
        Tensor[] grads = Shapes.split(dy, a, 3, 1, 5);

        // FD of loss(x) = <dy, concatRef(x)>, x being all inputs flattened one after another.
        double[] flat = new double[total];
        for (int i = 0, o = 0; i < 3; o += xs[i].length, i++) {
            System.arraycopy(xs[i], 0, flat, o, xs[i].length);
        }
        double[] fd = GradCheck.gradient(v -> {
            double[][] parts = new double[3][];
            for (int i = 0, o = 0; i < 3; o += xs[i].length, i++) {
                parts[i] = Arrays.copyOfRange(v, o, o + xs[i].length);
            }
            return GradCheck.dot(dyd, refConcat(a, shapes, parts));
        }, flat);
        double adjointRight = 0;
        for (int i = 0, o = 0; i < 3; o += xs[i].length, i++) {
            assertArrayEquals(Arrays.copyOfRange(fd, o, o + xs[i].length), grads[i].toDoubleArray(), 1e-6,
                    "d concat / d ts[" + i + "]");
            adjointRight += GradCheck.dot(grads[i].toDoubleArray(), xs[i]);
        }
        double adjointLeft = GradCheck.dot(dyd, y.toDoubleArray());
        assertEquals(adjointLeft, adjointRight, 1e-9 * Math.abs(adjointLeft) + 1e-12, "<dy, concat(x)> = <split(dy), x>");
    }

    @Test
    void splitBackwardIsConcatByFiniteDifferences() {
        SplittableRandom rng = new SplittableRandom(14);
        int[] shape = {3, 7};
        Tensor t = Tensor.randn(rng, DType.F32, shape);
        int[] sizes = {2, 0, 5};
        Tensor[] ys = Shapes.split(t, -1, sizes);
        Tensor[] dys = new Tensor[3];
        for (int i = 0; i < 3; i++) {
            dys[i] = Tensor.randn(rng, DType.F32, ys[i].shape());
        }
        Tensor dx = Shapes.concat(1, dys);
        // loss(x) = sum_i <dy_i, x[:, start_i:start_i+size_i]>
        double[] fd = GradCheck.gradient(v -> {
            double s = 0;
            for (int i = 0, start = 0; i < 3; start += sizes[i], i++) {
                double[] d = dys[i].toDoubleArray();
                for (int r = 0; r < 3; r++) {
                    for (int c = 0; c < sizes[i]; c++) {
                        s += d[r * sizes[i] + c] * v[r * 7 + start + c];
                    }
                }
            }
            return s;
        }, t.toDoubleArray());
        assertArrayEquals(fd, dx.toDoubleArray(), 1e-6, "d split / d t");
    }

    @Test
    void concatAndSplitLargeEnoughToRunInParallel() {
        SplittableRandom rng = new SplittableRandom(15);
        Tensor a = Tensor.randn(rng, DType.F32, 301, 97);
        Tensor b = Tensor.randn(rng, DType.F32, 301, 131);
        Tensor y = Shapes.concat(1, a, b);
        double[] expected = refConcat(1, new int[][]{{301, 97}, {301, 131}},
                new double[][]{a.toDoubleArray(), b.toDoubleArray()});
        assertArrayEquals(expected, y.toDoubleArray(), 0.0);
        Tensor[] back = Shapes.split(y, 1, 97, 131);
        assertArrayEquals(a.toFloatArray(), back[0].toFloatArray(), 0f);
        assertArrayEquals(b.toFloatArray(), back[1].toFloatArray(), 0f);
    }

    @Test
    void concatAndSplitKeepEveryDtypeBitExact() {
        for (DType dt : DType.values()) {
            Tensor a = randomOf(dt, 21, 2, 3);
            Tensor b = randomOf(dt, 22, 2, 5);
            Tensor y = Shapes.concat(1, a, b);
            assertEquals(dt, y.dtype());
            for (int r = 0; r < 2; r++) {
                for (int c = 0; c < 8; c++) {
                    long expected = c < 3 ? bits(a, r * 3 + c) : bits(b, r * 5 + c - 3);
                    assertEquals(expected, bits(y, r * 8 + c), dt + " element " + r + "," + c);
                }
            }
            Tensor[] parts = Shapes.split(y, 1, 3, 5);
            for (int i = 0; i < 6; i++) {
                assertEquals(bits(a, i), bits(parts[0], i));
            }
        }
    }

    // ---------------------------------------------------------------- permute / transpose

    @Test
    void permuteMatchesReferenceForRandomShapesAndPermutations() {
        SplittableRandom rng = new SplittableRandom(21);
        for (int trial = 0; trial < 60; trial++) {
            int rank = 1 + rng.nextInt(5);
            int[] shape = randomShape(rng, rank, 7); // odd sizes and size-1 axes
            int[] perm = randomPerm(rng, rank);
            Tensor x = Tensor.randn(rng, DType.F32, shape);
            Tensor y = Shapes.permute(x, perm);
            int[] expectedShape = new int[rank];
            for (int k = 0; k < rank; k++) {
                expectedShape[k] = shape[perm[k]];
            }
            assertArrayEquals(expectedShape, y.shape());
            assertArrayEquals(refPermute(x.toDoubleArray(), shape, perm), y.toDoubleArray(), 0.0,
                    "permute " + Arrays.toString(shape) + " by " + Arrays.toString(perm));
        }
    }

    @Test
    void permuteHeadSwapsAndTiledTransposesOnAwkwardSizes() {
        SplittableRandom rng = new SplittableRandom(22);
        int[][] shapes = {{2, 37, 5, 24}, {1, 129, 3, 64}, {2, 5, 37, 19}, {53, 67}, {3, 33, 17, 2}};
        int[][] perms = {{0, 2, 1, 3}, {0, 2, 1, 3}, {0, 3, 2, 1}, {1, 0}, {3, 1, 0, 2}};
        for (int i = 0; i < shapes.length; i++) {
            Tensor x = Tensor.randn(rng, DType.F32, shapes[i]);
            Tensor y = Shapes.permute(x, perms[i]);
            assertArrayEquals(refPermute(x.toDoubleArray(), shapes[i], perms[i]), y.toDoubleArray(), 0.0,
                    "permute " + Arrays.toString(shapes[i]) + " by " + Arrays.toString(perms[i]));
            assertArrayEquals(x.toFloatArray(), Shapes.permuteBackward(y, perms[i]).toFloatArray(), 0f,
                    "permuteBackward(permute(x)) == x");
        }
    }

    @Test
    void permuteLargeEnoughToRunInParallel() {
        SplittableRandom rng = new SplittableRandom(23);
        int[] shape = {2, 301, 6, 40};
        Tensor x = Tensor.randn(rng, DType.F32, shape);
        for (int[] perm : new int[][]{{0, 2, 1, 3}, {0, 3, 1, 2}}) {
            assertArrayEquals(refPermute(x.toDoubleArray(), shape, perm), Shapes.permute(x, perm).toDoubleArray(), 0.0,
                    Arrays.toString(perm));
        }
    }

    @Test
    void permuteKeepsEveryDtypeBitExact() {
        int[] shape = {3, 5, 4};
        int[] perm = {2, 0, 1};
        for (DType dt : DType.values()) {
            Tensor x = randomOf(dt, 24, shape);
            double[] idx = new double[(int) x.numel()];
            for (int i = 0; i < idx.length; i++) {
                idx[i] = i;
            }
            for (int[] p : new int[][]{perm, {0, 2, 1}}) {
                Tensor y = Shapes.permute(x, p);
                double[] src = refPermute(idx, shape, p); // which input element lands at each output slot
                for (int i = 0; i < src.length; i++) {
                    assertEquals(bits(x, (long) src[i]), bits(y, i), dt + " " + Arrays.toString(p) + " element " + i);
                }
            }
        }
    }

    @Test
    void permuteBackwardMatchesFiniteDifferencesAndAdjointness() {
        SplittableRandom rng = new SplittableRandom(25);
        int[] shape = {2, 3, 4, 5};
        int[] perm = {0, 3, 1, 2};
        Tensor x = Tensor.randn(rng, DType.F32, shape);
        Tensor y = Shapes.permute(x, perm);
        Tensor dy = Tensor.randn(rng, DType.F32, y.shape());
        double[] dyd = dy.toDoubleArray();
        Tensor dx = Shapes.permuteBackward(dy, perm);
        double[] fd = GradCheck.gradient(v -> GradCheck.dot(dyd, refPermute(v, shape, perm)), x.toDoubleArray());
        assertArrayEquals(fd, dx.toDoubleArray(), 1e-6, "d permute / d x");
        double left = GradCheck.dot(dyd, y.toDoubleArray());
        double right = GradCheck.dot(dx.toDoubleArray(), x.toDoubleArray());
        assertEquals(left, right, 1e-9 * Math.abs(left), "<dy, permute(x)> = <permuteBackward(dy), x>");
    }

    @Test
    void transposeSwapsTwoAxesAndIsItsOwnBackward() {
        SplittableRandom rng = new SplittableRandom(26);
        int[] shape = {3, 4, 5};
        Tensor x = Tensor.randn(rng, DType.F32, shape);
        Tensor y = Shapes.transpose(x, 0, -1);
        assertArrayEquals(new int[]{5, 4, 3}, y.shape());
        assertArrayEquals(refPermute(x.toDoubleArray(), shape, new int[]{2, 1, 0}), y.toDoubleArray(), 0.0);
        Tensor dy = Tensor.randn(rng, DType.F32, y.shape());
        double[] dyd = dy.toDoubleArray();
        double[] fd = GradCheck.gradient(v -> GradCheck.dot(dyd, refPermute(v, shape, new int[]{2, 1, 0})),
                x.toDoubleArray());
        assertArrayEquals(fd, Shapes.transpose(dy, 2, 0).toDoubleArray(), 1e-6, "d transpose / d x");
        assertArrayEquals(x.toFloatArray(), Shapes.transpose(Shapes.transpose(x, 1, 2), 2, 1).toFloatArray(), 0f);
        assertArrayEquals(x.toFloatArray(), Shapes.transpose(x, 1, 1).toFloatArray(), 0f, "a == b is a copy");
    }

    @Test
    void reshapeIsAViewAndItsBackwardReshapesBack() {
        Tensor x = Tensor.randn(31, 2, 3, 4);
        Tensor y = Shapes.reshape(x, 6, -1);
        assertArrayEquals(new int[]{6, 4}, y.shape());
        assertTrue(y.isView());
        x.set(42f, 1, 2, 3);
        assertEquals(42f, y.get(5, 3), "shares memory");
        assertArrayEquals(x.toFloatArray(), Shapes.reshape(y, x.shape()).toFloatArray(), 0f);
    }

    @Test
    void emptyTensorsAreHandled() {
        Tensor x = Tensor.allocate(DType.F32, 3, 0, 2);
        assertArrayEquals(new int[]{2, 3, 0}, Shapes.permute(x, 2, 0, 1).shape());
        assertArrayEquals(new int[]{3, 2, 2}, Shapes.concat(1, x, Tensor.randn(1, 3, 2, 2)).shape());
    }

    // ---------------------------------------------------------------- errors

    @Test
    void badArgumentsGiveClearErrors() {
        Tensor a = Tensor.randn(1, 2, 3);
        assertMessage(() -> Shapes.concat(0, a, Tensor.randn(2, 2, 4)), "concat", "ts[1]", "[2, 4]", "[*, 3]");
        assertMessage(() -> Shapes.concat(0, a, Tensor.allocate(DType.BF16, 2, 3)), "concat", "ts[1]", "bf16", "f32");
        assertMessage(() -> Shapes.concat(2, a), "concat", "axis", "2", "[-2, 2)");
        assertMessage(() -> Shapes.concat(0), "concat", "ts", "empty", "at least one");
        assertMessage(() -> Shapes.split(a, 1, 1, 1), "split", "sizes", "[1, 1]", "summing to 3");
        assertMessage(() -> Shapes.split(a, 1, 4, -1), "split", "sizes", "[4, -1]", ">= 0");
        assertMessage(() -> Shapes.split(a, -3, 2), "split", "axis", "-3", "[-2, 2)");
        assertMessage(() -> Shapes.permute(a, 0, 0), "permute", "perm", "[0, 0]", "permutation of 0..1");
        assertMessage(() -> Shapes.permute(a, 0), "permute", "perm", "[0]", "permutation of 2 axes");
        assertMessage(() -> Shapes.permuteBackward(a, 1, 2), "permuteBackward", "perm", "[1, 2]", "permutation");
        assertMessage(() -> Shapes.transpose(a, 0, 5), "transpose", "b", "5", "[-2, 2)");
        assertMessage(() -> Shapes.permute(null, 0), "permute", "t", "null", "tensor");
        assertThrows(IllegalArgumentException.class, () -> Shapes.reshape(a, 4, 2));
    }

    static void assertMessage(org.junit.jupiter.api.function.Executable call, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "message '" + e.getMessage() + "' should contain '" + p + "'");
        }
        assertTrue(e.getMessage().startsWith(parts[0] + ": "), "message names the op first: " + e.getMessage());
    }

    // ---------------------------------------------------------------- dtype helpers

    /** A tensor of random bit patterns (valid for the dtype) so that copies can be compared bit for bit. */
    static Tensor randomOf(DType dt, long seed, int... shape) {
        SplittableRandom rng = new SplittableRandom(seed);
        Tensor t = Tensor.allocate(dt, shape);
        for (long i = 0; i < t.numel(); i++) {
            switch (dt) {
                case F32, BF16, F16 -> t.setFloat(i, (float) rng.nextGaussian());
                case BOOL -> t.setLong(i, rng.nextInt(2));
                case U8 -> t.setLong(i, rng.nextInt(256));
                case I32 -> t.setLong(i, rng.nextInt());
                case I64 -> t.setLong(i, rng.nextLong());
            }
        }
        return t;
    }

    /** @return element i's raw bits */
    static long bits(Tensor t, long i) {
        return switch (t.dtype().byteSize()) {
            case 1 -> t.segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, i);
            case 2 -> t.segment().getAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, i);
            case 4 -> t.segment().getAtIndex(java.lang.foreign.ValueLayout.JAVA_INT, i);
            default -> t.segment().getAtIndex(java.lang.foreign.ValueLayout.JAVA_LONG, i);
        };
    }
}
