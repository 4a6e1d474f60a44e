package io.sparge4j.models.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The training loop on {@link ToyMlpTask}: the loss falls; a run stopped half-way and resumed from disk in a fresh
 * trainer (with a task initialised differently, so the values must come from the checkpoint) gives the same loss
 * curve, gradient norms and final parameters bit for bit as an uninterrupted run; so does a run killed by an
 * exception, losing only the steps after its last checkpoint; and the JSON-lines log reads as one run.
 */
class TrainerTest {
    private static final int STEPS = 12;

    private static TrainerConfig config() {
        return new TrainerConfig(STEPS, 2, 1234, 1.0, AdamWConfig.pytorchDefaults(0.01),
                LrSchedule.warmupCosine(2e-2, 3, STEPS, 1e-3), 3, 2, 50);
    }

    @Test
    void lossDecreasesOnAToyProblem() throws IOException {
        TrainerConfig c = TrainerConfig.of(150, 7, 1.0, AdamWConfig.pytorchDefaults(0.01),
                LrSchedule.warmupCosine(1e-2, 10, 150, 1e-4));
        List<TrainerStepLog> logs = new Trainer(new ToyMlpTask(1), c, TrainerOutputs.none()).run();
        assertEquals(150, logs.size());
        double first = mean(logs.subList(0, 10));
        double last = mean(logs.subList(140, 150));
        assertTrue(last < 0.3 * first, "loss should fall by 70%: first 10 steps " + first + ", last 10 " + last);
        assertEquals(1, logs.get(0).step());
        assertEquals(1e-3, logs.get(0).lr(), 1e-18);
        assertTrue(logs.get(0).metrics().containsKey("mean_activation"));
    }

    private static double mean(List<TrainerStepLog> logs) {
        return logs.stream().mapToDouble(TrainerStepLog::loss).average().orElseThrow();
    }

    @Test
    void resumedRunMatchesAnUninterruptedOneBitForBit(@TempDir Path dir) throws IOException {
        ToyMlpTask whole = new ToyMlpTask(5);
        Trainer uninterrupted = new Trainer(whole, config(), TrainerOutputs.none());
        List<TrainerStepLog> want = uninterrupted.run();

        Path ckpt = dir.resolve("ckpt");
        Path log = dir.resolve("log.jsonl");
        List<TrainerStepLog> got = new ArrayList<>(new Trainer(new ToyMlpTask(5), config(),
                new TrainerOutputs(ckpt, log, false)).runUntil(STEPS / 2));
        assertEquals(ckpt.resolve("step-000006"), TrainingCheckpoint.latest(ckpt).orElseThrow());
        ToyMlpTask fresh = new ToyMlpTask(77);   // other initial values: everything must come from disk
        Trainer resumed = Trainer.resume(ckpt, fresh, new TrainerOutputs(ckpt, log, true));
        assertEquals(STEPS / 2, resumed.step());
        got.addAll(resumed.run());

        assertSameCurve(want, got);
        assertSameTensors(whole.parameters(), fresh.parameters());
        assertSameTensors(uninterrupted.optimizer().state(), resumed.optimizer().state());
        assertEquals(STEPS, resumed.optimizer().steps());
        assertLogIsOneRun(log, want);
        assertEquals(want.subList(STEPS - 2, STEPS).stream().map(TrainerStepLog::loss).toList(),
                resumed.history().subList(resumed.history().size() - 2, resumed.history().size()).stream()
                        .map(TrainerStepLog::loss).toList());
    }

