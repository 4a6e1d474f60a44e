package io.sparge4j.models.train;

import io.sparge4j.engine.distributed.CollectiveQueue;
import io.sparge4j.engine.distributed.Communicator;
import io.sparge4j.engine.gpu.DeviceGradients;
import io.sparge4j.engine.gpu.DeviceMeanSquaredError;
import io.sparge4j.engine.gpu.DeviceSession;
import io.sparge4j.engine.gpu.DeviceTensor;
import io.sparge4j.engine.gpu.GemmPrecision;
import io.sparge4j.engine.ops.Elementwise;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.text.TextEncoderPass;
import io.sparge4j.models.wan.WanConfig;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.IntStream;

/**
 * {@link WanTrainingTask} with the DiT's forward and backward (the student's, and the frozen dense teacher's forward
 * for {@link TrainingObjective#DISTILL}) on a {@link DeviceSession} through {@link DeviceWanGraph}: the same
 * objectives, and the same clip, caption, noise and noise level drawn from each {@link MicroBatch}'s seed
 * ({@link TrainingSample#draw}, {@link Losses#noisy}).
 *
 * <p>The parameters stay the host maps of the CPU task ({@link #parameters()}: the {@link Trainer}'s AdamW updates
 * them on the host, so checkpoints and resume are exactly those of the CPU task). Each {@link #computeGradients}
 * uploads the DiT parameters into one resident {@link DeviceWanStore} (in place, no allocation), runs the step on
 * the device with the loss there ({@link DeviceWanLoss}; the flow-matching target {@code noise - x0} is formed in f32
 * on the host), downloads the DiT gradients and ADDS them into the caller's map. The text encoder runs on the CPU;
 * when pretraining, the gradient with respect to the text features is read back and sent through the encoder's
 * backward. The teacher's parameters are uploaded once (they never change).
 *
 * <p>A micro-batch of {@code batchSize} clips runs as one batched forward and backward
 * ({@link DeviceWanGraph#forward(Tensor, double[], Tensor, int)}): the kernels are launched once for all of them,
 * which is what lets small clips use the GPU (one 4096-token clip leaves it launch-bound). The clips are drawn on the
 * host in parallel, each from its own {@link MicroBatch#sampleSeed}, and the loss is the mean over every clip's
 * values, equal to the mean of the clips' losses that {@link WanTrainingTask} computes clip by clip.
 *
 * <p>Under a fully sharded trainer ({@link #readBlocksFrom}) the student's blocks are not resident: each is uploaded
 * from its all-gather when the graph reaches it and freed after, and its gradients are read back as soon as its
 * backward is done.
 *
 * <p>Per micro-batch this moves every DiT parameter up and every gradient down (2 x 4 bytes per parameter), plus
 * the patchified input, the target and the text features up, and the loss (and for pretraining dContext, for hybrid
 * attention the masks, for the sparsity metric) down.
 */
public final class DeviceWanTrainingTask implements BlockwiseTask, AutoCloseable {
    private static final String OP = "DeviceWanTrainingTask";

    private final WanTrainingTask host;
    private final TrainingObjective objective;
    private final WanGraph studentHost;
    private final TextEncoder text;
    private final ClipGenerator data;
    private final double captionDropout;
    private final NoiseLevels noiseLevels;
    private final DeviceWanStore store;
    private final DeviceWanStore teacherStore;
    private DeviceWanGraph student;
    private DeviceWanGraph teacher;
    private final WanGraph teacherHost;
    /** Under a fully sharded trainer: the teacher's blocks' source. */
    private FullyShardedBlocks teacherBlocks;
    /** Whether {@link #releaseBlocks} freed the host copies of the blocks. */
    private boolean released;
    /** Whether {@link #releaseTeacherHostCopy} freed the teacher's host tensors (its device copy is all there is). */
    private boolean teacherHostReleased;
    private final String backend;
    private final int batchSize;
    private final double distillGuidance;

