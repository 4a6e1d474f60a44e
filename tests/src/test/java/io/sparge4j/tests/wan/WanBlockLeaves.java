package io.sparge4j.tests.wan;

import io.sparge4j.engine.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Every leaf of one tiny Wan2.1 block (its input, the text context, the modulation and all weights), held as
 * float64 arrays whose values are exactly representable in f32, so the f32 engine and the float64 reference
 * start from identical numbers.
 */
final class WanBlockLeaves {
    static final int DIM = 32;
    static final int HEADS = 2;
    static final int HEAD_DIM = 16;
    static final int FFN = 64;
    static final int FRAMES = 2;
    static final int ROWS = 3;
    static final int COLS = 4;
    static final int TOKENS = FRAMES * ROWS * COLS;
    static final int CONTEXT = 5;
    static final float EPS = 1e-6f;

    private final Map<String, double[]> values;
    private final Map<String, int[]> shapes;

    private WanBlockLeaves(Map<String, double[]> values, Map<String, int[]> shapes) {
        this.values = values;
        this.shapes = shapes;
    }

    /** Fresh seeded leaves: weights ~ N(0, 1/in) so activations stay O(1); norm weights near 1. */
    static WanBlockLeaves random(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        Builder b = new Builder(rng);
        b.gaussian("x", 1.0, TOKENS, DIM);
        b.gaussian("ctx", 1.0, CONTEXT, DIM);
        b.gaussian("modulation", 0.3, 6, DIM);
        b.gaussian("e6", 0.3, 6, DIM);
        b.linear("self.q", DIM, DIM);
        b.linear("self.k", DIM, DIM);
        b.linear("self.v", DIM, DIM);
        b.linear("self.o", DIM, DIM);
        b.nearOne("self.norm_q", DIM);
        b.nearOne("self.norm_k", DIM);
        b.nearOne("norm3.weight", DIM);
        b.gaussian("norm3.bias", 0.1, DIM);
        b.linear("cross.q", DIM, DIM);
        b.linear("cross.k", DIM, DIM);
        b.linear("cross.v", DIM, DIM);
        b.linear("cross.o", DIM, DIM);
        b.nearOne("cross.norm_q", DIM);
        b.nearOne("cross.norm_k", DIM);
        b.linear("ffn.0", FFN, DIM);
        b.linear("ffn.2", DIM, FFN);
        return new WanBlockLeaves(b.values, b.shapes);
    }

    /** @return the values of a leaf (not a copy) */
    double[] get(String name) {
        double[] v = values.get(name);
        if (v == null) {
            throw new IllegalArgumentException("no leaf " + name);
        }
        return v;
    }

    int[] shape(String name) {
        get(name);
        return shapes.get(name).clone();
    }

    /** @return these leaves with one replaced (the others shared) */
    WanBlockLeaves with(String name, double[] replacement) {
        if (replacement.length != get(name).length) {
            throw new IllegalArgumentException(name + ": " + replacement.length + " values, expected "
                    + get(name).length);
        }
        Map<String, double[]> copy = new LinkedHashMap<>(values);
        copy.put(name, replacement);
        return new WanBlockLeaves(copy, shapes);
    }

    /** @return the leaf as a new f32 tensor of its shape */
    Tensor tensor(String name) {
        double[] v = get(name);
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return Tensor.of(f, shape(name));
    }

    Iterable<String> names() {
        return values.keySet();
    }

    private static final class Builder {
        final SplittableRandom rng;
        final Map<String, double[]> values = new LinkedHashMap<>();
        final Map<String, int[]> shapes = new LinkedHashMap<>();

        Builder(SplittableRandom rng) {
            this.rng = rng;
        }

        void gaussian(String name, double std, int... shape) {
            int n = 1;
            for (int s : shape) {
                n *= s;
            }
            double[] v = new double[n];
            for (int i = 0; i < n; i++) {
                v[i] = (float) (std * rng.nextGaussian());
            }
            values.put(name, v);
            shapes.put(name, shape);
        }

        void nearOne(String name, int n) {
            gaussian(name, 0.2, n);
            double[] v = values.get(name);
            for (int i = 0; i < n; i++) {
                v[i] = (float) (1 + v[i]);
            }
        }

        void linear(String prefix, int out, int in) {
            gaussian(prefix + ".weight", 1 / Math.sqrt(in), out, in);
            gaussian(prefix + ".bias", 0.1, out);
        }
    }
}
