package io.sparge4j.models.train;

import io.sparge4j.engine.gpu.DeviceSession;
import io.sparge4j.engine.gpu.GemmPrecision;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.Captions;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.data.ClipSpec;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.text.TextEncoderConfig;
import io.sparge4j.models.text.WordTokenizer;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link DeviceWanTrainingTask} against the CPU's {@link WanTrainingTask} (whose gradients {@code WanTrainingTaskTest}
 * checks against finite differences) on the same micro-batch: a tiny pixel-space DiT (dim 64, one head of 64, 2
 * blocks) on 8 frames of 24 x 24 pixels, patch (1, 2, 2) = 1152 tokens (9 x 18 blocks of 128 x 64), and a text
 * encoder of width 16. Caption dropout is 0 so that the text encoder's gradients are not zero.
 *
 * <p>Tolerance: {@code max |device - cpu| <= 1e-4 * max |cpu|} per gradient tensor (every DiT parameter and, when
 * pretraining, every text encoder parameter through the read-back dContext), and the loss within 1e-4 relative (seen:
 * 2.5e-6 on PoCL): as
 * {@code DeviceWanGraphTest}, both sides round every op to f32 in different orders; the device's loss is an f32
 * reduction where the CPU's is float64, and the flow target {@code noise - x0} is rounded to f32 first. The hybrid
 * student chooses its own masks on the device ({@code DeviceWanGraphTest} shows they equal the CPU's block for
 * block); the per-layer sparsity metric must then be equal too. A gradient that is analytically zero (the text
 * encoder's attention key biases) holds rounding noise on both sides (4e-13 here): it must stay below 1e-7 of the
 * largest gradient instead.
 */
class DeviceWanTrainingTaskTest {
    private static final WanConfig CONFIG = WanConfig.tiny(64, 1, 2, 3, true);
    private static final ClipSpec SPEC = ClipSpec.of(8, 24, 24);
    private static final double TOL = 1e-4;
    /** Below this fraction of the largest gradient, a CPU gradient tensor counts as analytically zero. */
    private static final double ZERO = 1e-7;
    private static final WanAttention HYBRID = WanAttention.defaults().withTopk(0.3).withTopp(0.5);

    private static TextEncoder encoder(long seed) {
        WordTokenizer tokenizer = new WordTokenizer(Captions.vocabulary());
        return TextEncoder.initialize(new TextEncoderConfig(tokenizer.vocabSize(), 16, 1, 2, 32, CONFIG.textLen(),
                CONFIG.textDim()), tokenizer, seed);
    }

    /** The student (and teacher) graphs and the text encoder of one case; both tasks read the same host tensors. */
    private record Pieces(TrainingObjective objective, WanGraph student, WanGraph teacher, TextEncoder text,
                          ClipGenerator data) {
        static Pieces of(TrainingObjective objective, long seed) {
            return of(objective, seed, seed);
        }

        /** @param ditSeed the DiT's initial values (the text encoder, data and teacher come from {@code seed}) */
        static Pieces of(TrainingObjective objective, long seed, long ditSeed) {
            WanAttention attention = objective == TrainingObjective.PRETRAIN ? WanAttention.dense() : HYBRID;
            WanGraph student = new WanGraph(CONFIG, TaskFixtures.parameters(CONFIG, ditSeed), attention, false);
            WanGraph teacher = objective == TrainingObjective.DISTILL
                    ? new WanGraph(CONFIG, TaskFixtures.copy(TaskFixtures.parameters(CONFIG, seed + 100)),
                            WanAttention.dense(), false) : null;
            return new Pieces(objective, student, teacher, encoder(seed + 2), new ClipGenerator(seed + 3, SPEC));
        }

        WanTrainingTask cpu() {
            return cpu(1);
        }

        WanTrainingTask cpu(int batch) {
            return new WanTrainingTask(objective, student, teacher, text, data, 0.0, 3.0, batch);
        }

        DeviceWanTrainingTask device(DeviceSession session, boolean checkpointBlocks) {
            return device(session, checkpointBlocks, 1);
        }

        DeviceWanTrainingTask device(DeviceSession session, boolean checkpointBlocks, int batch) {
            return new DeviceWanTrainingTask(objective, student, teacher, text, data, 0.0, 3.0, batch, session,
                    checkpointBlocks, GemmPrecision.F32);
        }
    }

    /** f16 training is refused, naming the precision, before anything goes up (DeviceWanGraph.trainingPrecision). */
    @Test
    void refusesF16BeforeUploading() {
        Pieces pieces = Pieces.of(TrainingObjective.PRETRAIN, 62);
        try (DeviceSession session = DeviceSession.open("emulator")) {
            int before = session.liveAllocations();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new DeviceWanTrainingTask(
                    pieces.objective(), pieces.student(), null, pieces.text(), pieces.data(), 0.0, 3.0, 1, session,
                    false, GemmPrecision.F16));
            assertTrue(e.getMessage().contains("DeviceWanTrainingTask: precision is F16, expected F32 or BF16"),
                    e.getMessage());
            assertEquals(before, session.liveAllocations(), "nothing uploaded");
        }
    }

    /**
     * Every objective on PoCL and CUDA, one clip per micro-batch and a batch of clips (one batched device pass against
     * the CPU task's clip-by-clip mean); the emulator runs pretraining only (the path with the text encoder; each
     * forward and backward takes it over a minute here, and its kernels are those of PoCL).
     */
    @ParameterizedTest
    @CsvSource({"emulator, pretrain, 1", "opencl, pretrain, 1", "opencl, flow, 1", "opencl, distill, 1",
            "opencl, pretrain, 3", "opencl, distill, 2", "cuda, pretrain, 1", "cuda, flow, 1", "cuda, distill, 1",
            "cuda, pretrain, 3", "cuda, flow, 2", "cuda, distill, 2"})
    void lossAndEveryGradientMatchTheCpuTask(String backend, String objectiveWord, int clips) {
        TrainingObjective objective = TrainingObjective.parse("objective", objectiveWord);
        Pieces pieces = Pieces.of(objective, 61);
        try (DeviceSession session = DeviceTestSessions.openWholeModel(backend);
             DeviceWanTrainingTask device = pieces.device(session, objective == TrainingObjective.FLOW, clips)) {
            WanTrainingTask cpu = pieces.cpu(clips);
            assertEquals(cpu.parameters().keySet(), device.parameters().keySet());
            assertEquals(objective == TrainingObjective.PRETRAIN,
                    device.parameters().keySet().stream().anyMatch(k -> k.startsWith("text_encoder.")));
            MicroBatch batch = new MicroBatch(2, 0, 1, MicroBatch.derive(71, 2, 0));
            Map<String, Tensor> want = new LinkedHashMap<>();
            Map<String, Tensor> got = new LinkedHashMap<>();
            try {
                StepResult w = cpu.computeGradients(batch, want);
                StepResult g = device.computeGradients(batch, got);
                System.out.printf("DeviceWanTrainingTaskTest %s %s x%d: loss CPU %.9g device %.9g, sparsity %s vs %s%n",
                        backend, objectiveWord, clips, w.loss(), g.loss(), w.metrics().get("sparsity"),
                        g.metrics().get("sparsity"));
                assertTrue(w.loss() > 0, "a nonzero loss");
                assertEquals(w.loss(), g.loss(), TOL * w.loss(), "loss");
                assertEquals(w.tokens(), g.tokens());
                assertEquals(1152L * clips, g.tokens());
                assertEquals(w.metrics().get("sparsity"), g.metrics().get("sparsity"), 1e-12, "sparsity");
                assertEquals(w.metrics().get("noise_level"), g.metrics().get("noise_level"), 1e-12, "the same draws");
                if (objective != TrainingObjective.PRETRAIN) {
                    assertTrue(w.metrics().get("sparsity") > 0.2, "the hybrid student drops blocks");
                }
                double worst = assertGradientsMatch(backend + " " + objectiveWord, want, got);
                System.out.printf("DeviceWanTrainingTaskTest %s %s x%d: %d gradients, worst max|diff|/max|cpu| %.2e%n",
                        backend, objectiveWord, clips, want.size(), worst);
                if (backend.equals("emulator") || clips > 1) {
                    return;   // the slow backend has shown its numbers; accumulation is the same host code
                }
                // the task ADDS into the map: a second identical micro-batch doubles every gradient exactly
                Map<String, float[]> once = new LinkedHashMap<>();
                got.forEach((k, v) -> once.put(k, v.toFloatArray()));
                device.computeGradients(batch, got);
                once.forEach((k, v) -> {
                    float[] twice = got.get(k).toFloatArray();
                    for (int i = 0; i < v.length; i++) {
                        assertEquals(2 * v[i], twice[i], 0f, k + "[" + i + "] accumulated");
                    }
                });
            } finally {
                want.values().forEach(Tensor::close);
                got.values().forEach(Tensor::close);
            }
        }
    }

    /**
     * Three Trainer steps on the device task (flow matching, hybrid student, two micro-batches, clipping, warm-up),
     * uninterrupted and as 2 steps + checkpoint + resume into a task with other initial values: the same losses,
     * gradient norms and parameters bit for bit (AdamW runs on the host; the device kernels are deterministic).
     */
    @ParameterizedTest
    @ValueSource(strings = {"opencl", "cuda"})
    void threeDeviceStepsResumeExactly(String backend, @TempDir Path dir) throws IOException {
        TrainerConfig config = new TrainerConfig(3, 2, 91, 0.5, AdamWConfig.pytorchDefaults(0.01),
                LrSchedule.warmupCosine(2e-3, 2, 3, 2e-4), 0, 2, 10);
        try (DeviceSession session = DeviceTestSessions.openWholeModel(backend)) {
            Pieces whole = Pieces.of(TrainingObjective.FLOW, 81);
            List<TrainerStepLog> want;
            try (DeviceWanTrainingTask task = whole.device(session, true)) {
                want = new Trainer(task, config, TrainerOutputs.none()).run();
            }
            Path ckpt = dir.resolve("ckpt");
            Pieces first = Pieces.of(TrainingObjective.FLOW, 81);
            try (DeviceWanTrainingTask task = first.device(session, true)) {
                new Trainer(task, config, new TrainerOutputs(ckpt, null, false)).runUntil(2);
            }
            // other DiT values: they must come from disk (the frozen text encoder and the data are the run's)
            Pieces fresh = Pieces.of(TrainingObjective.FLOW, 81, 82);
            List<TrainerStepLog> tail;
            try (DeviceWanTrainingTask task = fresh.device(session, true)) {
                Trainer resumed = Trainer.resume(ckpt, task, TrainerOutputs.none());
                assertEquals(2, resumed.step());
                tail = resumed.run();
            }
            assertEquals(1, tail.size());
            assertEquals(want.get(2).loss(), tail.get(0).loss(), 0.0, "the third step's loss");
            assertEquals(want.get(2).gradNorm(), tail.get(0).gradNorm(), 0.0, "the third step's gradient norm");
            assertTrue(want.get(0).loss() > 0 && want.get(2).gradNorm() > 0);
            for (String name : whole.student().parameters().keySet()) {
                assertArrayEquals(whole.student().parameters().get(name).toFloatArray(),
                        fresh.student().parameters().get(name).toFloatArray(), name);
            }
        }
    }

    /**
     * A single-process distillation frees the teacher's host copy once it is on the device: the same losses and
     * parameters bit for bit as with the copy kept, the host tensors closed, and sharding the teacher refused after.
     */
    @ParameterizedTest
    @ValueSource(strings = {"opencl", "cuda"})
    void releasingTheTeachersHostCopyChangesNothingButTheMemory(String backend) throws IOException {
        TrainerConfig config = new TrainerConfig(2, 1, 95, 1.0, AdamWConfig.pytorchDefaults(0.01),
                LrSchedule.warmupCosine(2e-3, 1, 2, 2e-4), 0, 2, 10);
        try (DeviceSession session = DeviceTestSessions.openWholeModel(backend)) {
            Pieces kept = Pieces.of(TrainingObjective.DISTILL, 85);
            List<TrainerStepLog> want;
            try (DeviceWanTrainingTask task = kept.device(session, false)) {
                want = new Trainer(task, config, TrainerOutputs.none()).run();
            }
            Pieces freed = Pieces.of(TrainingObjective.DISTILL, 85);
            try (DeviceWanTrainingTask task = freed.device(session, false)) {
                task.releaseTeacherHostCopy();
                for (Map.Entry<String, Tensor> e : freed.teacher().parameters().entrySet()) {
                    assertThrows(IllegalStateException.class, e.getValue()::toFloatArray, e.getKey() + " freed");
                }
                List<TrainerStepLog> got = new Trainer(task, config, TrainerOutputs.none()).run();
                for (int i = 0; i < want.size(); i++) {
                    assertEquals(want.get(i).loss(), got.get(i).loss(), 0.0, "loss of step " + (i + 1));
                }
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> task.shardFrozen(null,
                        null));
                assertTrue(e.getMessage().contains("releaseTeacherHostCopy"), e.getMessage());
            }
            for (String name : kept.student().parameters().keySet()) {
                assertArrayEquals(kept.student().parameters().get(name).toFloatArray(),
                        freed.student().parameters().get(name).toFloatArray(), name);
            }
        }
    }

    /**
     * Guided distillation (G = 5, two clips batched): the device task's loss and every gradient against the CPU task's,
     * within the tolerances of {@link #lossAndEveryGradientMatchTheCpuTask}.
     */
    @ParameterizedTest
    @ValueSource(strings = {"opencl", "cuda"})
    void guidedDistillationMatchesTheCpuTask(String backend) {
        Pieces pieces = Pieces.of(TrainingObjective.DISTILL, 67);
        try (DeviceSession session = DeviceTestSessions.openWholeModel(backend);
             DeviceWanTrainingTask device = new DeviceWanTrainingTask(TrainingObjective.DISTILL, pieces.student(),
                     pieces.teacher(), pieces.text(), pieces.data(), 0.0, 3.0, 2, session, false, GemmPrecision.F32,
                     5.0)) {
            WanTrainingTask cpu = new WanTrainingTask(TrainingObjective.DISTILL, pieces.student(), pieces.teacher(),
                    pieces.text(), pieces.data(), 0.0, 3.0, 2, 5.0);
            MicroBatch batch = new MicroBatch(1, 0, 1, MicroBatch.derive(73, 1, 0));
            Map<String, Tensor> want = new LinkedHashMap<>();
            Map<String, Tensor> got = new LinkedHashMap<>();
            try {
                StepResult w = cpu.computeGradients(batch, want);
                StepResult g = device.computeGradients(batch, got);
                assertTrue(w.loss() > 0, "a nonzero loss");
                assertEquals(w.loss(), g.loss(), TOL * w.loss(), "loss");
                assertEquals(w.metrics().get("sparsity"), g.metrics().get("sparsity"), 1e-12, "sparsity");
                assertGradientsMatch(backend + " guided", want, got);
            } finally {
                want.values().forEach(Tensor::close);
                got.values().forEach(Tensor::close);
            }
        }
    }

    /**
     * FULL_SHARD (ZeRO-3) on the device, two ranks as threads, each with its own session: the student's blocks leave
     * the device (only the embeddings and head stay resident; a block is uploaded from its all-gather when it runs),
     * and the run reproduces the single-process trainer on one device: the first step's loss bit for bit (same
     * values, same kernels), the later ones and the parameters within the rounding of the rank-averaged gradients
     * (1e-5 relative on losses, 1e-4 x lr x steps on parameters, as ShardedTrainerTest). The host copies of both
     * models' blocks are freed too, so the trained blocks come from the trainer's gathers, and once the trainer is
     * closed the task refuses to run, saying where they went.
     */
    @ParameterizedTest
    @ValueSource(strings = {"opencl", "cuda"})
    void fullyShardedDeviceTrainingMatchesOneDevice(String backend) throws IOException {
        DeviceTestSessions.openWholeModel(backend).close();   // skips here, visibly, when the backend is absent
        TrainerConfig config = new TrainerConfig(3, 2, 93, 1.0, AdamWConfig.pytorchDefaults(0.01),
                LrSchedule.warmupCosine(2e-3, 1, 3, 2e-4), 0, 2, 10);
        List<TrainerStepLog> want;
        Map<String, float[]> wantParams = new LinkedHashMap<>();
        try (DeviceSession session = DeviceSession.open(backend)) {
            Pieces one = Pieces.of(TrainingObjective.DISTILL, 83);
            try (DeviceWanTrainingTask task = one.device(session, true)) {
                want = new Trainer(task, config, TrainerOutputs.none()).run();
            }
            one.student().parameters().forEach((k, v) -> wantParams.put(k, v.toFloatArray()));
        }
        List<Map<String, float[]>> ranks = io.sparge4j.engine.distributed.InProcessCommunicator.runRanks(2, comm -> {
            try (DeviceSession session = DeviceSession.open(backend)) {
                Pieces mine = Pieces.of(TrainingObjective.DISTILL, 83);
                try (DeviceWanTrainingTask task = mine.device(session, true)) {
                    List<TrainerStepLog> logs;
                    Map<String, float[]> got = new LinkedHashMap<>();
                    try (ShardedTrainer t = new ShardedTrainer(task, config, TrainerOutputs.none(), comm,
                            ShardedTrainer.Strategy.FULL_SHARD)) {
                        assertTrue(task.student().store().parameters().keySet().stream()
                                .noneMatch(n -> n.startsWith("blocks.")), "no student block resident on the device");
                        assertTrue(task.teacher().store().parameters().keySet().stream()
                                .noneMatch(n -> n.startsWith("blocks.")), "no teacher block resident either");
                        assertTrue(t.blocksReleased());
                        assertThrows(IllegalStateException.class,
                                mine.student().parameters().get("blocks.0.ffn.0.weight")::toFloatArray,
                                "the host copy of a block is freed");
                        logs = t.run();
                        Map<String, Tensor> blocks = t.gatherBlocks(true);
                        mine.student().parameters().forEach((k, v) -> got.put(k,
                                blocks.getOrDefault(k, v).toFloatArray()));
                        blocks.values().forEach(Tensor::close);
                    }
                    IllegalStateException closed = assertThrows(IllegalStateException.class,
                            () -> task.computeGradients(new MicroBatch(9, 0, 1, 3), new LinkedHashMap<>()));
                    assertTrue(closed.getMessage().contains("released to a fully sharded trainer"),
                            closed.getMessage());
                    assertEquals(want.get(0).loss(), logs.get(0).loss(), 0.0, "rank " + comm.rank() + " step 1");
                    for (int i = 1; i < want.size(); i++) {
                        assertEquals(want.get(i).loss(), logs.get(i).loss(), 1e-5 * want.get(i).loss(),
                                "rank " + comm.rank() + " step " + (i + 1));
                    }
                    return got;
                }
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        double atol = 1e-4 * 2e-3 * config.steps();
        for (Map<String, float[]> got : ranks) {
            wantParams.forEach((name, w) -> {
                float[] g = got.get(name);
                for (int i = 0; i < w.length; i++) {
                    assertTrue(Math.abs(w[i] - g[i]) <= atol + 1e-5 * Math.abs(w[i]), name + "[" + i + "]: one"
                            + " device " + w[i] + ", FULL_SHARD " + g[i]);
                }
            });
        }
    }

    @Test
    void refusesAModelTheDeviceKernelsCannotRun() {
        WanConfig narrow = WanConfig.tiny(64, 2, 1, 3, true);   // head dim 32
        WanGraph student = new WanGraph(narrow, WanInit.pretraining(narrow, 1), WanAttention.dense(), false);
        try (DeviceSession session = DeviceSession.open("emulator")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new DeviceWanTrainingTask(
                    TrainingObjective.PRETRAIN, student, null, encoder(1), new ClipGenerator(1, SPEC), 0.1, 1.0,
                    session, false, GemmPrecision.F32));
            assertTrue(e.getMessage().contains("head dim"), e.getMessage());
            WanGraph blocks = new WanGraph(CONFIG, TaskFixtures.parameters(CONFIG, 1),
                    WanAttention.dense().withMode(MaskMode.HYBRID).withBlocks(64, 32), false);
            e = assertThrows(IllegalArgumentException.class, () -> new DeviceWanTrainingTask(TrainingObjective.FLOW,
                    blocks, null, encoder(1), new ClipGenerator(1, SPEC), 0.1, 1.0, session, false,
                    GemmPrecision.F32));
            assertTrue(e.getMessage().contains("64 x 32"), e.getMessage());
        }
    }

    /**
     * Every gradient of the device task against the CPU task's: max |device - cpu| within {@link #TOL} of the CPU
     * tensor's largest entry; a tensor below {@link #ZERO} of the largest gradient is analytically zero (an attention
     * key bias: softmax ignores a constant added to every logit), and both sides must hold only rounding noise there.
     *
     * @return the worst max |diff| / max |cpu| over the tensors that are not zero
     */
    private static double assertGradientsMatch(String what, Map<String, Tensor> want, Map<String, Tensor> got) {
        assertEquals(want.keySet(), got.keySet());
        double global = 0;
        for (Tensor t : want.values()) {
            global = Math.max(global, maxAbs(t.toFloatArray()));
        }
        double worst = 0;
        String worstName = "";
        for (String name : want.keySet()) {
            float[] e = want.get(name).toFloatArray();
            float[] a = got.get(name).toFloatArray();
            double scale = maxAbs(e);
            double diff = 0;
            for (int i = 0; i < e.length; i++) {
                diff = Math.max(diff, Math.abs(e[i] - a[i]));
            }
            if (scale < ZERO * global) {
                assertTrue(maxAbs(a) < ZERO * global, what + ": " + name + " should be zero: device max " + maxAbs(a)
                        + ", largest gradient " + global);
                continue;
            }
            if (diff / scale > worst) {
                worst = diff / scale;
                worstName = name;
            }
        }
        assertTrue(worst <= TOL, what + ": " + worstName + " max |diff| / max |cpu| " + worst + ", expected at most "
                + TOL);
        return worst;
    }

    private static double maxAbs(float[] v) {
        double m = 0;
        for (float x : v) {
            m = Math.max(m, Math.abs(x));
        }
        return m;
    }

}
