package io.sparge4j.models.train;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.sampling.FlowSchedule;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The training objectives on velocities, with their gradients, and the flow-matching noising that feeds them.
 *
 * <p>Noising follows the project's sampler ({@link FlowSchedule}, {@link io.sparge4j.models.sampling.FlowMatchEuler}):
 * {@code x_t = (1 - sigma) x0 + sigma noise}, the model predicts the velocity {@code noise - x0}, and a continuous
 * noise level {@code s} is given to the model as FlowSchedule does: sigma rounded to f32 and timestep
 * {@code (long) (s * 1000)} (truncated toward zero, as Wan passes it).
 *
 * <p>Losses are means over every element, accumulated in float64; gradients are rounded to f32 once per element.
 */
public final class Losses {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;

    private Losses() {
    }

    /**
     * Mean squared error {@code mean((prediction - target)^2)}.
     *
     * @param prediction f32
     * @param target f32, shaped like the prediction
     * @return the loss and {@code 2 (prediction - target) / n}
     */
    public static LossResult meanSquaredError(Tensor prediction, Tensor target) {
        check("meanSquaredError", "prediction", prediction, null);
        check("meanSquaredError", "target", target, prediction.shape());
        return squaredError(prediction, target, null);
    }

    /**
     * Velocity distillation (SpargeAttention2): {@code mean || v_student - v_teacher ||^2} on the same x_t, t and
     * condition. The teacher is frozen: only the student's gradient is returned.
     *
     * @param student the student's velocity, f32
     * @param teacher the teacher's velocity, f32, shaped like the student's
     * @return the loss and dLoss/dStudent
     */
    public static LossResult velocityDistillation(Tensor student, Tensor teacher) {
        check("velocityDistillation", "student", student, null);
        check("velocityDistillation", "teacher", teacher, student.shape());
        return squaredError(student, teacher, null);
    }

    /**
     * The flow-matching loss {@code mean || v - (noise - x0) ||^2}; the target is formed in float64.
     *
     * @param velocity the model's velocity, f32
     * @param x0 the clean sample, f32, shaped like the velocity
     * @param noise the noise that made x_t, f32, shaped like the velocity
     * @return the loss and dLoss/dVelocity
     */
    public static LossResult flowMatching(Tensor velocity, Tensor x0, Tensor noise) {
        check("flowMatching", "velocity", velocity, null);
        check("flowMatching", "x0", x0, velocity.shape());
        check("flowMatching", "noise", noise, velocity.shape());
        return squaredError(velocity, noise, x0);
    }

    /**
     * Noises a clean sample to a continuous level.
     *
     * @param x0 clean sample, f32
     * @param noise standard normal noise, f32, shaped like x0
     * @param s the noise level, in [0, 1]
     * @return x_t at {@code sigma = (float) s}, with timestep {@code (long) (s * 1000)}
     */
    public static NoisySample noisy(Tensor x0, Tensor noise, double s) {
        if (!(s >= 0 && s <= 1)) {
            throw new IllegalArgumentException("Losses.noisy: s is " + s + ", expected a noise level in [0, 1]");
        }
        return noisy("noisy", x0, noise, (float) s, (long) (s * FlowSchedule.NUM_TRAIN_TIMESTEPS));
    }

    /**
     * Noises a clean sample to exactly what the sampler sees before one of its steps.
     *
     * @param x0 clean sample, f32
     * @param noise standard normal noise, f32, shaped like x0
     * @param schedule the sampler's grid
     * @param step a step index in [0, schedule.steps())
     * @return x_t at {@code schedule.sigma(step)} with {@code schedule.timestep(step)}
     */
    public static NoisySample noisyAtStep(Tensor x0, Tensor noise, FlowSchedule schedule, int step) {
        if (schedule == null) {
            throw new IllegalArgumentException("Losses.noisyAtStep: schedule is null, expected a FlowSchedule");
        }
        return noisy("noisyAtStep", x0, noise, schedule.sigma(step), schedule.timestep(step));
    }

    /**
     * Draws a noise level: {@code u} uniform in [0, 1) mapped through Wan's timestep shift
     * ({@link FlowSchedule#shift}), so that shift 1 is uniform and larger shifts favour high noise as the sampler's
     * grid does.
     *
     * @param random the seeded source
     * @param shift the timestep shift, finite and above 0
     * @return a level in [0, 1)
     */
    public static double drawNoiseLevel(SplittableRandom random, double shift) {
        if (!(shift > 0) || !Double.isFinite(shift)) {
            throw new IllegalArgumentException("Losses.drawNoiseLevel: shift is " + shift
                    + ", expected a finite number above 0");
        }
        return FlowSchedule.shift(random.nextDouble(), shift);
    }

    private static NoisySample noisy(String op, Tensor x0, Tensor noise, double sigma, double timestep) {
        check(op, "x0", x0, null);
        check(op, "noise", noise, x0.shape());
        Tensor xt = Tensor.allocate(DType.F32, x0.shape());
        MemorySegment a = x0.segment();
        MemorySegment e = noise.segment();
        MemorySegment out = xt.segment();
        for (long i = 0, n = x0.numel(); i < n; i++) {
            out.setAtIndex(F32, i, (float) ((1 - sigma) * a.getAtIndex(F32, i) + sigma * e.getAtIndex(F32, i)));
        }
        return new NoisySample(xt, sigma, timestep);
    }

    /** mean((p - (t - minus))^2) with its gradient; minus may be null. */
    private static LossResult squaredError(Tensor p, Tensor t, Tensor minus) {
        long n = p.numel();
        Tensor grad = Tensor.allocate(DType.F32, p.shape());
        if (n == 0) {
            return new LossResult(0, grad);
        }
        MemorySegment ps = p.segment();
        MemorySegment ts = t.segment();
        MemorySegment ms = minus == null ? null : minus.segment();
        MemorySegment gs = grad.segment();
        double sum = 0;
        double scale = 2.0 / n;
        for (long i = 0; i < n; i++) {
            double target = ts.getAtIndex(F32, i);
            if (ms != null) {
                target -= ms.getAtIndex(F32, i);
            }
            double d = ps.getAtIndex(F32, i) - target;
            sum += d * d;
            gs.setAtIndex(F32, i, (float) (scale * d));
        }
        return new LossResult(sum / n, grad);
    }

    private static void check(String op, String name, Tensor t, int[] shape) {
        if (t == null) {
            throw new IllegalArgumentException("Losses." + op + ": " + name + " is null, expected an f32 tensor");
        }
        if (t.dtype() != DType.F32) {
            throw new IllegalArgumentException("Losses." + op + ": " + name + " is " + t.dtype() + ", expected " + DType.F32);
        }
        if (shape != null && !Arrays.equals(t.shape(), shape)) {
            throw new IllegalArgumentException("Losses." + op + ": " + name + " has shape "
                    + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(shape));
        }
    }
}