    /**
     * The same arguments as {@link WanTrainingTask} (the CPU graphs hold the host parameters and the attention
     * settings), and where and how the DiT runs.
     *
     * @param objective what to optimise
     * @param studentHost the trained model's parameters and self-attention settings (blocks 128 x 64)
     * @param teacherHost the frozen dense model for DISTILL, null otherwise
     * @param text the text encoder (trained jointly when pretraining, on the CPU)
     * @param data the clip source
     * @param captionDropout probability of the empty prompt
     * @param timestepShift Wan's shift of the noise-level distribution
     * @param session the device; owned by the caller, open for the task's life
     * @param checkpointBlocks whether the device backward recomputes each block from its input
     * @param precision F32, or BF16 for the forward's GEMMs and self-attention (F16 is refused)
     * @throws IllegalArgumentException as {@link WanTrainingTask}, or when the device kernels cannot run the model
     *     (head dim other than 64 or 128, blocks other than 128 x 64)
     */
    public DeviceWanTrainingTask(TrainingObjective objective, WanGraph studentHost, WanGraph teacherHost,
            TextEncoder text, ClipGenerator data, double captionDropout, double timestepShift, DeviceSession session,
            boolean checkpointBlocks, GemmPrecision precision) {
        this(objective, studentHost, teacherHost, text, data, captionDropout, timestepShift, 1, session,
                checkpointBlocks, precision);
    }

    /**
     * @param batchSize clips per micro-batch, run as one batched pass, at least 1
     * @see #DeviceWanTrainingTask(TrainingObjective, WanGraph, WanGraph, TextEncoder, ClipGenerator, double, double,
     *     DeviceSession, boolean, GemmPrecision)
     */
    public DeviceWanTrainingTask(TrainingObjective objective, WanGraph studentHost, WanGraph teacherHost,
            TextEncoder text, ClipGenerator data, double captionDropout, double timestepShift, int batchSize,
            DeviceSession session, boolean checkpointBlocks, GemmPrecision precision) {
        this(objective, studentHost, teacherHost, text, data, captionDropout, timestepShift, batchSize, session,
                checkpointBlocks, precision, 0);
    }

    /**
     * @param distillGuidance 0 for the paper's distillation, G above 0 to distil the guided velocity
     *     ({@link WanTrainingTask#distillGuidance}): the micro-batch runs the student and the teacher twice, with the
     *     captions and with empty ones
     * @see #DeviceWanTrainingTask(TrainingObjective, WanGraph, WanGraph, TextEncoder, ClipGenerator, double, double,
     *     int, DeviceSession, boolean, GemmPrecision)
     */
    public DeviceWanTrainingTask(TrainingObjective objective, WanGraph studentHost, WanGraph teacherHost,
            TextEncoder text, ClipGenerator data, double captionDropout, double timestepShift, int batchSize,
            DeviceSession session, boolean checkpointBlocks, GemmPrecision precision, double distillGuidance) {
        this(objective, studentHost, teacherHost, text, data, captionDropout, NoiseLevels.shifted(timestepShift),
                batchSize, session, checkpointBlocks, precision, distillGuidance);
    }

    /**
     * @param noiseLevels how the clips' noise levels are drawn (a shift, and optionally a band)
     * @see #DeviceWanTrainingTask(TrainingObjective, WanGraph, WanGraph, TextEncoder, ClipGenerator, double, double,
     *     int, DeviceSession, boolean, GemmPrecision, double)
     */
    public DeviceWanTrainingTask(TrainingObjective objective, WanGraph studentHost, WanGraph teacherHost,
            TextEncoder text, ClipGenerator data, double captionDropout, NoiseLevels noiseLevels, int batchSize,
            DeviceSession session, boolean checkpointBlocks, GemmPrecision precision, double distillGuidance) {
        // the CPU task checks the pieces and owns the parameter map and the description
        this.host = new WanTrainingTask(objective, studentHost, teacherHost, text, data, captionDropout,
                noiseLevels, batchSize, distillGuidance);
        this.distillGuidance = distillGuidance;
        this.teacherHost = teacherHost;
        this.batchSize = batchSize;
        Objects.requireNonNull(session, OP + ": session is null, expected an open DeviceSession");
        DeviceWanGraph.trainingPrecision(OP, precision);   // before any upload
        this.objective = objective;
        this.studentHost = studentHost;
        this.text = text;
        this.data = data;
        this.captionDropout = captionDropout;
        this.noiseLevels = noiseLevels;
        this.backend = session.backendName();
        WanConfig c = studentHost.config();
        DeviceWanStore s = null;
        DeviceWanStore t = null;
        try {
            s = DeviceWanStore.upload(session, c, studentHost.parameters());
            this.student = new DeviceWanGraph(s, studentHost.attention(), checkpointBlocks, precision);
            if (teacherHost != null) {
                t = DeviceWanStore.upload(session, teacherHost.config(), teacherHost.parameters());
                this.teacher = new DeviceWanGraph(t, teacherHost.attention(), false, precision);
            } else {
                this.teacher = null;
            }
        } catch (RuntimeException | Error e) {
            if (s != null) {
                s.close();
            }
            if (t != null) {
                t.close();
            }
            throw e;
        }
        this.store = s;
        this.teacherStore = t;
    }

