package io.sparge4j.models.train;

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

import java.io.IOException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The DiT + text encoder training task on procedural clips: its gradients (through the text features into the
 * encoder) against finite differences of its own loss, determinism, distillation's fixed point, and a short run
 * whose loss falls.
 */
class WanTrainingTaskTest {
    /** Pixel space, dim 32, 2 heads of 16, 2 layers; text rows 8 of width 16. */
    private static final WanConfig CONFIG = new WanConfig(32, 64, 2, 2, 3, 3, 16, 8, 32, List.of(1, 2, 2), 1e-6,
            true, true, true, List.of(1, 1, 1));
    /** 8 frames of 24 x 24: 8 x 12 x 12 = 1152 tokens. */
    private static final ClipSpec SPEC = ClipSpec.of(8, 24, 24);
    private static final WanAttention HYBRID = WanAttention.defaults().withMode(MaskMode.HYBRID).withBlocks(64, 32)
            .withTopk(0.1).withTopp(0.5);

    private static TextEncoder encoder(long seed) {
        WordTokenizer tokenizer = new WordTokenizer(Captions.vocabulary());
        return TextEncoder.initialize(new TextEncoderConfig(tokenizer.vocabSize(), 16, 1, 2, 32, 8, 16), tokenizer,
                seed);
    }

    private static WanTrainingTask task(TrainingObjective objective, WanAttention attention, long seed) {
        return task(objective, attention, seed, 1);
    }

    private static WanTrainingTask task(TrainingObjective objective, WanAttention attention, long seed, int batch) {
        WanGraph student = new WanGraph(CONFIG, TaskFixtures.parameters(CONFIG, seed), attention, false);
        WanGraph teacher = objective == TrainingObjective.DISTILL
                ? new WanGraph(CONFIG, TaskFixtures.copy(student.parameters()), WanAttention.dense(), false) : null;
        return new WanTrainingTask(objective, student, teacher, encoder(seed + 2), new ClipGenerator(seed + 3, SPEC),
                0.1, 3.0, batch);
    }

