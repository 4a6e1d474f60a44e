package io.sparge4j.cli;

import io.sparge4j.engine.io.SafetensorsFile;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.pipeline.GenerationDefaults;
import io.sparge4j.models.pipeline.ModelDirectory;
import io.sparge4j.models.pipeline.TinyModelDirs;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.train.AdamW;
import io.sparge4j.models.train.AdamWConfig;
import io.sparge4j.models.train.LrSchedule;
import io.sparge4j.models.train.TrainerConfig;
import io.sparge4j.models.train.TrainingCheckpoint;
import io.sparge4j.models.train.TrainingCheckpointState;
import io.sparge4j.models.wan.WanWeights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code sparge export}: a training checkpoint (DiT + text encoder parameters, as pretraining saves them) becomes a
 * model directory whose weights equal the checkpoint's within f16 rounding (relative 2^-11 plus f16's smallest
 * subnormal) or exactly in f32; a fine-tuning checkpoint without text encoder parameters takes the run's encoder;
 * a model directory re-saves in bf16 with another generation.json, or with a late Top-k that generate then runs;
 * errors name the tensor or flag.
 */
class ExportCommandTest {
    @TempDir
    Path dir;

    /**
     * A run directory like 'sparge pretrain' leaves: run/model, and run/checkpoints at step 0 (an optimizer that has
     * not stepped) holding other weights.
     */
    private Map<String, Tensor> run(Path run, boolean withText) throws Exception {
        TinyModelDirs.write(run.resolve("model"), 1);
        Map<String, Tensor> params = new LinkedHashMap<>();
        WanWeights.randomInit(TinyModelDirs.CONFIG, 77).forEach((k, v) -> params.put(k, v));
        if (withText) {
            params.putAll(TinyModelDirs.encoder(78).parameters());
        }
        TrainerConfig config = TrainerConfig.of(100, 3, 1.0, AdamWConfig.pytorchDefaults(0.01),
                LrSchedule.constant(1e-3));
        TrainingCheckpoint.save(run.resolve("checkpoints"), params, new AdamW(config.optimizer(), params),
                new TrainingCheckpointState(TrainingCheckpointState.FORMAT, 0, 3, 0, config, List.of(), Map.of()),
                2);
        return params;
    }

    @Test
    void trainingCheckpointToF16ModelDirectory() throws Exception {
        Path run = dir.resolve("run");
        Map<String, Tensor> params = run(run, true);
        Path out = dir.resolve("exported");
        CliRun r = CliRun.of("export", "--checkpoint", run.resolve("checkpoints").toString(), "--out", out.toString(),
                "--dtype", "f16", "--attention", "topp", "--topp", "0.25");
        assertEquals(0, r.exit(), r.toString());
        try (SafetensorsFile f = SafetensorsFile.open(out.resolve(ModelDirectory.DIT_FILE))) {
            assertEquals(DType.F16, f.info("patch_embedding.weight").dtype());
        }
        try (ModelDirectory m = ModelDirectory.load(out, WanWeights.Precision.F32)) {
            Map<String, Tensor> back = new LinkedHashMap<>(m.weights());
            back.putAll(m.textEncoder().parameters());
            assertEquals(params.keySet(), back.keySet());
            for (String name : params.keySet()) {
                float[] a = params.get(name).toFloatArray();
                float[] b = back.get(name).toFloatArray();
                for (int i = 0; i < a.length; i++) {
                    assertTrue(Math.abs(a[i] - b[i]) <= 0x1p-11 * Math.abs(a[i]) + 0x1p-24,
                            name + "[" + i + "]: " + a[i] + " exported as " + b[i]);
                }
            }
            assertEquals(0, m.generation().stepsTrained(), "the checkpoint's step, not the run model's 42");
            assertEquals(4, m.generation().frames(), "the run's generation.json");
            assertEquals(io.sparge4j.engine.sparse.MaskMode.TOPP, m.generation().attention().mode(), "typed");
            assertEquals(0.25, m.generation().attention().topp(), "typed");
            assertEquals(64, m.generation().attention().queryBlock(), "the run's");
        }
        // A step directory, f32: exact.
        Path exact = dir.resolve("exact");
        CliRun s = CliRun.of("export", "--checkpoint", run.resolve("checkpoints/step-000000").toString(), "--out",
                exact.toString(), "--dtype", "f32");
        assertEquals(0, s.exit(), s.toString());
        try (ModelDirectory m = ModelDirectory.load(exact, WanWeights.Precision.AS_STORED)) {
            for (String name : m.weights().keySet()) {
                assertArrayEquals(params.get(name).toFloatArray(), m.weights().get(name).toFloatArray(), name);
            }
        }
        params.values().forEach(Tensor::close);
    }

