package io.sparge4j.models.train;

import io.sparge4j.engine.distributed.CollectiveQueue;
import io.sparge4j.engine.distributed.Communicator;
import io.sparge4j.engine.ops.Elementwise;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.text.TextEncoderPass;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Wan DiT on procedural clips, for the {@link Trainer}: pretraining (flow matching, full attention, DiT and text
 * encoder together), and sparse fine-tuning by flow matching or by velocity distillation from a frozen dense teacher
 * (SpargeAttention2's objective). A micro-batch is {@code batchSize} clips, each with its own caption, noise and
 * noise level drawn from {@link MicroBatch#sampleSeed}; its loss is the mean of theirs (here computed clip by clip).
 */
public final class WanTrainingTask implements BlockwiseTask {
    private final TrainingObjective objective;
    private WanGraph student;
    private WanGraph teacher;
    /** Under a fully sharded trainer: the teacher's blocks' source, and the teacher as it was. */
    private FullyShardedBlocks teacherBlocks;
    private WanGraph wholeTeacher;
    /** Whether {@link #releaseBlocks} freed the whole block copies. */
    private boolean released;
    private final TextEncoder text;
    private final ClipGenerator data;
    private final double captionDropout;
    private final NoiseLevels noiseLevels;
    private final int batchSize;
    private final double distillGuidance;
    private final Map<String, Tensor> parameters;

    /**
     * @param objective what to optimise
     * @param student the trained model (for {@link TrainingObjective#PRETRAIN}: dense attention)
     * @param teacher the frozen dense model for {@link TrainingObjective#DISTILL} (its own parameter tensors, never
     *                updated); null otherwise
     * @param text the text encoder: trained with the DiT when pretraining, frozen otherwise
     * @param data the clip source
     * @param captionDropout probability of training on the empty prompt (classifier-free guidance), in [0, 1]
     * @param timestepShift Wan's shift of the noise-level distribution (1 = uniform)
     */
    public WanTrainingTask(TrainingObjective objective, WanGraph student, WanGraph teacher, TextEncoder text,
                           ClipGenerator data, double captionDropout, double timestepShift) {
        this(objective, student, teacher, text, data, captionDropout, timestepShift, 1);
    }

    /**
     * @param batchSize clips per micro-batch, at least 1
     * @see #WanTrainingTask(TrainingObjective, WanGraph, WanGraph, TextEncoder, ClipGenerator, double, double)
     */
    public WanTrainingTask(TrainingObjective objective, WanGraph student, WanGraph teacher, TextEncoder text,
                           ClipGenerator data, double captionDropout, double timestepShift, int batchSize) {
        this(objective, student, teacher, text, data, captionDropout, timestepShift, batchSize, 0);
    }

    /**
     * @param distillGuidance 0 for the paper's velocity distillation (the conditional velocity); G above 0 distils
     *     the classifier-free-guided velocity instead, {@code mean || g(v_s) - g(v_t) ||^2} with
     *     {@code g(v) = v(x_t, t, empty) + G (v(x_t, t, c) - v(x_t, t, empty))}, so that sampling at guidance G
     *     sees a student whose two branches err together as little as possible (two student and two teacher passes
     *     a clip); distill only
     * @see #WanTrainingTask(TrainingObjective, WanGraph, WanGraph, TextEncoder, ClipGenerator, double, double, int)
     */
    public WanTrainingTask(TrainingObjective objective, WanGraph student, WanGraph teacher, TextEncoder text,
                           ClipGenerator data, double captionDropout, double timestepShift, int batchSize,
                           double distillGuidance) {
        this(objective, student, teacher, text, data, captionDropout, NoiseLevels.shifted(timestepShift), batchSize,
                distillGuidance);
    }

    /**
     * @param noiseLevels how the clips' noise levels are drawn (a shift, and optionally a band)
     * @see #WanTrainingTask(TrainingObjective, WanGraph, WanGraph, TextEncoder, ClipGenerator, double, double, int,
     *     double)
     */
    public WanTrainingTask(TrainingObjective objective, WanGraph student, WanGraph teacher, TextEncoder text,
                           ClipGenerator data, double captionDropout, NoiseLevels noiseLevels, int batchSize,
                           double distillGuidance) {
        if (!(distillGuidance >= 0) || !Double.isFinite(distillGuidance)) {
            throw new IllegalArgumentException("WanTrainingTask: distillGuidance is " + distillGuidance
                    + ", expected 0 (off) or a finite guidance scale above 0");
        }
        if (distillGuidance > 0 && objective != TrainingObjective.DISTILL) {
            throw new IllegalArgumentException("WanTrainingTask: distillGuidance is " + distillGuidance
                    + " for objective " + (objective == null ? null : objective.word())
                    + ", expected 0 (only distillation has a teacher to guide)");
        }
        this.distillGuidance = distillGuidance;
        if (batchSize < 1) {
            throw new IllegalArgumentException("WanTrainingTask: batchSize is " + batchSize
                    + ", expected at least 1 clip per micro-batch");
        }
        if (objective == null || student == null || text == null || data == null) {
            throw new IllegalArgumentException("WanTrainingTask: objective, student, text and data are required, got "
                    + objective + ", " + student + ", " + text + ", " + data);
        }
        if ((objective == TrainingObjective.DISTILL) != (teacher != null)) {
            throw new IllegalArgumentException("WanTrainingTask: teacher is " + (teacher == null ? "null" : "given")
                    + " for objective " + objective.word() + ", expected a teacher exactly for distill");
        }
        if (teacher != null && teacher.parameters() == student.parameters()) {
            throw new IllegalArgumentException("WanTrainingTask: the teacher shares the student's parameter map,"
                    + " expected a frozen copy");
        }
        WanConfig c = student.config();
        if (text.config().maxLength() != c.textLen() || text.config().textDim() != c.textDim()) {
            throw new IllegalArgumentException("WanTrainingTask: the text encoder gives (" + text.config().maxLength()
                    + ", " + text.config().textDim() + ") features, expected (text_len " + c.textLen()
                    + ", text_dim " + c.textDim() + ") for the DiT");
        }
        if (noiseLevels == null) {
            throw new IllegalArgumentException("WanTrainingTask: noiseLevels is null, expected a NoiseLevels");
        }
        this.objective = objective;
        this.student = student;
        this.teacher = teacher;
        this.text = text;
        this.data = data;
        this.captionDropout = captionDropout;
        this.noiseLevels = noiseLevels;
        this.batchSize = batchSize;
        Map<String, Tensor> p = new LinkedHashMap<>(student.parameters());
        if (objective == TrainingObjective.PRETRAIN) {
            p.putAll(text.parameters());
        }
        this.parameters = Collections.unmodifiableMap(p);
    }

    @Override
    public Map<String, Tensor> parameters() {
        return parameters;
    }

    /** @return the student's block of a parameter ({@link WanGraph#blockOf}); the text encoder's are -1 */
    @Override
    public int blockOf(String name) {
        return student.parameters().containsKey(name) ? WanGraph.blockOf(name) : -1;
    }

    @Override
    public int blocks() {
        return student.config().numLayers();
    }

    /**
     * The student reads its blocks from {@code source}; null reads its own parameters again, or, after
     * {@link #releaseBlocks}, fails on use ({@link ReleasedBlocks}).
     */
    @Override
    public void readBlocksFrom(BlockParameters source) {
        student = student.withBlockParameters(source == null && released
                ? new ReleasedBlocks("WanTrainingTask's student") : source);
    }

    /** The distillation teacher's blocks are sharded and gathered as it runs (pretraining and flow have none). */
    @Override
    public void shardFrozen(Communicator comm, CollectiveQueue queue) {
        if (teacher == null || teacherBlocks != null) {
            return;
        }
        teacherBlocks = FullyShardedBlocks.frozen(teacher.parameters(), comm, queue, blocks());
        wholeTeacher = teacher;
        teacher = teacher.withBlockParameters(teacherBlocks);
    }

    @Override
    public void unshardFrozen() {
        if (teacherBlocks != null) {
            teacherBlocks.close();
            teacherBlocks = null;
            teacher = released ? wholeTeacher.withBlockParameters(new ReleasedBlocks("WanTrainingTask's teacher"))
                    : wholeTeacher;
        }
    }

    /**
     * Closes the student's block tensors and, when {@link #shardFrozen} has sharded it, the teacher's: only the
     * trainer's shards hold the blocks from now on. Needs a block source ({@link #readBlocksFrom}).
     */
    @Override
    public boolean releaseBlocks() {
        if (!student.readsBlocksFromSource()) {
            throw new IllegalStateException("WanTrainingTask.releaseBlocks: the student reads its own blocks,"
                    + " expected readBlocksFrom(source) first (the blocks would be lost)");
        }
        closeBlocks(student.parameters());
        if (teacherBlocks != null) {
            closeBlocks(wholeTeacher.parameters());
        }
        released = true;
        return true;
    }

    /** Closes the block tensors ({@link WanGraph#blockOf} at least 0) of a parameter map. */
    static void closeBlocks(Map<String, Tensor> params) {
        params.forEach((name, t) -> {
            if (WanGraph.blockOf(name) >= 0) {
                t.close();
            }
        });
    }

    /** @return clips per micro-batch */
    public int batchSize() {
        return batchSize;
    }

    /** @return the guidance scale whose guided velocity is distilled, or 0 for the conditional velocity */
    public double distillGuidance() {
        return distillGuidance;
    }

    @Override
    public StepResult computeGradients(MicroBatch batch, Map<String, Tensor> gradients) {
        double loss = 0;
        long tokens = 0;
        double level = 0;
        double sparsity = 0;
        for (int i = 0; i < batchSize; i++) {
            StepResult r = computeClip(batch.sampleSeed(i), gradients);
            loss += r.loss();
            tokens += r.tokens();
            level += r.metrics().get("noise_level");
            sparsity += r.metrics().get("sparsity");
        }
        return new StepResult(loss / batchSize, tokens, Map.of("sparsity", sparsity / batchSize,
                "noise_level", level / batchSize));
    }

    /** One clip's forward and backward, its gradients scaled by 1 / batchSize and added. */
    private StepResult computeClip(long seed, Map<String, Tensor> gradients) {
        if (distillGuidance > 0) {
            return guidedClip(seed, gradients);
        }
        WanConfig c = student.config();
        boolean trainText = objective == TrainingObjective.PRETRAIN;
        try (TrainingSample sample = TrainingSample.draw(data, seed, captionDropout, noiseLevels);
             TensorScope scope = new TensorScope()) {
            Tensor x0 = sample.clip().video();
            NoisySample noisy = Losses.noisy(x0, sample.noise(), sample.level());
            scope.own(noisy.xt());
            TextEncoderPass pass = trainText ? text.forward(List.of(sample.prompt())) : null;
            try (pass) {
                Tensor features = trainText ? pass.features() : scope.own(text.encode(List.of(sample.prompt())));
                Tensor context = features.reshape(c.textLen(), c.textDim());
                try (WanGraph.Tape tape = student.forward(noisy.xt(), noisy.timestep(), context, 0)) {
                    LossResult loss = loss(tape.velocity(), x0, sample.noise(), noisy, context);
                    scope.own(loss.gradient());
                    if (batchSize > 1) {
                        Elementwise.scaleInPlace(loss.gradient(), 1f / batchSize);
                    }
                    student.backward(tape, loss.gradient(), gradients);
                    if (trainText) {
                        ParameterGrads sink = new ParameterGrads(gradients, parameters::get);
                        sink.addAndClose(pass.backward(tape.contextGradient().reshape(1, c.textLen(),
                                c.textDim())));
                    }
                    double sparsity = Arrays.stream(tape.layerSparsity()).average().orElse(0);
                    return new StepResult(loss.loss(), tokens(c, x0), Map.of("sparsity", sparsity,
                            "noise_level", sample.level()));
                }
            }
        }
    }

    /**
     * Guided distillation of one clip: the student's and the teacher's velocities with the clip's caption (c) and
     * with the empty one (u), combined as guidance G combines them, {@code (1 - G) v_u + G v_c}; the loss is their
     * mean squared difference, and its gradient reaches the student's conditional pass times G and its unconditional
     * pass times (1 - G).
     */
    private StepResult guidedClip(long seed, Map<String, Tensor> gradients) {
        WanConfig c = student.config();
        float g = (float) distillGuidance;
        try (TrainingSample sample = TrainingSample.draw(data, seed, captionDropout, noiseLevels);
             TensorScope scope = new TensorScope()) {
            Tensor x0 = sample.clip().video();
            NoisySample noisy = Losses.noisy(x0, sample.noise(), sample.level());
            scope.own(noisy.xt());
            Tensor cond = scope.own(text.encode(List.of(sample.prompt()))).reshape(c.textLen(), c.textDim());
            Tensor uncond = scope.own(text.encode(List.of(""))).reshape(c.textLen(), c.textDim());
            try (WanGraph.Tape tc = student.forward(noisy.xt(), noisy.timestep(), cond, 0);
                 WanGraph.Tape tu = student.forward(noisy.xt(), noisy.timestep(), uncond, 0)) {
                Tensor studentGuided = scope.own(guided(tu.velocity(), tc.velocity(), g));
                Tensor teacherGuided;
                try (Tensor vc = teacher.predict(noisy.xt(), noisy.timestep(), cond, 0);
                     Tensor vu = teacher.predict(noisy.xt(), noisy.timestep(), uncond, 0)) {
                    teacherGuided = scope.own(guided(vu, vc, g));
                }
                LossResult loss = Losses.velocityDistillation(studentGuided, teacherGuided);
                scope.own(loss.gradient());
                Tensor dCond = scope.own(Elementwise.scale(loss.gradient(), g / batchSize));
                Tensor dUncond = scope.own(Elementwise.scale(loss.gradient(), (1 - g) / batchSize));
                student.backward(tc, dCond, gradients);
                student.backward(tu, dUncond, gradients);
                double sparsity = (Arrays.stream(tc.layerSparsity()).average().orElse(0)
                        + Arrays.stream(tu.layerSparsity()).average().orElse(0)) / 2;
                return new StepResult(loss.loss(), tokens(c, x0), Map.of("sparsity", sparsity,
                        "noise_level", sample.level()));
            }
        }
    }

    /** @return {@code (1 - g) uncond + g cond}, as classifier-free guidance combines the two velocities */
    private static Tensor guided(Tensor uncond, Tensor cond, float g) {
        Tensor out = Elementwise.scale(uncond, 1 - g);
        Elementwise.axpy(g, cond, out);
        return out;
    }

    private LossResult loss(Tensor velocity, Tensor x0, Tensor noise, NoisySample noisy, Tensor context) {
        if (objective != TrainingObjective.DISTILL) {
            return Losses.flowMatching(velocity, x0, noise);
        }
        try (Tensor target = teacher.predict(noisy.xt(), noisy.timestep(), context, 0)) {
            return Losses.velocityDistillation(velocity, target);
        }
    }

    /** @return the DiT's sequence length for a clip (C, F, H, W) */
    static long tokens(WanConfig c, Tensor x0) {
        return c.sequenceLength(x0.dim(1), x0.dim(2), x0.dim(3));
    }

    @Override
    public Map<String, Object> describe() {
        WanConfig c = student.config();
        WanAttention a = student.attention();
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("objective", objective.word());
        d.put("dim", c.dim());
        d.put("layers", c.numLayers());
        d.put("heads", c.numHeads());
        d.put("frames", data.spec().frames());
        d.put("height", data.spec().height());
        d.put("width", data.spec().width());
        d.put("data_seed", data.seed());
        d.put("caption_dropout", captionDropout);
        d.put("timestep_shift", noiseLevels.shift());
        if (noiseLevels.banded()) {
            d.put("noise_band", Map.of("low", noiseLevels.bandLow(), "high", noiseLevels.bandHigh(), "share",
                    noiseLevels.bandShare()));
        }
        d.put("batch_size", batchSize);
        if (distillGuidance > 0) {
            d.put("distill_guidance", distillGuidance);
        }
        d.put("attention", Map.of("mode", a.mode().toString(), "topk", a.topk(), "topp", a.topp(),
                "query_block", a.queryBlock(), "key_block", a.keyBlock()));
        return d;
    }
}
