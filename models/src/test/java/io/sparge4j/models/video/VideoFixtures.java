package io.sparge4j.models.video;

import io.sparge4j.engine.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/** Seeded test videos and an independent reference for the pixel mapping. */
final class VideoFixtures {
    static final int C = 3;
    static final int F = 5;
    static final int H = 16;
    static final int W = 24;

    private VideoFixtures() {
    }

    /** @return a (3, 5, 16, 24) video of uniform noise in [-1, 1), seeded */
    static Tensor noise(long seed) {
        return Tensor.rand(seed, -1f, 1f, C, F, H, W);
    }

    /**
     * @return a (3, 5, 16, 24) video of smooth seeded content: per channel a sum of two random low-frequency
     *     waves that move a different amount each frame, so every frame differs clearly from the others
     */
    static Tensor smooth(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        Tensor t = Tensor.allocate(io.sparge4j.engine.tensor.DType.F32, C, F, H, W);
        for (int c = 0; c < C; c++) {
            double[][] waves = new double[2][];
            for (int k = 0; k < 2; k++) {
                // fx, fy in rad/pixel (at most 0.25: a period of 25 pixels or more), phase, speed per frame
                waves[k] = new double[] {rng.nextDouble(-0.25, 0.25), rng.nextDouble(-0.25, 0.25),
                        rng.nextDouble(0, 2 * Math.PI), rng.nextDouble(0.8, 1.6)};
            }
            for (int f = 0; f < F; f++) {
                for (int y = 0; y < H; y++) {
                    for (int x = 0; x < W; x++) {
                        double v = 0;
                        for (double[] w : waves) {
                            v += 0.4 * Math.sin(w[0] * x + w[1] * y + w[2] + w[3] * f);
                        }
                        t.set((float) v, c, f, y, x);
                    }
                }
            }
        }
        return t;
    }

    /** The reference mapping, written out independently: [-1, 1] to 0..255 with clamping, in double. */
    static int expectedByte(float v) {
        double clamped = v < -1 ? -1 : (v > 1 ? 1 : v);
        return (int) Math.floor((clamped + 1) * 255 / 2 + 0.5);
    }

    /** @return expected[f][y * W + x][c] for a video (channels C; grey repeated) */
    static int[][][] expected(Tensor video) {
        int c = video.dim(0);
        int f = video.dim(1);
        int h = video.dim(2);
        int w = video.dim(3);
        int[][][] out = new int[f][h * w][3];
        for (int fi = 0; fi < f; fi++) {
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    for (int ch = 0; ch < 3; ch++) {
                        out[fi][y * w + x][ch] = expectedByte(video.get(c == 1 ? 0 : ch, fi, y, x));
                    }
                }
            }
        }
        return out;
    }

    /** @return the names in a directory, sorted */
    static List<String> list(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