    @Test
    void fineTuningCheckpointKeepsTheRunsEncoderAndModelDirsResave() throws Exception {
        Path run = dir.resolve("run");
        Map<String, Tensor> params = run(run, false);
        Path out = dir.resolve("exported");
        Path gen = dir.resolve("g.json");
        new GenerationDefaults(8, 24, 24, io.sparge4j.models.wan.WanAttention.defaults(), "distill", 0).write(gen);
        CliRun r = CliRun.of("export", "--checkpoint", run.resolve("checkpoints").toString(), "--out", out.toString(),
                "--dtype", "bf16", "--generation-json", gen.toString());
        assertEquals(0, r.exit(), r.toString());
        TextEncoder runEncoder = TinyModelDirs.encoder(2);   // what TinyModelDirs.write(.., 1) saved
        try (ModelDirectory m = ModelDirectory.load(out, WanWeights.Precision.F32)) {
            for (String name : runEncoder.parameters().keySet()) {
                float[] a = runEncoder.parameters().get(name).toFloatArray();
                float[] b = m.textEncoder().parameters().get(name).toFloatArray();
                for (int i = 0; i < a.length; i++) {
                    assertEquals(a[i], b[i], 0x1p-8 * Math.abs(a[i]), name);
                }
            }
            assertEquals("distill", m.generation().objective());
            assertEquals(8, m.generation().frames());
            assertEquals(0, m.generation().stepsTrained(), "the checkpoint's step, not the run model's 42");
        }
        Path again = dir.resolve("again");
        CliRun s = CliRun.of("export", "--checkpoint", out.toString(), "--out", again.toString(), "--dtype", "f32");
        assertEquals(0, s.exit(), s.toString());
        try (ModelDirectory a = ModelDirectory.load(out, WanWeights.Precision.F32);
             ModelDirectory b = ModelDirectory.load(again, WanWeights.Precision.AS_STORED)) {
            assertEquals(DType.F32, b.weights().get("head.head.weight").dtype());
            for (String name : a.weights().keySet()) {
                assertArrayEquals(a.weights().get(name).toFloatArray(), b.weights().get(name).toFloatArray(), name);
            }
            assertEquals(a.generation(), b.generation());
        }
        params.values().forEach(Tensor::close);
    }

    /**
     * {@code --late-topk} on export goes into generation.json, and generate runs it: the same video as the source
     * model with the flags typed, and {@code --late-topk 0} turns it off again (the source's video).
     */
    @Test
    void exportStoresALateTopkThatGenerateRuns() throws Exception {
        Path model = TinyModelDirs.write(dir.resolve("model"), 5);
        Path late = dir.resolve("late");
        CliRun e = CliRun.of("export", "--checkpoint", model.toString(), "--out", late.toString(), "--dtype", "f32",
                "--late-topk", "0.9", "--late-noise-level", "0.95");
        assertEquals(0, e.exit(), e.toString());
        try (ModelDirectory source = ModelDirectory.load(model, WanWeights.Precision.F32)) {
            assertEquals(source.generation().attention().withLateTopk(0.9, 0.95),
                    GenerationDefaults.read(late.resolve("generation.json")).attention(), "only the late Top-k added");
        }
        float[] typed = generate(model, "typed", "--late-topk", "0.9", "--late-noise-level", "0.95");
        float[] stored = generate(late, "stored");
        float[] off = generate(late, "off", "--late-topk", "0");
        float[] plain = generate(model, "plain");
        assertArrayEquals(typed, stored, "generation.json's late Top-k runs as the typed flags do");
        assertArrayEquals(plain, off, "--late-topk 0 turns the stored one off");
        assertFalse(java.util.Arrays.equals(plain, stored), "the late Top-k changes the video");
    }

    private float[] generate(Path model, String name, String... flags) throws Exception {
        Path out = dir.resolve(name + ".safetensors");
        List<String> args = new java.util.ArrayList<>(List.of("generate", "--model", model.toString(), "--prompt",
                "a red circle moving right", "--steps", "3", "--seed", "4", "--out", out.toString()));
        args.addAll(List.of(flags));
        CliRun r = CliRun.of(args.toArray(String[]::new));
        assertEquals(0, r.exit(), r.toString());
        try (SafetensorsFile f = SafetensorsFile.open(out); Tensor v = f.load("video")) {
            return v.toFloatArray();
        }
    }

    @Test
    void errorsNameTheTensorOrFlag() throws Exception {
        Path model = TinyModelDirs.write(dir.resolve("model"), 1);
        Map<String, Tensor> w = new LinkedHashMap<>();
        try (ModelDirectory m = ModelDirectory.load(model, WanWeights.Precision.F32)) {
            m.weights().forEach((k, v) -> w.put(k, v.copy()));
            w.get("blocks.0.self_attn.q.weight").setFloat(3, -1e6f);
            ModelDirectory.save(dir.resolve("big"), m.config(), w, m.textEncoder(), m.generation(), DType.F32);
        }
        Path out = dir.resolve("out");
        CliRun r = CliRun.of("export", "--checkpoint", dir.resolve("big").toString(), "--out", out.toString());
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("blocks.0.self_attn.q.weight") && r.err().contains("f16"), r.err());
        assertFalse(Files.exists(out));
        CliRun d = CliRun.of("export", "--checkpoint", model.toString(), "--out", out.toString(), "--dtype", "f8");
        assertEquals(1, d.exit());
        assertTrue(d.err().contains("--dtype") && d.err().contains("f8"), d.err());
        CliRun steps = CliRun.of("export", "--checkpoint", model.toString(), "--out", out.toString(), "--dense-steps",
                "2");
        assertEquals(1, steps.exit());
        assertTrue(steps.err().contains("--dense-steps") && steps.err().contains("generate or eval"), steps.err());
        assertFalse(Files.exists(out), "nothing written");
        Path lonely = dir.resolve("lonely");
        run(lonely, true);
        try (var files = Files.walk(lonely.resolve("model"))) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
        CliRun c = CliRun.of("export", "--checkpoint", lonely.resolve("checkpoints").toString(), "--out",
                out.toString());
        assertEquals(1, c.exit());
        assertTrue(c.err().contains("--config-from"), c.err());
        w.values().forEach(Tensor::close);
    }
}