    /** @return the DiT's parameters (and the text encoder's when pretraining), the host tensors the trainer updates */
    @Override
    public Map<String, Tensor> parameters() {
        return host.parameters();
    }

    @Override
    public int blockOf(String name) {
        return host.blockOf(name);
    }

    @Override
    public int blocks() {
        return host.blocks();
    }

    /**
     * With a source, the student's blocks leave the device: each is uploaded from {@code source} when it runs and
     * freed after ({@link DeviceWanStore#dropBlocks}, {@link DeviceWanGraph#withBlockParameters}), so the device holds
     * the embeddings, the head and at most one block of the student; null uploads every block again from
     * {@link #parameters()}.
     */
    @Override
    public void readBlocksFrom(BlockParameters source) {
        if (source != null) {
            store.dropBlocks();
            student = student.withBlockParameters(source);
        } else if (released) {   // nothing left on the host to upload
            student = student.withBlockParameters(new ReleasedBlocks("DeviceWanTrainingTask's student"));
        } else {
            store.restoreBlocks(studentHost.parameters());
            student = student.withBlockParameters(null);
        }
    }

    /**
     * Frees the host copy of the frozen teacher: it was uploaded once and the device runs it from there, so a run that
     * never shards it (one process, or {@code ShardedTrainer.Strategy.SHARD_GRAD_OP}) needs no host copy; the memory
     * saved is the teacher's size (56 GB for the 14B model in f32). The tensors of the teacher's parameter map are
     * closed; {@link #shardFrozen} is refused afterwards. Nothing to do without a teacher.
     */
    public void releaseTeacherHostCopy() {
        if (teacherHost == null || teacherHostReleased) {
            return;
        }
        if (teacherBlocks != null) {
            throw new IllegalStateException(OP + ".releaseTeacherHostCopy: the teacher is sharded (shardFrozen),"
                    + " expected an unsharded teacher (a fully sharded run frees its blocks itself, releaseBlocks)");
        }
        teacherHost.parameters().values().forEach(Tensor::close);
        teacherHostReleased = true;
    }

    /** The distillation teacher's blocks leave the device too, gathered from their shards as the teacher runs. */
    @Override
    public void shardFrozen(Communicator comm, CollectiveQueue queue) {
        if (teacher == null || teacherBlocks != null) {
            return;
        }
        if (teacherHostReleased) {
            throw new IllegalStateException(OP + ".shardFrozen: the teacher's host copy was released"
                    + " (releaseTeacherHostCopy), expected it for sharding; release it only for runs that do not fully"
                    + " shard");
        }
        teacherBlocks = FullyShardedBlocks.frozen(teacherHost.parameters(), comm, queue, blocks());
        teacherStore.dropBlocks();
        teacher = teacher.withBlockParameters(teacherBlocks);
    }

    @Override
    public void unshardFrozen() {
        if (teacherBlocks != null) {
            teacherBlocks.close();
            teacherBlocks = null;
            if (released) {
                teacher = teacher.withBlockParameters(new ReleasedBlocks("DeviceWanTrainingTask's teacher"));
            } else {
                teacherStore.restoreBlocks(teacherHost.parameters());
                teacher = teacher.withBlockParameters(null);
            }
        }
    }

    /**
     * Frees the host copies of the student's blocks and, once {@link #shardFrozen} has sharded it, the teacher's:
     * their device copies are gone already, so only the trainer's shards hold them. Needs a block source
     * ({@link #readBlocksFrom}).
     */
    @Override
    public boolean releaseBlocks() {
        if (!student.readsBlocksFromSource()) {
            throw new IllegalStateException(OP + ".releaseBlocks: the student reads its own blocks, expected"
                    + " readBlocksFrom(source) first (the blocks would be lost)");
        }
        WanTrainingTask.closeBlocks(studentHost.parameters());
        if (teacherBlocks != null) {
            WanTrainingTask.closeBlocks(teacherHost.parameters());
        }
        released = true;
        return true;
    }

