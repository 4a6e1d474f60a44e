package io.sparge4j.models.pipeline;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.sampling.ClassifierFreeGuidance;
import io.sparge4j.models.sampling.ConditionalVelocityModel;
import io.sparge4j.models.sampling.FlowMatchEuler;
import io.sparge4j.models.sampling.FlowSchedule;
import io.sparge4j.models.sampling.Noise;
import io.sparge4j.models.sampling.Sampler;
import io.sparge4j.models.sampling.StepListener;
import io.sparge4j.models.sampling.UniPcMultistep;
import io.sparge4j.models.sampling.VelocityModel;
import io.sparge4j.models.wan.WanTransformer;

import java.util.Objects;

/**
 * Text-to-video with a Wan DiT: seeded noise of the model's input shape, classifier-free guidance, a flow-matching
 * sampler over Wan's shifted schedule. The model's attention settings (dense, or SpargeAttention2 with dense
 * layers and steps) are the model's own; its statistics give the sparsity and the attention time.
 */
public final class WanGenerator {
    /** The samplers {@link Settings#sampler} names. */
    public enum SamplerKind { UNIPC, EULER }

    /**
     * What to generate.
     *
     * @param frames video frames (latent models: 4n+1)
     * @param height video height in pixels
     * @param width video width in pixels
     * @param steps denoising steps
     * @param guidance classifier-free guidance scale; 1 runs the conditional model alone
     * @param shift Wan's timestep shift
     * @param seed noise seed
     * @param sampler UniPC (Wan's default) or Euler
     */
    public record Settings(int frames, int height, int width, int steps, double guidance, double shift, long seed,
            SamplerKind sampler) {
        /**
         * @throws IllegalArgumentException naming the setting out of range
         */
        public Settings {
            if (steps <= 0) {
                throw new IllegalArgumentException("--steps: got " + steps + ", expected a positive integer");
            }
            if (!Double.isFinite(guidance)) {
                throw new IllegalArgumentException("--guidance: got " + guidance + ", expected a finite number");
            }
            if (!(shift > 0) || !Double.isFinite(shift)) {
                throw new IllegalArgumentException("--shift: got " + shift + ", expected a positive number");
            }
            Objects.requireNonNull(sampler, "sampler");
        }
    }

    /**
     * The generated tensor and what it cost.
     *
     * @param video (C, F, H, W): latents, or pixels in about [-1, 1] for a pixel-space model
     * @param totalNanos wall time of the sampling loop
     * @param attentionNanos time in self-attention (mask included)
     * @param sparsity mean attention sparsity over every layer and step
     */
    public record Result(Tensor video, long totalNanos, long attentionNanos, double sparsity) {
        /** @return the share of the time spent in self-attention, in [0, 1] */
        public double attentionShare() {
            return totalNanos == 0 ? 0 : (double) attentionNanos / totalNanos;
        }
    }

    private final WanTransformer model;

    /** @param model the DiT with its attention settings */
    public WanGenerator(WanTransformer model) {
        this.model = Objects.requireNonNull(model, "model");
    }

    /**
     * @param context the prompt's text features (L, text_dim)
     * @param negativeContext the negative prompt's features, same shape, or null for zeros (Wan's default with no
     *     negative prompt)
     * @param settings what to generate
     * @param listener told after every step
     * @return the video and its statistics
     * @throws IllegalArgumentException naming a size that does not fit the model
     */
    public Result generate(Tensor context, Tensor negativeContext, Settings settings, StepListener listener) {
        int[] shape = VideoGeometry.inputShape(model.config(), settings.frames(), settings.height(), settings.width());
        ConditionalVelocityModel conditional = model::forward;
        VelocityModel velocity;
        if (settings.guidance() == 1.0) {
            velocity = (x, t, step) -> conditional.velocity(x, t, context, step);
        } else if (negativeContext == null) {
            velocity = ClassifierFreeGuidance.withZeroNegative(conditional, context, settings.guidance());
        } else {
            velocity = new ClassifierFreeGuidance(conditional, context, negativeContext, settings.guidance());
        }
        Sampler sampler = settings.sampler() == SamplerKind.EULER ? new FlowMatchEuler() : new UniPcMultistep();
        FlowSchedule schedule = FlowSchedule.wan(settings.steps(), settings.shift());
        model.stats().reset();
        long start = System.nanoTime();
        Tensor video;
        try (Tensor noise = Noise.gaussian(settings.seed(), shape)) {
            video = sampler.sample(velocity, noise, schedule, listener);
        }
        long total = System.nanoTime() - start;
        return new Result(video, total, model.stats().attentionNanos(), model.stats().meanSparsity());
    }
}
