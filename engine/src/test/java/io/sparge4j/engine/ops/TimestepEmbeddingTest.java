package io.sparge4j.engine.ops;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.engine.testing.Assertions2;
import io.sparge4j.engine.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The embedding against Wan2.1's {@code sinusoidal_embedding_1d} in float64: outer(t, 10000^(-i/half)),
 * then [cos, sin]. The op rounds a float64 value once to f32, so entries (in [-1, 1]) match to 1e-6
 * absolute. The backward is checked against float64 central differences of that reference to 1e-5
 * relative (f32 output) plus 1e-5 absolute.
 */
class TimestepEmbeddingTest {

    private static double[] reference(double[] t, int dim) {
        int half = dim / 2;
        double[] out = new double[t.length * dim];
        for (int b = 0; b < t.length; b++) {
            for (int i = 0; i < half; i++) {
                double arg = t[b] * Math.pow(10000.0, -(double) i / half);
                out[b * dim + i] = Math.cos(arg);
                out[b * dim + half + i] = Math.sin(arg);
            }
        }
        return out;
    }

    @Test
    void matchesWanReferenceForSeveralWidths() {
        SplittableRandom rng = new SplittableRandom(61);
        for (int dim : new int[]{256, 2, 6, 18, 130}) {
            Tensor t = Tensor.rand(rng, DType.F32, 0f, 1000f, 5);
            Tensor e = TimestepEmbedding.sinusoidal(t, dim);
            assertEquals(DType.F32, e.dtype());
            assertArrayEquals(new int[]{5, dim}, e.shape());
            Assertions2.assertClose(reference(t.toDoubleArray(), dim), e.toFloatArray(), 0, 1e-6, "dim " + dim);
        }
    }

    @Test
    void integerTimestepsWork() {
        Tensor t = Tensor.ofInts(new int[]{0, 1, 999, 1000, 437}, 5);
        double[] expected = reference(new double[]{0, 1, 999, 1000, 437}, 16);
        Assertions2.assertClose(expected, TimestepEmbedding.sinusoidal(t, 16).toFloatArray(), 0, 1e-6, "i32 t");
        Assertions2.assertClose(expected, TimestepEmbedding.sinusoidal(t.to(DType.I64), 16).toFloatArray(), 0, 1e-6,
                "i64 t");
    }

    @Test
    void backwardMatchesFiniteDifferences() {
        SplittableRandom rng = new SplittableRandom(62);
        int dim = 20;
        Tensor t = Tensor.rand(rng, DType.F32, 0f, 1000f, 4);
        Tensor dEmb = Tensor.randn(rng, DType.F32, 4, dim);
        double[] g = dEmb.toDoubleArray();
        double[] fd = GradCheck.gradient(v -> GradCheck.dot(g, reference(v, dim)), t.toDoubleArray());
        Tensor dt = TimestepEmbedding.sinusoidalBackward(t, dim, dEmb);
        assertArrayEquals(new int[]{4}, dt.shape());
        Assertions2.assertClose(fd, dt.toFloatArray(), 1e-5, 1e-5, "d emb / d t");
    }

    @Test
    void badArgumentsGiveClearErrors() {
        Tensor t = Tensor.of(new float[]{1, 2}, 2);
        ShapesTest.assertMessage(() -> TimestepEmbedding.sinusoidal(t, 7), "sinusoidal", "dim", "7", "even positive");
        ShapesTest.assertMessage(() -> TimestepEmbedding.sinusoidal(t, 0), "sinusoidal", "dim", "0", "even positive");
        ShapesTest.assertMessage(() -> TimestepEmbedding.sinusoidal(t.reshape(2, 1), 4), "sinusoidal", "t", "[2, 1]",
                "rank 1");
        ShapesTest.assertMessage(() -> TimestepEmbedding.sinusoidal(Tensor.allocate(DType.BOOL, 2), 4), "sinusoidal",
                "t dtype", "bool", "f32, bf16, f16, i32 or i64");
        ShapesTest.assertMessage(() -> TimestepEmbedding.sinusoidalBackward(t, 4, Tensor.randn(1, 2, 6)),
                "sinusoidalBackward", "dEmb", "[2, 6]", "[2, 4]");
    }
}
