package io.sparge4j.models.eval;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.Clip;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.sampling.Noise;
import io.sparge4j.models.train.Losses;
import io.sparge4j.models.train.NoisySample;
import io.sparge4j.models.wan.WanTransformer;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * The student's velocity error against its teacher on training-style inputs: for M procedural clips at noise
 * levels spread evenly over (0, 1) ({@code s_j = (j + 0.5) / M}), {@code x_t = (1 - s) x0 + s noise}, both models
 * see the same x_t, timestep and caption, and the error is {@code ||v_student - v_teacher||^2 / ||v_teacher||^2}
 * (sums in double). The mean over the M samples is the number reported.
 */
public final class VelocityError {
    /**
     * One sample's error.
     *
     * @param level the noise level s
     * @param timestep the timestep both models saw (0..1000)
     * @param caption the caption encoded as the context
     * @param relativeError {@code ||v_s - v_t||^2 / ||v_t||^2}
     */
    public record Sample(double level, double timestep, String caption, double relativeError) {
    }

    /**
     * @param samples one entry per sample, by increasing noise level
     * @param mean the mean relative error
     */
    public record Result(List<Sample> samples, double mean) {
    }

    private VelocityError() {
    }

    /**
     * @param student the model under test
     * @param teacher the reference (usually the same weights with dense attention)
     * @param data the clip source (its spec gives the clip size)
     * @param context the text features (text_len, text_dim) of a caption, owned by the caller of the function's result
     * @param count M, at least 1
     * @param seed the noise's seed
     * @return the per-sample errors and their mean
     */
    public static Result measure(WanTransformer student, WanTransformer teacher, ClipGenerator data,
            Function<String, Tensor> context, int count, long seed) {
        if (count < 1) {
            throw new IllegalArgumentException("--velocity-samples: got " + count + ", expected at least 1");
        }
        SplittableRandom random = new SplittableRandom(seed);
        List<Sample> out = new ArrayList<>(count);
        double sum = 0;
        for (int j = 0; j < count; j++) {
            double level = (j + 0.5) / count;
            long noiseSeed = random.nextLong();
            Clip clip = data.clip(j);
            try (Tensor x0 = clip.video();
                 Tensor noise = Noise.gaussian(noiseSeed, x0.shape());
                 Tensor ctx = context.apply(clip.caption())) {
                NoisySample noisy = Losses.noisy(x0, noise, level);
                try (Tensor xt = noisy.xt();
                     Tensor vs = student.forward(xt, noisy.timestep(), ctx, 0);
                     Tensor vt = teacher.forward(xt, noisy.timestep(), ctx, 0)) {
                    double e = relativeError(vs, vt);
                    out.add(new Sample(level, noisy.timestep(), clip.caption(), e));
                    sum += e;
                }
            }
        }
        return new Result(List.copyOf(out), sum / count);
    }

    /**
     * @param student a velocity
     * @param teacher the reference velocity, same shape, not all zero
     * @return {@code ||student - teacher||^2 / ||teacher||^2}, in double
     */
    public static double relativeError(Tensor student, Tensor teacher) {
        if (!student.sameShape(teacher)) {
            throw new IllegalArgumentException("velocities have shapes " + java.util.Arrays.toString(student.shape())
                    + " and " + java.util.Arrays.toString(teacher.shape()) + ", expected the same");
        }
        float[] s = student.toFloatArray();
        float[] t = teacher.toFloatArray();
        double num = 0;
        double den = 0;
        for (int i = 0; i < s.length; i++) {
            double d = (double) s[i] - t[i];
            num += d * d;
            den += (double) t[i] * t[i];
        }
        if (den == 0) {
            throw new IllegalArgumentException("the teacher's velocity is all zeros, expected a non-zero reference");
        }
        return num / den;
    }
}