    /**
     * A 6-step run (constant rate after a 3-step warm-up), finished and checkpointed, then resumed with 12 steps:
     * bit for bit the run that was started with 12. A cosine tied to the run's end is stretched to the new end.
     */
    @Test
    void resumeCanExtendARunPastItsPlannedEnd(@TempDir Path dir) throws IOException {
        TrainerConfig twelve = new TrainerConfig(12, 2, 99, 1.0, AdamWConfig.pytorchDefaults(0.01),
                LrSchedule.constant(1e-2, 3), 0, 2, 50);
        ToyMlpTask whole = new ToyMlpTask(9);
        List<TrainerStepLog> want = new Trainer(whole, twelve, TrainerOutputs.none()).run();

        Path ckpt = dir.resolve("ckpt");
        TrainerConfig six = new TrainerConfig(6, 2, 99, 1.0, AdamWConfig.pytorchDefaults(0.01),
                LrSchedule.constant(1e-2, 3), 0, 2, 50);
        List<TrainerStepLog> got = new ArrayList<>(new Trainer(new ToyMlpTask(9), six,
                new TrainerOutputs(ckpt, null, false)).run());
        ToyMlpTask fresh = new ToyMlpTask(31);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Trainer.resume(ckpt, fresh, TrainerOutputs.none(), 5));
        assertTrue(e.getMessage().contains("steps is 5") && e.getMessage().contains("6 steps"), e.getMessage());
        Trainer extended = Trainer.resume(ckpt, fresh, TrainerOutputs.none(), 12);
        assertEquals(12, extended.config().steps());
        got.addAll(extended.run());
        assertSameCurve(want, got);
        assertSameTensors(whole.parameters(), fresh.parameters());