    /**
     * A micro-batch of three clips is the mean of three one-clip micro-batches drawn from its sample seeds: the loss,
     * and every gradient (the text encoder's included) within 1e-5 of the largest (f32 sums in another order; the
     * reference mean is float64).
     */
    @Test
    void aBatchOfClipsIsTheMeanOfItsClips() {
        int clips = 3;
        WanTrainingTask batched = task(TrainingObjective.PRETRAIN, WanAttention.dense(), 31, clips);
        WanTrainingTask single = task(TrainingObjective.PRETRAIN, WanAttention.dense(), 31, 1);
        MicroBatch batch = new MicroBatch(2, 0, 1, MicroBatch.derive(4, 2, 0));
        Map<String, Tensor> got = new HashMap<>();
        StepResult r = batched.computeGradients(batch, got);
        Map<String, double[]> want = new HashMap<>();
        double loss = 0;
        Set<Long> seeds = new HashSet<>();
        for (int i = 0; i < clips; i++) {
            assertTrue(seeds.add(batch.sampleSeed(i)), "distinct sample seeds");
            Map<String, Tensor> g = new HashMap<>();
            StepResult one = single.computeGradients(new MicroBatch(2, 0, 1, batch.sampleSeed(i)), g);
            loss += one.loss() / clips;
            g.forEach((k, v) -> {
                double[] acc = want.computeIfAbsent(k, x -> new double[(int) v.numel()]);
                float[] vs = v.toFloatArray();
                for (int j = 0; j < vs.length; j++) {
                    acc[j] += vs[j] / (double) clips;
                }
                v.close();
            });
        }
        assertEquals(batch.seed(), batch.sampleSeed(0), "a batch of one draws what it always drew");
        assertEquals(loss, r.loss(), 1e-6 * loss);
        assertEquals(clips * 8L * 12 * 12, r.tokens());
        assertEquals(want.keySet(), got.keySet());
        assertTrue(got.keySet().stream().anyMatch(k -> k.startsWith("text_encoder.")), "the encoder is trained");
        // per tensor against its largest value, or against the largest of all for a tensor that is analytically
        // zero and holds rounding noise (the text encoder's attention key biases: softmax ignores a shared shift)
        double global = want.values().stream().flatMapToDouble(Arrays::stream).map(Math::abs).max().orElse(0);
        want.forEach((k, w) -> {
            float[] g = got.get(k).toFloatArray();
            double scale = Math.max(Arrays.stream(w).map(Math::abs).max().orElse(0), 1e-6 * global);
            for (int j = 0; j < w.length; j++) {
                assertEquals(w[j], g[j], 1e-5 * scale, k + "[" + j + "]");
            }
        });
        got.values().forEach(Tensor::close);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> task(TrainingObjective.FLOW, WanAttention.dense(), 1, 0));
        assertTrue(e.getMessage().contains("batchSize is 0"), e.getMessage());
    }

    @Test
    void pretrainGradientsMatchFiniteDifferencesThroughTheTextEncoder() {
        WanTrainingTask task = task(TrainingObjective.PRETRAIN, WanAttention.dense(), 11);
        MicroBatch batch = firstBatchWithCaption(task);
        Map<String, Tensor> grads = new HashMap<>();
        task.computeGradients(batch, grads);
        // A DiT weight, the text encoder's token embedding (reached only through the context gradient) and its head.
        assertDirectionalDerivatives(task, batch, grads, List.of("blocks.1.cross_attn.v.weight",
                "text_encoder.token_embedding.weight", "text_encoder.head.weight", "blocks.0.self_attn.q.weight"));
    }

    /**
     * For each named parameter, the gradient's derivative along a random direction against central differences of the
     * task's loss; f32 forward, float64 loss: they agree to ~1% at this step size.
     */
    private static void assertDirectionalDerivatives(WanTrainingTask task, MicroBatch batch, Map<String, Tensor> grads,
            List<String> names) {
        for (String name : names) {
            Tensor p = task.parameters().get(name);
            Tensor g = grads.get(name);
            SplittableRandom r = new SplittableRandom(name.hashCode());
            float[] dir = new float[(int) p.numel()];
            double analytic = 0;
            for (int i = 0; i < dir.length; i++) {
                dir[i] = (float) r.nextGaussian();
                analytic += dir[i] * (double) g.getFloat(i);
            }
            double h = 2e-3 / Math.sqrt(dir.length);
            double numeric = (lossAlong(task, batch, p, dir, h) - lossAlong(task, batch, p, dir, -h)) / (2 * h);
            assertEquals(analytic, numeric, 0.02 * Math.abs(analytic) + 1e-6,
                    name + ": directional derivative, analytic " + analytic + " vs numeric " + numeric);
        }
    }

    private static MicroBatch firstBatchWithCaption(WanTrainingTask task) {
        for (int s = 0; ; s++) {
            MicroBatch b = new MicroBatch(s, 0, 1, MicroBatch.derive(5, s, 0));
            try (TrainingSample sample = TrainingSample.draw(new ClipGenerator(14, SPEC), b.seed(), 0.1, 3.0)) {
                if (!sample.prompt().isEmpty() && sample.level() > 0.2) {
                    return b;
                }
            }
        }
    }

    private static double lossAlong(WanTrainingTask task, MicroBatch batch, Tensor p, float[] dir, double h) {
        float[] saved = new float[dir.length];
        for (int i = 0; i < dir.length; i++) {
            saved[i] = p.getFloat(i);
            p.setFloat(i, (float) (saved[i] + h * dir[i]));
        }
        try {
            Map<String, Tensor> scratch = new HashMap<>();
            double loss = task.computeGradients(batch, scratch).loss();
            scratch.values().forEach(Tensor::close);
            return loss;
        } finally {
            for (int i = 0; i < dir.length; i++) {
                p.setFloat(i, saved[i]);
            }
        }
    }

    @Test
    void sameBatchSameLossAndGradients() {
        WanTrainingTask a = task(TrainingObjective.FLOW, HYBRID, 21);
        WanTrainingTask b = task(TrainingObjective.FLOW, HYBRID, 21);
        MicroBatch batch = new MicroBatch(3, 1, 2, MicroBatch.derive(9, 3, 1));
        Map<String, Tensor> ga = new HashMap<>();
        Map<String, Tensor> gb = new HashMap<>();
        StepResult ra = a.computeGradients(batch, ga);
        StepResult rb = b.computeGradients(batch, gb);
        assertEquals(ra.loss(), rb.loss());
        assertEquals(ga.keySet(), gb.keySet());
        ga.forEach((k, v) -> assertArrayEquals(v.toFloatArray(), gb.get(k).toFloatArray(), k));
        assertTrue(ra.metrics().get("sparsity") > 0.2, () -> "hybrid student sparsity " + ra.metrics());
        assertEquals(8L * 12 * 12, ra.tokens());
        assertTrue(ga.keySet().stream().noneMatch(k -> k.startsWith("text_encoder.")),
                "fine-tuning leaves the text encoder frozen");
    }

    @Test
    void distillationOfADenseStudentFromItsOwnCopyIsExactlyZero() {
        WanTrainingTask dense = task(TrainingObjective.DISTILL, WanAttention.dense(), 31);
        Map<String, Tensor> g = new HashMap<>();
        StepResult r = dense.computeGradients(new MicroBatch(0, 0, 1, 77), g);
        assertEquals(0.0, r.loss());
        g.forEach((k, v) -> assertEquals(0f, maxAbs(v), k));

        WanTrainingTask sparse = task(TrainingObjective.DISTILL, HYBRID, 31);
        Map<String, Tensor> gs = new HashMap<>();
        StepResult rs = sparse.computeGradients(new MicroBatch(0, 0, 1, 77), gs);
        assertTrue(rs.loss() > 0, "a sparse student differs from its dense teacher");
        assertTrue(maxAbs(gs.get("blocks.0.self_attn.q.weight")) > 0);
    }

    // ---------------------------------------------------------------- guided distillation

    /** The pieces of a guided-distillation case: a hybrid student and a dense teacher with other values. */
    private record Guided(WanGraph student, WanGraph teacher, TextEncoder text, ClipGenerator data) {
        static Guided of(long seed) {
            return of(seed, HYBRID);
        }

        static Guided of(long seed, WanAttention attention) {
            return new Guided(new WanGraph(CONFIG, TaskFixtures.parameters(CONFIG, seed), attention, false),
                    new WanGraph(CONFIG, TaskFixtures.parameters(CONFIG, seed + 100), WanAttention.dense(), false),
                    encoder(seed + 2), new ClipGenerator(seed + 3, SPEC));
        }

        WanTrainingTask task(double guidance) {
            return new WanTrainingTask(TrainingObjective.DISTILL, student, teacher, text, data, 0.0, 3.0, 1,
                    guidance);
        }
    }

    /**
     * The loss of guided distillation is the float64 mean squared difference of the guided velocities
     * {@code (1 - G) v(empty) + G v(caption)} of the student and the teacher, each velocity computed here by the graphs'
     * own predict (the same ops as the task's forward), at G = 5; tolerance 1e-5 relative (the task combines in f32).
     */
    @Test
    void guidedDistillationLossIsTheGuidedVelocitiesMeanSquaredDifference() {
        Guided p = Guided.of(41);
        WanTrainingTask task = p.task(5.0);
        MicroBatch batch = firstBatchWithCaption(task);
        Map<String, Tensor> grads = new HashMap<>();
        double got = task.computeGradients(batch, grads).loss();
        grads.values().forEach(Tensor::close);
        try (TrainingSample sample = TrainingSample.draw(p.data(), batch.sampleSeed(0), 0.0, 3.0);
             TensorScope scope = new TensorScope()) {
            assertFalse(sample.prompt().isEmpty(), "a captioned clip: the two branches differ");
            NoisySample noisy = Losses.noisy(sample.clip().video(), sample.noise(), sample.level());
            scope.own(noisy.xt());
            Tensor cond = scope.own(p.text().encode(List.of(sample.prompt()))).reshape(CONFIG.textLen(),
                    CONFIG.textDim());
            Tensor uncond = scope.own(p.text().encode(List.of(""))).reshape(CONFIG.textLen(), CONFIG.textDim());
            double[] sc = scope.own(p.student().predict(noisy.xt(), noisy.timestep(), cond, 0)).toDoubleArray();
            double[] su = scope.own(p.student().predict(noisy.xt(), noisy.timestep(), uncond, 0)).toDoubleArray();
            double[] tc = scope.own(p.teacher().predict(noisy.xt(), noisy.timestep(), cond, 0)).toDoubleArray();
            double[] tu = scope.own(p.teacher().predict(noisy.xt(), noisy.timestep(), uncond, 0)).toDoubleArray();
            double sum = 0;
            double plain = 0;
            for (int i = 0; i < sc.length; i++) {
                double r = (1 - 5.0) * (su[i] - tu[i]) + 5.0 * (sc[i] - tc[i]);
                sum += r * r;
                plain += (sc[i] - tc[i]) * (sc[i] - tc[i]);
            }
            double want = sum / sc.length;
            assertEquals(want, got, 1e-5 * want, "guided loss");
            assertTrue(Math.abs(want - plain / sc.length) > 1e-4 * want, "the guided loss is not the conditional one: "
                    + want + " vs " + plain / sc.length);
        }
    }

    /** At guidance 1 the guided velocity is the conditional one: the paper's distillation, loss and gradients. */
    @Test
    void guidedDistillationAtGuidanceOneIsPlainDistillation() {
        Guided p = Guided.of(42);
        MicroBatch batch = new MicroBatch(0, 0, 1, MicroBatch.derive(9, 0, 0));
        Map<String, Tensor> plain = new HashMap<>();
        Map<String, Tensor> guided = new HashMap<>();
        double lp = p.task(0).computeGradients(batch, plain).loss();
        double lg = p.task(1.0).computeGradients(batch, guided).loss();
        assertEquals(lp, lg, 1e-12 * lp, "loss");
        assertEquals(plain.keySet(), guided.keySet());
        plain.forEach((name, g) -> assertArrayEquals(g.toFloatArray(), guided.get(name).toFloatArray(), 1e-7f * Math
                .max(1e-6f, maxAbs(g)), name));
    }

    /**
     * Guided distillation's gradients (through both student passes) against central differences of its loss, G = 5,
     * with a dense student (a sparse mask chosen from q and k would jump under the differences).
     */
    @Test
    void guidedDistillationGradientsMatchFiniteDifferences() {
        WanTrainingTask task = Guided.of(43, WanAttention.dense()).task(5.0);
        MicroBatch batch = firstBatchWithCaption(task);
        Map<String, Tensor> grads = new HashMap<>();
        task.computeGradients(batch, grads);
        assertDirectionalDerivatives(task, batch, grads, List.of("blocks.1.cross_attn.v.weight",
                "blocks.0.self_attn.q.weight", "head.head.weight"));
    }

    @Test
    void guidedDistillationIsRefusedOutsideDistillationAndBelowZero() {
        Guided p = Guided.of(44);
        IllegalArgumentException flow = assertThrows(IllegalArgumentException.class, () -> new WanTrainingTask(
                TrainingObjective.FLOW, p.student(), null, p.text(), p.data(), 0.1, 3.0, 1, 5.0));
        assertTrue(flow.getMessage().contains("distillGuidance is 5.0 for objective flow"), flow.getMessage());
        IllegalArgumentException negative = assertThrows(IllegalArgumentException.class, () -> p.task(-1));
        assertTrue(negative.getMessage().contains("distillGuidance is -1.0"), negative.getMessage());
    }

    private static float maxAbs(Tensor t) {
        float m = 0;
        for (float v : t.toFloatArray()) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    @Test
    void pretrainingLossFalls() throws IOException {
        WanGraph student = new WanGraph(CONFIG, WanInit.pretraining(CONFIG, 41), WanAttention.dense(), true);
        WanTrainingTask t = new WanTrainingTask(TrainingObjective.PRETRAIN, student, null, encoder(42),
                new ClipGenerator(43, SPEC), 0.1, 1.0);
        int steps = 30;
        TrainerConfig c = TrainerConfig.of(steps, 44, 1.0, AdamWConfig.pytorchDefaults(0.01),
                LrSchedule.warmupCosine(3e-3, 3, steps, 3e-4));
        List<TrainerStepLog> logs = new Trainer(t, c, TrainerOutputs.none()).run();
        double first = logs.subList(0, 5).stream().mapToDouble(TrainerStepLog::loss).average().orElseThrow();
        double last = logs.subList(steps - 5, steps).stream().mapToDouble(TrainerStepLog::loss).average().orElseThrow();
        assertTrue(last < 0.8 * first, "pretraining loss should fall by 20% in " + steps + " steps: " + first
                + " -> " + last);
    }

    @Test
    void refusesMismatchedPieces() {
        WanGraph student = new WanGraph(CONFIG, TaskFixtures.parameters(CONFIG, 1), WanAttention.dense(), false);
        ClipGenerator data = new ClipGenerator(1, SPEC);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new WanTrainingTask(
                TrainingObjective.DISTILL, student, null, encoder(1), data, 0.1, 1.0));
        assertTrue(e.getMessage().contains("teacher"), e.getMessage());
        WordTokenizer tok = new WordTokenizer(Captions.vocabulary());
        TextEncoder wide = TextEncoder.initialize(new TextEncoderConfig(tok.vocabSize(), 16, 1, 2, 32, 8, 24), tok, 1);
        e = assertThrows(IllegalArgumentException.class, () -> new WanTrainingTask(TrainingObjective.PRETRAIN,
                student, null, wide, data, 0.1, 1.0));
        assertTrue(e.getMessage().contains("text_dim 16"), e.getMessage());
        assertEquals("distill", TrainingObjective.parse("--objective", "DISTILL").word());
        e = assertThrows(IllegalArgumentException.class, () -> TrainingObjective.parse("--objective", "kd"));
        assertTrue(e.getMessage().contains("--objective: got 'kd'"), e.getMessage());
    }
}
