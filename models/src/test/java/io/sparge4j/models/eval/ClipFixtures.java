package io.sparge4j.models.eval;

import io.sparge4j.engine.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;

/** Degraded copies of clips, for checking that the evaluator's scores get worse. */
final class ClipFixtures {
    private ClipFixtures() {
    }

    /** @return the clip plus seeded Gaussian noise of the given standard deviation, clamped to [-1, 1] */
    static Tensor noisy(Tensor clip, double sigma, long seed) {
        float[] d = clip.toFloatArray();
        SplittableRandom rng = new SplittableRandom(seed);
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) Math.max(-1, Math.min(1, d[i] + sigma * rng.nextGaussian()));
        }
        return Tensor.of(d, clip.shape());
    }

    /** @return the clip with its frames in a seeded random order that moves frame 0 */
    static Tensor shuffled(Tensor clip, long seed) {
        int[] s = clip.shape();
        int frames = s[1];
        int plane = s[2] * s[3];
        List<Integer> order = new ArrayList<>();
        for (int f = 0; f < frames; f++) {
            order.add(f);
        }
        Random rng = new Random(seed);
        do {
            Collections.shuffle(order, rng);
        } while (order.get(0) == 0);
        float[] d = clip.toFloatArray();
        float[] out = new float[d.length];
        for (int c = 0; c < 3; c++) {
            for (int f = 0; f < frames; f++) {
                System.arraycopy(d, (c * frames + order.get(f)) * plane, out, (c * frames + f) * plane, plane);
            }
        }
        return Tensor.of(out, s);
    }

    /** @return the clip with every frame blurred by a 3x3 box filter (edges clamped) */
    static Tensor blurred(Tensor clip) {
        int[] s = clip.shape();
        int h = s[2];
        int w = s[3];
        float[] d = clip.toFloatArray();
        float[] out = new float[d.length];
        for (int cf = 0; cf < s[0] * s[1]; cf++) {
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    double t = 0;
                    for (int dy = -1; dy <= 1; dy++) {
                        for (int dx = -1; dx <= 1; dx++) {
                            int yy = Math.max(0, Math.min(h - 1, y + dy));
                            int xx = Math.max(0, Math.min(w - 1, x + dx));
                            t += d[cf * h * w + yy * w + xx];
                        }
                    }
                    out[cf * h * w + y * w + x] = (float) (t / 9);
                }
            }
        }
        return Tensor.of(out, s);
    }

    /** @return a clip whose every frame is frame {@code frame} of the given clip */
    static Tensor frozen(Tensor clip, int frame) {
        int[] s = clip.shape();
        int plane = s[2] * s[3];
        float[] d = clip.toFloatArray();
        float[] out = new float[d.length];
        for (int c = 0; c < 3; c++) {
            for (int f = 0; f < s[1]; f++) {
                System.arraycopy(d, (c * s[1] + frame) * plane, out, (c * s[1] + f) * plane, plane);
            }
        }
        return Tensor.of(out, s);
    }
}
