package io.sparge4j.cli;

import io.sparge4j.engine.io.Safetensors;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

/** Seeded inputs written to safetensors files for the CLI tests. */
final class TestTensors {
    private TestTensors() {
    }

    /** @return n standard normal samples (seeded, never all zero) */
    static float[] gaussian(long seed, int n) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) rng.nextGaussian();
        }
        return x;
    }

    /** Writes one tensor named {@code name} in {@code dtype} and returns the file. */
    static Path write(Path dir, String file, String name, DType dtype, float[] values, int... shape) throws IOException {
        Path path = dir.resolve(file);
        try (Tensor t = Tensor.of(dtype, values, shape)) {
            Safetensors.write(path, Map.of(name, t));
        }
        return path;
    }

    /** @return values rounded through {@code dtype}, as the CLI sees them */
    static float[] rounded(DType dtype, float[] values) {
        try (Tensor t = Tensor.of(dtype, values, values.length)) {
            return t.toFloatArray();
        }
    }

    /** @return (B,N,H,d) data of a (B,H,N,d) array */
    static float[] toBnhd(float[] x, int b, int h, int n, int d) {
        float[] out = new float[x.length];
        for (int bi = 0; bi < b; bi++) {
            for (int hi = 0; hi < h; hi++) {
                for (int t = 0; t < n; t++) {
                    System.arraycopy(x, ((bi * h + hi) * n + t) * d, out, ((bi * n + t) * h + hi) * d, d);
                }
            }
        }
        return out;
    }
}