        LrSchedule cosine = LrSchedule.warmupCosine(1e-2, 2, 6, 1e-3);
        TrainerConfig c = TrainerConfig.of(6, 1, 1.0, AdamWConfig.pytorchDefaults(0.01), cosine).withSteps(20);
        assertEquals(20, c.schedule().totalSteps(), "the cosine ends with the run");
        assertEquals(1e-3, c.schedule().lr(19), 1e-15);
        LrSchedule own = LrSchedule.warmupCosine(1e-2, 2, 8, 1e-3);   // not tied to the run's 6 steps
        assertEquals(own, TrainerConfig.of(6, 1, 1.0, AdamWConfig.pytorchDefaults(0.01), own).withSteps(20)
                .schedule());
    }

    @Test
    void killedRunLosesAtMostOneCheckpointInterval(@TempDir Path dir) throws IOException {
        ToyMlpTask whole = new ToyMlpTask(5);
        List<TrainerStepLog> want = new Trainer(whole, config(), TrainerOutputs.none()).run();

        Path ckpt = dir.resolve("ckpt");
        Path log = dir.resolve("log.jsonl");
        ToyMlpTask doomed = new ToyMlpTask(5);
        doomed.failAtStep = 7;   // the 8th step dies in its second micro-batch; checkpoints are every 3 steps
        doomed.failAtMicro = 1;
        Trainer t = new Trainer(doomed, config(), new TrainerOutputs(ckpt, log, false));
        IllegalStateException kill = assertThrows(IllegalStateException.class, t::run);
        assertTrue(kill.getMessage().contains("simulated kill"));
        assertEquals(ckpt.resolve("step-000006"), TrainingCheckpoint.latest(ckpt).orElseThrow());
        assertEquals(7, Files.readAllLines(log).size(), "step 7 was logged before the kill");
        try (var entries = Files.list(ckpt)) {
            assertEquals(List.of("latest", "step-000003", "step-000006"),
                    entries.map(p -> p.getFileName().toString()).sorted().toList(), "keepLast 2, no temporaries");
        }

        ToyMlpTask fresh = new ToyMlpTask(31);
        Trainer resumed = Trainer.resume(ckpt, fresh, new TrainerOutputs(ckpt, log, false));
        assertEquals(6, resumed.step(), "lost steps 7 and 8 only: less than one interval");
        List<TrainerStepLog> tail = resumed.run();
        assertEquals(6, tail.size());
        assertSameCurve(want.subList(6, STEPS), tail);
        assertSameTensors(whole.parameters(), fresh.parameters());
        assertLogIsOneRun(log, want);
    }

    @Test
    void aNonFiniteLossStopsTheRunBeforeTheUpdate() {
        ToyMlpTask task = new ToyMlpTask(3) {
            @Override
            public StepResult computeGradients(MicroBatch batch, Map<String, Tensor> gradients) {
                StepResult r = super.computeGradients(batch, gradients);
                return batch.step() == 2 ? StepResult.of(Double.NaN, r.tokens()) : r;
            }
        };
        Trainer t = new Trainer(task, config(), TrainerOutputs.none());
        Map<String, Tensor> snapshot = new java.util.LinkedHashMap<>();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> {
            t.runUntil(2);
            task.parameters().forEach((k, v) -> snapshot.put(k, v.copy()));
            t.run();
        });
        assertTrue(e.getMessage().contains("step 3 has loss NaN"), e.getMessage());
        assertEquals(2, t.step());
        assertEquals(2, t.optimizer().steps());
        assertSameTensors(snapshot, task.parameters());
    }

    @Test
    void microBatchesAreAveraged() throws IOException {
        // one step with lr 0 leaves parameters alone; its loss is the mean of the micro-batch losses
        TrainerConfig one = new TrainerConfig(1, 3, 9, 0, AdamWConfig.pytorchDefaults(0), LrSchedule.constant(0),
                0, 1, 1);
        ToyMlpTask task = new ToyMlpTask(2);
        TrainerStepLog log = new Trainer(task, one, TrainerOutputs.none()).run().get(0);
        double sum = 0;
        Map<String, Tensor> g = new java.util.LinkedHashMap<>();
        task.parameters().forEach((k, v) -> g.put(k, Tensor.zeros(v.shape())));
        for (int m = 0; m < 3; m++) {
            sum += task.computeGradients(new MicroBatch(0, m, 3, MicroBatch.derive(9, 0, m)), g).loss();
        }
        assertEquals(sum / 3, log.loss(), 1e-15);
        GradNormClip.scale(g, (float) (1.0 / 3));
        assertEquals(GradNormClip.norm(g), log.gradNorm(), 1e-12 * log.gradNorm());
    }

    private static void assertSameCurve(List<TrainerStepLog> want, List<TrainerStepLog> got) {
        assertEquals(want.size(), got.size());
        for (int i = 0; i < want.size(); i++) {
            TrainerStepLog w = want.get(i);
            TrainerStepLog g = got.get(i);
            assertEquals(w.step(), g.step());
            assertEquals(Double.doubleToRawLongBits(w.loss()), Double.doubleToRawLongBits(g.loss()),
                    "loss of step " + w.step() + ": " + w.loss() + " vs " + g.loss());
            assertEquals(Double.doubleToRawLongBits(w.gradNorm()), Double.doubleToRawLongBits(g.gradNorm()),
                    "grad norm of step " + w.step());
            assertEquals(w.lr(), g.lr(), 0.0);
            assertEquals(w.metrics(), g.metrics());
        }
    }

    static void assertSameTensors(Map<String, Tensor> want, Map<String, Tensor> got) {
        assertEquals(want.keySet(), got.keySet());
        for (String name : want.keySet()) {
            assertArrayEquals(want.get(name).toFloatArray(), got.get(name).toFloatArray(), name);
        }
    }

    private static void assertLogIsOneRun(Path log, List<TrainerStepLog> want) throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<String> lines = Files.readAllLines(log);
        assertEquals(want.size(), lines.size());
        for (int i = 0; i < lines.size(); i++) {
            JsonNode n = json.readTree(lines.get(i));
            assertEquals(i + 1, n.get("step").asLong());
            assertEquals(want.get(i).loss(), n.get("loss").asDouble(), 0.0);
            for (String field : List.of("lr", "grad_norm", "step_time_s", "tokens_per_s", "metrics")) {
                assertTrue(n.has(field), "log line " + (i + 1) + " lacks " + field + ": " + lines.get(i));
            }
        }
    }
}