    /** @return the device graph of the frozen teacher, or null without one */
    public DeviceWanGraph teacher() {
        return teacher;
    }

    /** @return the device graph of the student (its store holds the last uploaded parameters and gradients) */
    public DeviceWanGraph student() {
        return student;
    }

    @Override
    public StepResult computeGradients(MicroBatch batch, Map<String, Tensor> gradients) {
        WanConfig c = studentHost.config();
        boolean trainText = objective == TrainingObjective.PRETRAIN;
        // the optimizer stepped the host tensors: refresh the resident copies in place
        store.uploadFrom(studentHost.parameters());
        store.zeroGrads();
        ParameterGrads sink = new ParameterGrads(gradients, parameters()::get);
        if (distillGuidance > 0) {
            return guidedGradients(batch, sink);
        }
        try (TensorScope scope = new TensorScope()) {
            Clips clips = drawClips(batch, scope);
            TextEncoderPass pass = trainText ? text.forward(clips.prompts()) : null;
            try (pass) {
                Tensor features = trainText ? pass.features() : scope.own(text.encode(clips.prompts()));
                try (DeviceWanGraph.Tape tape = student.forward(clips.xt(), clips.timesteps(), features, 0);
                     DeviceTensor target = target(clips, features);
                     DeviceMeanSquaredError.Result loss = DeviceWanLoss.mse(tape, target)) {
                    student.backward(tape, loss.grad());
                    sink.addAndClose(store.downloadGrads());
                    store.zeroGrads();
                    if (trainText) {
                        sink.addAndClose(pass.backward(tape.contextGradient()));
                    }
                    double sparsity = Arrays.stream(tape.layerSparsity()).average().orElse(0);
                    return new StepResult(loss.lossValue(), batchSize * WanTrainingTask.tokens(c, clips.x0Of(0)),
                            Map.of("sparsity", sparsity, "noise_level", Arrays.stream(clips.levels()).average()
                                    .orElse(0)));
                }
            }
        }
    }

    /**
     * Guided distillation of a micro-batch ({@link WanTrainingTask}'s, batched): the student and the teacher with the
     * clips' captions and with empty ones, each pair combined as guidance G combines them; the gradient of the mean
     * squared difference reaches the conditional pass times G and the unconditional one times (1 - G).
     */
    private StepResult guidedGradients(MicroBatch batch, ParameterGrads sink) {
        WanConfig c = studentHost.config();
        float g = (float) distillGuidance;
        try (TensorScope scope = new TensorScope()) {
            Clips clips = drawClips(batch, scope);
            Tensor cond = scope.own(text.encode(clips.prompts()));
            Tensor uncond = scope.own(text.encode(Collections.nCopies(batchSize, "")));
            try (DeviceWanGraph.Tape tc = student.forward(clips.xt(), clips.timesteps(), cond, 0);
                 DeviceWanGraph.Tape tu = student.forward(clips.xt(), clips.timesteps(), uncond, 0);
                 DeviceTensor studentGuided = guided(tu.velocityTokens(), tc.velocityTokens(), g);
                 DeviceTensor teacherGuided = teacherGuided(clips, cond, uncond, g);
                 DeviceMeanSquaredError.Result loss = DeviceMeanSquaredError.of(studentGuided, teacherGuided);
                 DeviceTensor dCond = scaled(loss.grad(), g);
                 DeviceTensor dUncond = scaled(loss.grad(), 1 - g)) {
                student.backward(tc, dCond);
                student.backward(tu, dUncond);
                sink.addAndClose(store.downloadGrads());
                store.zeroGrads();
                double sparsity = (Arrays.stream(tc.layerSparsity()).average().orElse(0)
                        + Arrays.stream(tu.layerSparsity()).average().orElse(0)) / 2;
                return new StepResult(loss.lossValue(), batchSize * WanTrainingTask.tokens(c, clips.x0Of(0)),
                        Map.of("sparsity", sparsity, "noise_level", Arrays.stream(clips.levels()).average()
                                .orElse(0)));
            }
        }
    }

