package io.sparge4j.models.train;

import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.sparge4j.models.train.TrainerTest.assertSameTensors;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Checkpoints: a round trip restores parameters and optimizer state bit for bit and the JSON state field for field;
 * a write that fails half-way leaves the previous checkpoint and pointer intact and no temporary files; old
 * checkpoints are pruned; a checkpoint of another model is refused with the tensor's name.
 */
class TrainingCheckpointTest {

    private static TrainerConfig config(long steps) {
        return new TrainerConfig(steps, 1, 3, 0.5, AdamWConfig.pytorchDefaults(0.02),
                LrSchedule.warmupCosine(1e-2, 1, steps, 0), 0, 2, 3);
    }

    @Test
    void roundTripIsBitIdentical(@TempDir Path dir) throws IOException {
        ToyMlpTask task = new ToyMlpTask(4);
        Trainer t = new Trainer(task, config(5), new TrainerOutputs(dir, null, false));
        t.run();
        TrainingCheckpoint c = TrainingCheckpoint.open(dir);
        assertEquals(dir.resolve("step-000005"), c.directory());
        TrainingCheckpointState s = c.state();
        assertEquals(5, s.step());
        assertEquals(5, s.dataCursor());
        assertEquals(3, s.seed());
        assertEquals(config(5), s.config());
        assertEquals(t.history().subList(2, 5), s.history(), "the last historyTail=3 logs, doubles exact");
        assertEquals("toy-mlp", s.task().get("model"));

        ToyMlpTask other = new ToyMlpTask(99);
        AdamW opt = new AdamW(config(5).optimizer(), other.parameters());
        c.restore(other.parameters(), opt);
        assertSameTensors(task.parameters(), other.parameters());
        assertSameTensors(t.optimizer().state(), opt.state());
        assertEquals(5, opt.steps());
        assertEquals(c.state(), TrainingCheckpoint.open(dir.resolve("step-000005")).state(), "a step dir opens too");
    }

    @Test
    void failedWriteLeavesThePreviousCheckpointIntact(@TempDir Path dir) throws IOException {
        ToyMlpTask task = new ToyMlpTask(4);
        Trainer t = new Trainer(task, config(6), new TrainerOutputs(dir, null, false));
        t.runUntil(3);
        Map<String, Tensor> atThree = copy(task.parameters());
        task.unwritableDescription = true;   // the JSON, written after both safetensors files, fails
        assertThrows(IOException.class, () -> t.runUntil(6));
        try (var entries = Files.list(dir)) {
            assertEquals(List.of("latest", "step-000003"), entries.map(p -> p.getFileName().toString()).sorted()
                    .toList(), "no step-000006 and no temporaries");
        }
        ToyMlpTask other = new ToyMlpTask(8);
        AdamW opt = new AdamW(config(6).optimizer(), other.parameters());
        TrainingCheckpoint.open(dir).restore(other.parameters(), opt);
        assertSameTensors(atThree, other.parameters());
        assertEquals(3, opt.steps());
    }

    @Test
    void keepsTheLastKAndReplacesAStaleDirectoryOfTheSameStep(@TempDir Path dir) throws IOException {
        TrainerConfig every = config(8).withCheckpoints(2, 2);
        new Trainer(new ToyMlpTask(4), every, new TrainerOutputs(dir, null, false)).run();
        try (var entries = Files.list(dir)) {
            assertEquals(List.of("latest", "step-000006", "step-000008"), entries.map(p -> p.getFileName().toString())
                    .sorted().toList());
        }
        // resuming from step 6 and saving step 8 again replaces the old step-000008
        ToyMlpTask again = new ToyMlpTask(1);
        Trainer.resume(dir.resolve("step-000006"), again, new TrainerOutputs(dir, null, false)).run();
        assertEquals(dir.resolve("step-000008"), TrainingCheckpoint.latest(dir).orElseThrow());
        assertEquals(8, TrainingCheckpoint.open(dir).state().step());
    }

    @Test
    void mismatchesAreRefusedWithTheTensorsName(@TempDir Path dir) throws IOException {
        ToyMlpTask task = new ToyMlpTask(4);
        new Trainer(task, config(1), new TrainerOutputs(dir, null, false)).run();
        TrainingCheckpoint c = TrainingCheckpoint.open(dir);

        Map<String, Tensor> wrongShape = copy(task.parameters());
        wrongShape.put("fc2.bias", Tensor.zeros(5));
        Map<String, Tensor> before = copy(wrongShape);
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                () -> c.restore(wrongShape, new AdamW(config(1).optimizer(), wrongShape)));
        assertTrue(shape.getMessage().contains("'fc2.bias' is f32 [4], expected f32 [5]"), shape.getMessage());
        assertSameTensors(before, wrongShape);   // nothing was changed

        Map<String, Tensor> renamed = copy(task.parameters());
        renamed.put("fc3.weight", renamed.remove("fc2.weight"));
        IllegalArgumentException names = assertThrows(IllegalArgumentException.class,
                () -> c.restore(renamed, new AdamW(config(1).optimizer(), renamed)));
        assertTrue(names.getMessage().contains("missing [fc3.weight], unexpected [fc2.weight]"), names.getMessage());

        IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
                () -> TrainingCheckpoint.open(dir.resolve("nowhere")));
        assertTrue(none.getMessage().contains("has no state.json"), none.getMessage());
    }

    private static Map<String, Tensor> copy(Map<String, Tensor> m) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        m.forEach((k, v) -> out.put(k, v.copy()));
        return out;
    }
}
