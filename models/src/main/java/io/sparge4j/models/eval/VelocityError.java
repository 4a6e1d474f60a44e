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
 *
 * <p>With classifier-free guidance g (as sampling applies it, {@code v = v_uncond + g (v_cond - v_uncond)}, the
 * unconditional velocity from the empty prompt), each sample also gets the same error between the two models' GUIDED
 * velocities: guidance multiplies the difference of a student's conditional and unconditional errors by g, so a
 * student close to its teacher on conditional velocities can still sample noisy clips (tiny-demo's distilled
 * hybrid: bench/tiny-demo/RECIPE.md). At g = 1 the guided error is the conditional one.
 */
public final class VelocityError {
    /**
     * One sample's error.
     *
     * @param level the noise level s
     * @param timestep the timestep both models saw (0..1000)
     * @param caption the caption encoded as the context
     * @param relativeError {@code ||v_s - v_t||^2 / ||v_t||^2}
     * @param guidedRelativeError the same for the guided velocities
     */
    public record Sample(double level, double timestep, String caption, double relativeError,
            double guidedRelativeError) {
    }

    /**
     * @param samples one entry per sample, by increasing noise level
     * @param mean the mean relative error
     * @param guidance the guidance g of the guided errors
     * @param guidedMean the mean relative error of the guided velocities
     */
    public record Result(List<Sample> samples, double mean, double guidance, double guidedMean) {
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
     * @return the per-sample errors and their mean (the guided ones at guidance 1: the same)
     */
    public static Result measure(WanTransformer student, WanTransformer teacher, ClipGenerator data,
            Function<String, Tensor> context, int count, long seed) {
        return measure(student, teacher, data, context, count, seed, 1.0);
    }

    /**
     * Checks a sample count as {@link #measure} does, for callers that must refuse it before their other work.
     *
     * @param count the number of noisy clips
     * @throws IllegalArgumentException naming {@code --velocity-samples} when count is below 1
     */
    public static void checkCount(int count) {
        if (count < 1) {
            throw new IllegalArgumentException("--velocity-samples: got " + count + ", expected at least 1");
        }
    }

    /**
     * As {@link #measure(WanTransformer, WanTransformer, ClipGenerator, Function, int, long)}, with the guided errors
     * at guidance g (two more forwards of each model per sample, on the empty prompt, unless g is 1).
     *
     * @param guidance g, finite
     * @return the per-sample errors, conditional and guided, and their means
     */
    public static Result measure(WanTransformer student, WanTransformer teacher, ClipGenerator data,
            Function<String, Tensor> context, int count, long seed, double guidance) {
        checkCount(count);
        if (!Double.isFinite(guidance)) {
            throw new IllegalArgumentException("guidance: got " + guidance + ", expected a finite number");
        }
        SplittableRandom random = new SplittableRandom(seed);
        List<Sample> out = new ArrayList<>(count);
        double sum = 0;
        double guidedSum = 0;
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
                    double guided = e;
                    if (guidance != 1.0) {
                        try (Tensor empty = context.apply("");
                             Tensor us = student.forward(xt, noisy.timestep(), empty, 0);
                             Tensor ut = teacher.forward(xt, noisy.timestep(), empty, 0)) {
                            guided = guidedRelativeError(vs, us, vt, ut, guidance);
                        }
                    }
                    out.add(new Sample(level, noisy.timestep(), clip.caption(), e, guided));
                    sum += e;
                    guidedSum += guided;
                }
            }
        }
        return new Result(List.copyOf(out), sum / count, guidance, guidedSum / count);
    }

    /**
     * @param studentCond the student's conditional velocity
     * @param studentUncond its unconditional velocity, same shape
     * @param teacherCond the teacher's conditional velocity, same shape
     * @param teacherUncond its unconditional velocity, same shape
     * @param guidance g
     * @return {@code ||g_s - g_t||^2 / ||g_t||^2} for the guided velocities {@code g = u + guidance (c - u)}, in
     *     double
     */
    public static double guidedRelativeError(Tensor studentCond, Tensor studentUncond, Tensor teacherCond,
            Tensor teacherUncond, double guidance) {
        for (Tensor t : new Tensor[] {studentUncond, teacherCond, teacherUncond}) {
            requireSameShape(studentCond, t);
        }
        float[] sc = studentCond.toFloatArray();
        float[] su = studentUncond.toFloatArray();
        float[] tc = teacherCond.toFloatArray();
        float[] tu = teacherUncond.toFloatArray();
        double num = 0;
        double den = 0;
        for (int i = 0; i < sc.length; i++) {
            double s = su[i] + guidance * ((double) sc[i] - su[i]);
            double t = tu[i] + guidance * ((double) tc[i] - tu[i]);
            num += (s - t) * (s - t);
            den += t * t;
        }
        if (den == 0) {
            throw new IllegalArgumentException("the teacher's guided velocity is all zeros, expected a non-zero"
                    + " reference");
        }
        return num / den;
    }

    /**
     * @param student a velocity
     * @param teacher the reference velocity, same shape, not all zero
     * @return {@code ||student - teacher||^2 / ||teacher||^2}, in double
     */
    public static double relativeError(Tensor student, Tensor teacher) {
        requireSameShape(student, teacher);
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

    private static void requireSameShape(Tensor a, Tensor b) {
        if (!a.sameShape(b)) {
            throw new IllegalArgumentException("velocities have shapes " + java.util.Arrays.toString(a.shape())
                    + " and " + java.util.Arrays.toString(b.shape()) + ", expected the same");
        }
    }
}