    private DeviceTensor teacherGuided(Clips clips, Tensor cond, Tensor uncond, float g) {
        try (DeviceTensor vc = teacher.predictTokens(clips.xt(), clips.timesteps(), cond, 0);
             DeviceTensor vu = teacher.predictTokens(clips.xt(), clips.timesteps(), uncond, 0)) {
            return guided(vu, vc, g);
        }
    }

    /** @return {@code (1 - g) uncond + g cond}, a new device tensor */
    private DeviceTensor guided(DeviceTensor uncond, DeviceTensor cond, float g) {
        DeviceTensor out = store.session().zeros(cond.shape());
        DeviceGradients.accumulate(1 - g, uncond, out);
        DeviceGradients.accumulate(g, cond, out);
        return out;
    }

    /** @return {@code alpha x}, a new device tensor */
    private DeviceTensor scaled(DeviceTensor x, float alpha) {
        DeviceTensor out = store.session().zeros(x.shape());
        DeviceGradients.accumulate(alpha, x, out);
        return out;
    }

    /**
     * A micro-batch's clips stacked for the batched pass.
     *
     * @param x0 the clean clips (B, C, F, H, W)
     * @param noise their noise, shaped like x0
     * @param xt the noised clips, shaped like x0
     * @param timesteps each clip's timestep
     * @param levels each clip's noise level
     * @param prompts each clip's caption (or "")
     */
    private record Clips(Tensor x0, Tensor noise, Tensor xt, double[] timesteps, double[] levels,
            List<String> prompts) {
        Tensor x0Of(int b) {
            return x0.select(b);
        }
    }

    /** Draws the micro-batch's clips in parallel (each from its own seed, so the order of work does not matter). */
    private Clips drawClips(MicroBatch batch, TensorScope scope) {
        TrainingSample[] samples = new TrainingSample[batchSize];
        try {
            IntStream.range(0, batchSize).parallel().forEach(i -> samples[i] = TrainingSample.draw(data,
                    batch.sampleSeed(i), captionDropout, noiseLevels));
            int[] clip = samples[0].clip().video().shape();
            int[] shape = {batchSize, clip[0], clip[1], clip[2], clip[3]};
            Tensor x0 = scope.own(Tensor.allocate(DType.F32, shape));
            Tensor noise = scope.own(Tensor.allocate(DType.F32, shape));
            Tensor xt = scope.own(Tensor.allocate(DType.F32, shape));
            double[] timesteps = new double[batchSize];
            double[] levels = new double[batchSize];
            List<String> prompts = new ArrayList<>();
            IntStream.range(0, batchSize).parallel().forEach(i -> {
                TrainingSample sample = samples[i];
                x0.select(i).copyFrom(sample.clip().video());
                noise.select(i).copyFrom(sample.noise());
                NoisySample noisy = Losses.noisy(sample.clip().video(), sample.noise(), sample.level());
                try (Tensor one = noisy.xt()) {
                    xt.select(i).copyFrom(one);
                }
                timesteps[i] = noisy.timestep();
                levels[i] = sample.level();
            });
            for (TrainingSample sample : samples) {
                prompts.add(sample.prompt());
            }
            return new Clips(x0, noise, xt, timesteps, levels, prompts);
        } finally {
            for (TrainingSample sample : samples) {
                if (sample != null) {
                    sample.close();
                }
            }
        }
    }

    /** The regression target on the device, in the velocity's token layout. */
    private DeviceTensor target(Clips clips, Tensor context) {
        if (objective == TrainingObjective.DISTILL) {
            return teacher.predictTokens(clips.xt(), clips.timesteps(), context, 0);
        }
        try (Tensor velocity = Elementwise.sub(clips.noise(), clips.x0())) {
            return student.tokens(velocity);
        }
    }

    @Override
    public Map<String, Object> describe() {
        Map<String, Object> d = new LinkedHashMap<>(host.describe());
        d.put("backend", backend);
        d.put("precision", student.precision().toString());
        d.put("checkpoint_blocks", student.checkpointBlocks());
        return d;
    }

    /** Frees the device copies of the parameters (and the teacher's); the session stays open. */
    @Override
    public void close() {
        store.close();
        if (teacherStore != null) {
            teacherStore.close();
        }
    }
}
