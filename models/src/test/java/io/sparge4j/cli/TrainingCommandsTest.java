package io.sparge4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sparge4j.engine.io.SafetensorsFile;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.data.ClipMotion;
import io.sparge4j.models.pipeline.ModelDirectory;
import io.sparge4j.models.pipeline.TinyModelDirs;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.text.TextEncoderConfig;
import io.sparge4j.models.text.TextEncoderParameters;
import io.sparge4j.models.train.AdamWConfig;
import io.sparge4j.models.train.DeviceTestSessions;
import io.sparge4j.models.train.NoiseLevels;
import io.sparge4j.models.wan.AbsolutePosition;
import io.sparge4j.models.wan.TextModulation;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanConfigReader;
import io.sparge4j.models.wan.WanWeights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code sparge pretrain} and {@code sparge finetune} on the CPU at a tiny size (pixel-space DiT of dim 64, one head,
 * one block; 8 frames of 24 x 24 = 1152 tokens; text encoder width 16): the files a run writes, an exact resume
 * that also extends the run, fine-tuning from the written model directory with a calibrated mask, and the errors
 * for bad flags.
 */
class TrainingCommandsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final String[] TINY = {"--frames", "8", "--height", "24", "--width", "24", "--dim", "64",
        "--layers", "1", "--heads", "1", "--ffn-dim", "64", "--text-width", "16", "--text-layers", "1",
        "--warmup", "1", "--lr", "1e-3", "--seed", "5", "--threads", "2"};

    @TempDir
    Path dir;

    static String[] pretrain(Path out, String... more) {
        List<String> a = new ArrayList<>(List.of("pretrain", "--out", out.toString()));
        a.addAll(List.of(TINY));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    @Test
    void pretrainWritesLogCheckpointAndModelDirectoryAndResumesExactly() throws Exception {
        Path run = dir.resolve("run");
        // --min-lr-ratio 1: constant after warm-up, so that extending the run changes no rate already used
        CliRun r = CliRun.of(pretrain(run, "--steps", "2", "--checkpoint-every", "1", "--min-lr-ratio", "1"));
        assertEquals(0, r.exit(), r::toString);
        List<JsonNode> log = log(run);
        assertEquals(2, log.size(), r::toString);
        for (JsonNode line : log) {
            for (String field : List.of("step", "loss", "lr", "grad_norm", "step_time_s", "tokens_per_s")) {
                assertTrue(line.has(field), field + " in " + line);
            }
            assertEquals(0.0, line.get("metrics").get("sparsity").asDouble(), "dense attention");
            assertTrue(line.get("loss").asDouble() > 0 && line.get("tokens_per_s").asDouble() > 0, line.toString());
        }
        assertTrue(Files.isDirectory(run.resolve("checkpoints/step-000002")), "the last checkpoint");
        assertTrue(Files.isRegularFile(run.resolve("run.json")));
        Path model = run.resolve("model");
        for (String f : List.of("config.json", "diffusion_pytorch_model.safetensors", "text_encoder.safetensors",
                "text_encoder.json", "vocabulary.json", "generation.json")) {
            assertTrue(Files.isRegularFile(model.resolve(f)), f);
        }
        WanConfig config = WanConfigReader.read(model.resolve("config.json")).config();
        assertTrue(config.pixelSpace());
        assertEquals(64, config.dim());
        assertEquals(16, config.textDim());
        TextEncoder text = TextEncoder.load(model);
        assertEquals(config.textLen(), text.config().maxLength());
        JsonNode gen = JSON.readTree(model.resolve("generation.json").toFile());
        assertEquals(8, gen.get("frames").asInt());
        assertEquals(24, gen.get("height").asInt());
        assertEquals("dense", gen.get("attention").get("mode").asText());
        assertEquals(128, gen.get("attention").get("query_block").asInt());
        assertEquals("pretrain", gen.get("objective").asText());
        assertEquals(2, gen.get("steps_trained").asLong());

        // resume and extend to 3 steps: the same third step and weights as a run of 3 from the start
        CliRun more = CliRun.of("pretrain", "--out", run.toString(), "--resume", "--steps", "3");
        assertEquals(0, more.exit(), more::toString);
        assertTrue(more.err().contains("resuming"), more.err());
        Path whole = dir.resolve("whole");
        CliRun w = CliRun.of(pretrain(whole, "--steps", "3", "--checkpoint-every", "1", "--min-lr-ratio", "1"));
        assertEquals(0, w.exit(), w::toString);
        List<JsonNode> resumed = log(run);
        List<JsonNode> straight = log(whole);
        assertEquals(3, resumed.size());
        for (int i = 0; i < 3; i++) {
            assertEquals(straight.get(i).get("loss").asDouble(), resumed.get(i).get("loss").asDouble(), 0.0,
                    "loss of step " + (i + 1));
            assertEquals(straight.get(i).get("lr").asDouble(), resumed.get(i).get("lr").asDouble(), 0.0);
        }
        assertSameWeights(whole.resolve("model"), model);
        assertEquals(3, JSON.readTree(model.resolve("generation.json").toFile()).get("steps_trained").asLong());
    }

    /**
     * {@code --backend opencl} (PoCL here; cuda where present) trains the same run as the CPU, two clips per step
     * ({@code --batch-size 2}: one batched pass on the device, clip by clip on the CPU): the same first two losses
     * within 1e-4 relative (the device task's tolerance, {@code DeviceWanTrainingTaskTest}), and the files.
     */
    @ParameterizedTest
    @ValueSource(strings = {"opencl", "cuda"})
    void aDeviceBackendTrainsTheSameRunAsTheCpu(String backend) throws Exception {
        DeviceTestSessions.open(backend).close();   // skips, with the reason, where the backend is absent
        Path cpu = dir.resolve("cpu");
        Path device = dir.resolve(backend);
        assertEquals(0, CliRun.of(pretrain(cpu, "--steps", "2", "--batch-size", "2")).exit());
        CliRun r = CliRun.of(pretrain(device, "--steps", "2", "--batch-size", "2", "--backend", backend));
        assertEquals(0, r.exit(), r::toString);
        assertSameTwoLosses(cpu, device);
        assertTrue(Files.isRegularFile(device.resolve("model/diffusion_pytorch_model.safetensors")));
        JsonNode state = JSON.readTree(device.resolve("checkpoints/step-000002/state.json").toFile());
        assertEquals(backend, state.get("task").get("backend").asText(), "the device task ran: " + state);
        assertEquals(2, state.get("task").get("batch_size").asInt(), "two clips a micro-batch: " + state);
        assertEquals(2, JSON.readTree(device.resolve("run.json").toFile()).get("batchSize").asInt());
        assertEquals(2 * 2, JSON.readTree(device.resolve("model/generation.json").toFile()).get("clips_trained")
                .asLong(), "two steps of two clips");
    }

    /**
     * {@code finetune --objective distill} on a device frees the teacher's host copy once it is uploaded
     * ({@code DeviceWanTrainingTask.releaseTeacherHostCopy}) and still trains the CPU's run: the same first two losses
     * within 1e-4 relative, and a model directory.
     */
    @ParameterizedTest
    @ValueSource(strings = {"opencl", "cuda"})
    void aDeviceDistillationTrainsTheSameRunAsTheCpu(String backend) throws Exception {
        DeviceTestSessions.open(backend).close();   // skips, with the reason, where the backend is absent
        Path base = dir.resolve("base");
        assertEquals(0, CliRun.of(pretrain(base, "--steps", "1")).exit());
        List<String> args = List.of("finetune", "--init", base.resolve("model").toString(), "--objective", "distill",
                "--attention", "hybrid", "--topk", "0.3", "--topp", "0.5", "--steps", "2", "--lr", "1e-3",
                "--warmup", "1");
        Path cpu = dir.resolve("distill-cpu");
        Path device = dir.resolve("distill-" + backend);
        List<String> onCpu = new ArrayList<>(args);
        onCpu.addAll(List.of("--out", cpu.toString()));
        List<String> onDevice = new ArrayList<>(args);
        onDevice.addAll(List.of("--out", device.toString(), "--backend", backend));
        assertEquals(0, CliRun.of(onCpu.toArray(String[]::new)).exit());
        CliRun r = CliRun.of(onDevice.toArray(String[]::new));
        assertEquals(0, r.exit(), r::toString);
        assertSameTwoLosses(cpu, device);
        assertTrue(Files.isRegularFile(device.resolve("model/diffusion_pytorch_model.safetensors")));
    }

    /** A device run's two logged losses against the CPU run's, within the device task's 1e-4 relative. */
    private static void assertSameTwoLosses(Path cpu, Path device) throws Exception {
        List<JsonNode> want = log(cpu);
        List<JsonNode> got = log(device);
        assertEquals(2, got.size());
        for (int i = 0; i < 2; i++) {
            double w = want.get(i).get("loss").asDouble();
            assertEquals(w, got.get(i).get("loss").asDouble(), 1e-4 * w, "loss of step " + (i + 1));
        }
    }

    /**
     * {@code pretrain --init} continues a model with a new schedule and settings (here a timestep shift): the shape and
     * clip size come from the model, both the DiT and the text encoder move, steps_trained counts on, and --resume
     * finds the same start again. Shape flags with --init are refused.
     */
    @Test
    void pretrainContinuesFromAModelDirectory() throws Exception {
        Path base = dir.resolve("base");
        assertEquals(0, CliRun.of(pretrain(base, "--steps", "1")).exit());
        Path more = dir.resolve("more");
        CliRun r = CliRun.of("pretrain", "--init", base.resolve("model").toString(), "--out", more.toString(),
                "--steps", "1", "--timestep-shift", "3", "--lr", "1e-3", "--warmup", "1", "--threads", "2",
                "--clip-speed", "0.3,0.5", "--clip-start-spread", "0.9", "--caption-attribute-dropout", "0.25",
                "--text-encoder-lr-scale", "5", "--clip-start", "trailing", "--clip-size", "0.12,0.14");
        assertEquals(0, r.exit(), r::toString);
        JsonNode settings = JSON.readTree(more.resolve("run.json").toFile());
        // (8 frames of 24 x 24 pixels: slower or more central objects could not uncover the whole background)
        assertEquals(0.3, settings.get("motion").get("minSpeed").asDouble());
        assertEquals(0.5, settings.get("motion").get("maxSpeed").asDouble());
        assertEquals(0.9, settings.get("motion").get("startSpread").asDouble());
        assertTrue(settings.get("motion").get("trailing").asBoolean());
        assertEquals(0.12, settings.get("motion").get("minSize").asDouble());
        assertEquals(0.14, settings.get("motion").get("maxSize").asDouble());
        assertEquals(new ClipMotion(0.3, 0.5, 0.9, true, 0.12, 0.14),
                TrainingRun.clips(RunSettings.load(more)).spec().motion(), "the run's clips move as its run.json says");
        assertEquals(0.25, settings.get("captionAttributeDropout").asDouble());
        assertEquals(0.25, TrainingRun.clips(RunSettings.load(more)).spec().attributeDropout());
        assertEquals(ClipMotion.DEFAULT, RunSettings.load(base).motion(), "no motion flags: the default motion");
        // a run.json from before the setting existed reads as the default motion
        Path old = dir.resolve("old");
        Files.createDirectories(old);
        ObjectNode oldJson = (ObjectNode) JSON.readTree(more.resolve("run.json").toFile());
        oldJson.remove("motion");
        Files.writeString(old.resolve(RunSettings.FILE), oldJson.toString());
        assertEquals(ClipMotion.DEFAULT, RunSettings.load(old).motion());
        ObjectNode noTrailing = (ObjectNode) JSON.readTree(more.resolve("run.json").toFile());
        ((ObjectNode) noTrailing.get("motion")).remove("trailing");
        Files.writeString(old.resolve(RunSettings.FILE), noTrailing.toString());
        assertEquals(new ClipMotion(0.3, 0.5, 0.9, false, 0.12, 0.14), RunSettings.load(old).motion(),
                "older runs started centred");
        ((ObjectNode) noTrailing.get("motion")).remove(List.of("minSize", "maxSize"));
        Files.writeString(old.resolve(RunSettings.FILE), noTrailing.toString());
        assertEquals(new ClipMotion(0.3, 0.5, 0.9), RunSettings.load(old).motion(), "older runs drew default sizes");
        oldJson.remove("captionAttributeDropout");
        Files.writeString(old.resolve(RunSettings.FILE), oldJson.toString());
        assertEquals(0.0, RunSettings.load(old).captionAttributeDropout(), "older runs named every attribute");
        assertEquals(5.0, settings.get("textEncoderLrScale").asDouble());
        AdamWConfig adamW = TrainingRun.trainerConfig(RunSettings.load(more)).optimizer();
        TextEncoderConfig textConfig = ModelDirectory.load(more.resolve("model"), WanWeights.Precision.F32)
                .textEncoder().config();
        for (String name : TextEncoderParameters.shapes(textConfig).keySet()) {
            assertEquals(5.0, adamW.lrScale(name), name + ": the text encoder's lr is scaled");
        }
        for (String name : List.of("blocks.0.self_attn.q.weight", "text_embedding.0.weight", "head.head.weight")) {
            assertEquals(1.0, adamW.lrScale(name), name + ": the DiT's lr is not");
        }
        oldJson.remove("textEncoderLrScale");
        Files.writeString(old.resolve(RunSettings.FILE), oldJson.toString());
        assertEquals(1.0, RunSettings.load(old).textEncoderLrScale(), "older runs trained both at one lr");
        JsonNode baseSettings = JSON.readTree(base.resolve("run.json").toFile());
        for (String key : List.of("dim", "layers", "heads", "ffnDim", "textWidth", "textLayers", "frames", "height",
                "width")) {
            assertEquals(baseSettings.get(key).asInt(), settings.get(key).asInt(), key + " from the --init model");
        }
        assertEquals(3.0, settings.get("timestepShift").asDouble());
        assertEquals(base.resolve("model").toAbsolutePath().toString(), settings.get("init").asText());
        JsonNode gen = JSON.readTree(more.resolve("model/generation.json").toFile());
        assertEquals(1 + 1, gen.get("steps_trained").asLong(), "the base's step and this run's");
        assertEquals(1 + 1, gen.get("clips_trained").asLong(), "one clip a step in both");
        for (String file : List.of("diffusion_pytorch_model.safetensors", "text_encoder.safetensors")) {
            assertTrue(maxAbsDifference(base.resolve("model").resolve(file), more.resolve("model").resolve(file)) > 0,
                    file + " moved: both are trained");
        }
        CliRun resumed = CliRun.of("pretrain", "--out", more.toString(), "--resume", "--steps", "2", "--threads",
                "2");
        assertEquals(0, resumed.exit(), resumed::toString);
        assertEquals(2, log(more).size());
        CliRun shaped = CliRun.of("pretrain", "--init", base.resolve("model").toString(), "--out",
                dir.resolve("x").toString(), "--dim", "32", "--steps", "1");
        assertEquals(2, shaped.exit(), shaped::toString);
        assertTrue(shaped.err().contains("--dim") && shaped.err().contains("no value with --init"), shaped.err());
    }

    /**
     * {@code pretrain --init --fresh-text-encoder} keeps the model's DiT and starts the text encoder from the run's
     * own initialisation: after one step at a tiny learning rate the DiT is the init's and the text encoder the
     * fresh one's, each to within that step; run.json records it. Without --init the flag is refused.
     */
    @Test
    void pretrainStartsAFreshTextEncoderOnTheInitsDiT() throws Exception {
        Path base = dir.resolve("fbase");
        assertEquals(0, CliRun.of(pretrain(base, "--steps", "2")).exit());
        Path fresh = dir.resolve("fresh");
        CliRun r = CliRun.of("pretrain", "--init", base.resolve("model").toString(), "--out", fresh.toString(),
                "--steps", "1", "--lr", "1e-7", "--warmup", "1", "--seed", "7", "--fresh-text-encoder", "--threads",
                "2");
        assertEquals(0, r.exit(), r::toString);
        RunSettings settings = RunSettings.load(fresh);
        assertTrue(settings.freshTextEncoder());
        assertTrue(!RunSettings.load(base).freshTextEncoder());
        // Adam moves each parameter by about lr per step
        String dit = "diffusion_pytorch_model.safetensors";
        assertTrue(maxAbsDifference(base.resolve("model").resolve(dit), fresh.resolve("model").resolve(dit)) < 1e-5,
                "the DiT is the init's");
        Path text = fresh.resolve("model").resolve(TextEncoder.WEIGHTS_FILE);
        assertTrue(maxAbsDifference(base.resolve("model").resolve(TextEncoder.WEIGHTS_FILE), text) > 1e-3,
                "the text encoder is not the init's");
        WanConfig config = ModelDirectory.load(fresh.resolve("model"), WanWeights.Precision.F32).config();
        TextEncoder expected = PretrainCommand.textEncoder(settings, config);
        try (SafetensorsFile saved = SafetensorsFile.open(text)) {
            for (Map.Entry<String, Tensor> e : expected.parameters().entrySet()) {
                try (Tensor got = saved.load(e.getKey(), DType.F32)) {
                    float[] want = e.getValue().toFloatArray();
                    float[] have = got.toFloatArray();
                    for (int i = 0; i < want.length; i++) {
                        assertEquals(want[i], have[i], 1e-5, e.getKey() + "[" + i + "]: the run's fresh encoder");
                    }
                }
            }
        }
        assertBad(CliRun.of(pretrain(dir.resolve("nofresh"), "--steps", "1", "--fresh-text-encoder")),
                "--fresh-text-encoder", "given", "--init as well");
    }

    /**
     * {@code --scale-text-embedding} puts the DiT's text_embedding on the text encoder's learning-rate scale (the
     * rest of the DiT keeps lr); run.json records it. Without a scale other than 1, or outside pretrain, it is
     * refused.
     */
    @Test
    void theWholeTextPathCanLearnAtTheTextEncodersRate() throws Exception {
        Path run = dir.resolve("textpath");
        CliRun r = CliRun.of(pretrain(run, "--steps", "1", "--text-encoder-lr-scale", "0.1",
                "--scale-text-embedding"));
        assertEquals(0, r.exit(), r::toString);
        RunSettings settings = RunSettings.load(run);
        assertTrue(settings.scaleTextEmbedding());
        AdamWConfig adamW = TrainingRun.trainerConfig(settings).optimizer();
        for (String name : List.of("text_embedding.0.weight", "text_embedding.2.bias",
                "text_encoder.token_embedding.weight")) {
            assertEquals(0.1, adamW.lrScale(name), name);
        }
        for (String name : List.of("blocks.0.self_attn.q.weight", "blocks.0.cross_attn.k.weight", "head.head.weight",
                "time_embedding.0.weight")) {
            assertEquals(1.0, adamW.lrScale(name), name);
        }
        assertTrue(!RunSettings.load(dir.resolve("textpath")).freshTextEncoder());
        assertBad(CliRun.of(pretrain(dir.resolve("tp1"), "--steps", "1", "--scale-text-embedding")),
                "--scale-text-embedding", "given", "--text-encoder-lr-scale other than 1");
        assertBad(CliRun.of("finetune", "--init", run.resolve("model").toString(), "--out",
                dir.resolve("tp2").toString(), "--steps", "1", "--scale-text-embedding"), "--scale-text-embedding",
                "given", "pretrain");
    }

    /**
     * {@code --absolute-position sincos}: the model's config.json says so, run.json records it and a resume keeps
     * it; from --init the flag adds it to a model without one, and a model that has it keeps it without the flag, in
     * pretrain and finetune.
     * A value other than none or sincos, and a width the table cannot split, are refused.
     */
    @Test
    void pretrainAddsTheAbsolutePositionSignal() throws Exception {
        Path run = dir.resolve("pos");
        CliRun r = CliRun.of(pretrain(run, "--steps", "1", "--checkpoint-every", "1", "--absolute-position",
                "sincos"));
        assertEquals(0, r.exit(), r::toString);
        assertEquals("sincos", RunSettings.load(run).absolutePosition());
        assertEquals(AbsolutePosition.SINCOS, modelConfig(run).absolutePosition());
        assertTrue(Files.readString(run.resolve("model").resolve(WanWeights.CONFIG_FILE))
                .contains("\"absolute_position\" : \"sincos\""));
        r = CliRun.of(pretrain(run, "--steps", "2", "--resume"));
        assertEquals(0, r.exit(), r::toString);
        assertEquals(AbsolutePosition.SINCOS, modelConfig(run).absolutePosition(), "after --resume");

        Path plain = dir.resolve("plain");
        assertEquals(0, CliRun.of(pretrain(plain, "--steps", "1")).exit());
        assertEquals(AbsolutePosition.NONE, modelConfig(plain).absolutePosition());
        assertEquals("none", RunSettings.load(plain).absolutePosition());
        Path added = dir.resolve("added");
        r = CliRun.of("pretrain", "--init", plain.resolve("model").toString(), "--out", added.toString(), "--steps",
                "1", "--absolute-position", "sincos", "--threads", "2");
        assertEquals(0, r.exit(), r::toString);
        assertEquals(AbsolutePosition.SINCOS, modelConfig(added).absolutePosition(), "--init plus the flag");
        Path kept = dir.resolve("kept");
        r = CliRun.of("pretrain", "--init", run.resolve("model").toString(), "--out", kept.toString(), "--steps",
                "1", "--threads", "2");
        assertEquals(0, r.exit(), r::toString);
        assertEquals(AbsolutePosition.SINCOS, modelConfig(kept).absolutePosition(), "--init's own signal");
        Path tuned = dir.resolve("tuned");
        r = CliRun.of("finetune", "--init", run.resolve("model").toString(), "--out", tuned.toString(), "--objective",
                "distill", "--attention", "dense", "--steps", "1", "--threads", "2");
        assertEquals(0, r.exit(), r::toString);
        assertEquals(AbsolutePosition.SINCOS, modelConfig(tuned).absolutePosition(), "finetune keeps the signal");
        assertEquals("sincos", RunSettings.load(tuned).absolutePosition(), "and records it");

        assertBad(CliRun.of(pretrain(dir.resolve("bad"), "--steps", "1", "--absolute-position", "learned")),
                "--absolute-position", "learned", "none or sincos");
        assertBad(CliRun.of("pretrain", "--out", dir.resolve("odd").toString(), "--dim", "9", "--heads", "1",
                "--steps", "1", "--absolute-position", "sincos"), "--absolute-position", "sincos", "dim 9");
        assertTrue(!Files.exists(dir.resolve("bad")) && !Files.exists(dir.resolve("odd")), "nothing written");
    }

    /**
     * {@code --text-modulation pooled}: config.json and run.json say so and a resume keeps it; from --init a model
     * that has it keeps it without the flag, in pretrain and finetune; other values are refused, writing nothing.
     */
    @Test
    void pretrainAddsThePooledTextModulation() throws Exception {
        Path run = dir.resolve("pooled");
        CliRun r = CliRun.of(pretrain(run, "--steps", "1", "--checkpoint-every", "1", "--text-modulation",
                "pooled"));
        assertEquals(0, r.exit(), r::toString);
        assertEquals("pooled", RunSettings.load(run).textModulation());
        assertEquals(TextModulation.POOLED, modelConfig(run).textModulation());
        assertTrue(Files.readString(run.resolve("model").resolve(WanWeights.CONFIG_FILE))
                .contains("\"text_modulation\" : \"pooled\""));
        r = CliRun.of(pretrain(run, "--steps", "2", "--resume"));
        assertEquals(0, r.exit(), r::toString);
        assertEquals(TextModulation.POOLED, modelConfig(run).textModulation(), "after --resume");

        Path kept = dir.resolve("kept");
        r = CliRun.of("pretrain", "--init", run.resolve("model").toString(), "--out", kept.toString(), "--steps",
                "1", "--threads", "2");
        assertEquals(0, r.exit(), r::toString);
        assertEquals(TextModulation.POOLED, modelConfig(kept).textModulation(), "--init's own modulation");
        Path tuned = dir.resolve("tuned");
        r = CliRun.of("finetune", "--init", run.resolve("model").toString(), "--out", tuned.toString(), "--objective",
                "distill", "--attention", "dense", "--steps", "1", "--threads", "2");
        assertEquals(0, r.exit(), r::toString);
        assertEquals(TextModulation.POOLED, modelConfig(tuned).textModulation(), "finetune keeps it");
        assertEquals("pooled", RunSettings.load(tuned).textModulation(), "and records it");

        Path plain = dir.resolve("plain");
        assertEquals(0, CliRun.of(pretrain(plain, "--steps", "1")).exit());
        assertEquals(TextModulation.NONE, modelConfig(plain).textModulation());
        assertEquals("none", RunSettings.load(plain).textModulation());
        assertBad(CliRun.of(pretrain(dir.resolve("bad"), "--steps", "1", "--text-modulation", "mean")),
                "--text-modulation", "mean", "none or pooled");
        assertTrue(!Files.exists(dir.resolve("bad")), "nothing written");
    }

    /** {@code --clip-fixed}: run.json keeps the words and the run's clips all have them; words naming nothing fail. */
    @Test
    void pretrainTrainsOnClipsWithFixedAttributes() throws Exception {
        Path run = dir.resolve("fixed");
        CliRun r = CliRun.of(pretrain(run, "--steps", "1", "--clip-fixed", "a red circle"));
        assertEquals(0, r.exit(), r::toString);
        RunSettings settings = RunSettings.load(run);
        assertEquals("a red circle", settings.clipFixed());
        ClipGenerator clips = TrainingRun.clips(settings);
        for (int i = 0; i < 12; i++) {
            assertTrue(clips.clip(i).caption().startsWith("a red circle moving "), clips.clip(i).caption());
        }
        assertBad(CliRun.of(pretrain(dir.resolve("nothing"), "--steps", "1", "--clip-fixed", "hello")),
                "--clip-fixed", "hello", "caption words");
    }

    /**
     * {@code --noise-band}: run.json keeps the band and the run's noise levels come from it ({@code noiseLevels()}),
     * a resume keeps it, and a band that is not LOW,HIGH,SHARE in range is refused by name with nothing written.
     */
    @Test
    void pretrainDrawsAShareOfItsNoiseLevelsFromABand() throws Exception {
        Path run = dir.resolve("band");
        CliRun r = CliRun.of(pretrain(run, "--steps", "1", "--noise-band", "0.4,0.8,0.5", "--timestep-shift", "2"));
        assertEquals(0, r.exit(), r::toString);
        assertEquals(new NoiseLevels(2.0, 0.4, 0.8, 0.5), RunSettings.load(run).noiseLevels());
        assertEquals(0, CliRun.of(pretrain(run, "--steps", "2", "--resume")).exit());
        assertEquals(new NoiseLevels(2.0, 0.4, 0.8, 0.5), RunSettings.load(run).noiseLevels(), "kept by --resume");
        Path plain = dir.resolve("noband");
        assertEquals(0, CliRun.of(pretrain(plain, "--steps", "1")).exit());
        assertEquals(NoiseLevels.shifted(1.0), RunSettings.load(plain).noiseLevels());
        for (String bad : new String[] {"0.8,0.4,0.5", "0.4,0.8", "0.4,0.8,0", "a,b,c"}) {
            assertBad(CliRun.of(pretrain(dir.resolve("badband"), "--steps", "1", "--noise-band", bad)),
                    "--noise-band", "'" + bad + "'", "LOW,HIGH,SHARE");
            assertTrue(!Files.exists(dir.resolve("badband")), "nothing written for " + bad);
        }
    }

    private static WanConfig modelConfig(Path run) throws Exception {
        return ModelDirectory.load(run.resolve("model"), WanWeights.Precision.F32).config();
    }

    private static double maxAbsDifference(Path a, Path b) throws Exception {
        double max = 0;
        try (SafetensorsFile fa = SafetensorsFile.open(a); SafetensorsFile fb = SafetensorsFile.open(b)) {
            for (String name : fa.names()) {
                try (Tensor x = fa.load(name, DType.F32); Tensor y = fb.load(name, DType.F32)) {
                    float[] xs = x.toFloatArray();
                    float[] ys = y.toFloatArray();
                    for (int i = 0; i < xs.length; i++) {
                        max = Math.max(max, Math.abs(xs[i] - ys[i]));
                    }
                }
            }
        }
        return max;
    }

    @Test
    void finetuneDistillsWithACalibratedHybridMask() throws Exception {
        Path base = dir.resolve("base");
        assertEquals(0, CliRun.of(pretrain(base, "--steps", "1")).exit());
        Path run = dir.resolve("ft");
        CliRun r = CliRun.of("finetune", "--init", base.resolve("model").toString(), "--out", run.toString(),
                "--objective", "distill", "--attention", "hybrid", "--target-sparsity", "0.6", "--steps", "2",
                "--threads", "2");
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.err().contains("calibrated hybrid"), r.err());
        JsonNode gen = JSON.readTree(run.resolve("model/generation.json").toFile());
        assertEquals("hybrid", gen.get("attention").get("mode").asText());
        assertEquals("distill", gen.get("objective").asText());
        assertEquals(8, gen.get("frames").asInt(), "the clip size comes from the initial model");
        double p = gen.get("attention").get("topp").asDouble();
        assertTrue(p > 0 && p <= 1 && p != 0.2, "p was calibrated: " + p);
        assertEquals(0.03, gen.get("attention").get("topk").asDouble(), 0.0, "k is kept");
        List<JsonNode> log = log(run);
        assertEquals(2, log.size());
        for (JsonNode line : log) {
            assertEquals(p, line.get("metrics").get("topp").asDouble(), 0.0, "p in the log");
            double sparsity = line.get("metrics").get("sparsity").asDouble();
            assertTrue(sparsity > 0.3 && sparsity < 0.9, "near the 0.6 target: " + sparsity);
        }
        JsonNode settings = JSON.readTree(run.resolve("run.json").toFile());
        assertEquals(JSON.readTree(base.resolve("run.json").toFile()).get("textLayers").asInt(),
                settings.get("textLayers").asInt(), "run.json records the --init's text encoder layers");
        // the text encoder is frozen: the output's equals the initial one
        assertSameTensors(base.resolve("model/text_encoder.safetensors"),
                run.resolve("model/text_encoder.safetensors"));
        // resume and extend: run.json keeps the calibrated p (no second calibration), the log goes on
        CliRun more = CliRun.of("finetune", "--out", run.toString(), "--resume", "--steps", "3", "--threads", "2");
        assertEquals(0, more.exit(), more::toString);
        assertTrue(!more.err().contains("calibrated"), more.err());
        assertEquals(3, log(run).size());
        assertEquals(p, log(run).get(2).get("metrics").get("topp").asDouble(), 0.0);
        assertEquals(1 + 3, JSON.readTree(run.resolve("model/generation.json").toFile()).get("steps_trained").asLong(),
                "the base's 1 pretraining step and the fine-tune's 3");
        CliRun wrong = CliRun.of("pretrain", "--out", run.toString(), "--resume");
        assertEquals(1, wrong.exit(), wrong::toString);
        assertTrue(wrong.err().contains("finetune run"), wrong.err());
    }

    /**
     * The paper's ablation modes from the CLI (rows 3 and 4): --attention topk calibrates k and keeps p, --attention
     * topp calibrates p and keeps k, and the first logged step, whose clips are the calibration's, has the calibrated
     * sparsity (to the 4 places it is printed, plus the mean over one step's clips against the calibration's).
     */
    @ParameterizedTest
    @ValueSource(strings = {"topk", "topp"})
    void finetuneCalibratesTopkAloneOrToppAlone(String mode) throws Exception {
        Path base = dir.resolve("base-" + mode);
        assertEquals(0, CliRun.of(pretrain(base, "--steps", "1")).exit());
        Path run = dir.resolve("ft-" + mode);
        CliRun r = CliRun.of("finetune", "--init", base.resolve("model").toString(), "--out", run.toString(),
                "--objective", "distill", "--attention", mode, "--target-sparsity", "0.6", "--steps", "1",
                "--threads", "2");
        assertEquals(0, r.exit(), r::toString);
        Matcher m = Pattern.compile("calibrated " + mode
                + " to sparsity ([0-9.]+) \\(target 0\\.6000\\)").matcher(r.err());
        assertTrue(m.find(), r.err());
        double calibrated = Double.parseDouble(m.group(1));
        assertEquals(0.6, calibrated, 0.1, "the bisection reaches the target up to the maps' granularity");
        JsonNode att = JSON.readTree(run.resolve("model/generation.json").toFile()).get("attention");
        assertEquals(mode, att.get("mode").asText());
        WanAttention defaults = WanAttention.defaults();
        if (mode.equals("topk")) {
            assertTrue(att.get("topk").asDouble() != defaults.topk(), "k was calibrated: " + att);
            assertEquals(defaults.topp(), att.get("topp").asDouble(), 0.0, "p is kept");
        } else {
            assertTrue(att.get("topp").asDouble() != defaults.topp(), "p was calibrated: " + att);
            assertEquals(defaults.topk(), att.get("topk").asDouble(), 0.0, "k is kept");
        }
        double first = log(run).get(0).get("metrics").get("sparsity").asDouble();
        assertEquals(calibrated, first, 0.05, "the first step trains on the calibration's clips");
    }

    /**
     * {@code --teacher} distils a fine-tuned student further from the model it came from: naming --init itself as the
     * teacher gives bit for bit the losses of no --teacher, naming the original base gives other losses (its
     * velocities are the targets), run.json records it and --resume keeps it. A teacher with another text encoder,
     * or a teacher for the flow objective, is refused before anything is written.
     */
    @Test
    void finetuneDistilsFromANamedTeacher() throws Exception {
        Path base = dir.resolve("tbase");
        assertEquals(0, CliRun.of(pretrain(base, "--steps", "1")).exit());
        Path ft = dir.resolve("tft");
        assertEquals(0, CliRun.of("finetune", "--init", base.resolve("model").toString(), "--out", ft.toString(),
                "--steps", "2", "--lr", "1e-2", "--threads", "2").exit());
        String student = ft.resolve("model").toString();
        List<Double> self = new ArrayList<>();
        List<Double> named = new ArrayList<>();
        List<Double> original = new ArrayList<>();
        for (String[] variant : new String[][] {{"self"}, {"named", student},
                {"original", base.resolve("model").toString()}}) {
            Path run = dir.resolve("t-" + variant[0]);
            List<String> args = new ArrayList<>(List.of("finetune", "--init", student, "--out", run.toString(),
                    "--steps", "2", "--threads", "2"));
            if (variant.length > 1) {
                args.addAll(List.of("--teacher", variant[1]));
            }
            CliRun r = CliRun.of(args.toArray(String[]::new));
            assertEquals(0, r.exit(), r::toString);
            List<Double> losses = variant[0].equals("self") ? self : variant[0].equals("named") ? named : original;
            log(run).forEach(line -> losses.add(line.get("loss").asDouble()));
            JsonNode teacher = JSON.readTree(run.resolve("run.json").toFile()).get("teacher");
            assertEquals(variant.length > 1 ? Path.of(variant[1]).toAbsolutePath().toString() : null,
                    teacher == null || teacher.isNull() ? null : teacher.asText());
        }
        assertEquals(self, named, "--teacher naming --init is the default teacher");
        assertTrue(!self.get(0).equals(original.get(0)), "the base's velocities are other targets: " + self + " "
                + original);
        CliRun more = CliRun.of("finetune", "--out", dir.resolve("t-original").toString(), "--resume", "--steps", "3",
                "--threads", "2");
        assertEquals(0, more.exit(), more::toString);
        assertEquals(3, log(dir.resolve("t-original")).size());
        // another pretraining (seed 6) has another text encoder: refused, and nothing is written
        Path other = dir.resolve("tother");
        List<String> otherArgs = new ArrayList<>(List.of(pretrain(other, "--steps", "1")));
        otherArgs.set(otherArgs.indexOf("--seed") + 1, "6");
        assertEquals(0, CliRun.of(otherArgs.toArray(String[]::new)).exit());
        Path refused = dir.resolve("t-refused");
        CliRun bad = CliRun.of("finetune", "--init", student, "--out", refused.toString(), "--steps", "1",
                "--teacher", other.resolve("model").toString(), "--threads", "2");
        assertEquals(1, bad.exit(), bad::toString);
        assertTrue(bad.err().contains("--teacher") && bad.err().contains("text encoder differs"), bad.err());
        assertTrue(!Files.exists(refused.resolve("run.json")), "nothing written for a refused teacher");
        assertBad(CliRun.of("finetune", "--init", student, "--out", refused.toString(), "--objective", "flow",
                "--teacher", student), "--teacher", student, "only distillation has a teacher");
    }

    /**
     * {@code --distill-guidance G} distils the guided velocity: other losses than the plain distillation from the same
     * start and seed, recorded in run.json and kept by --resume; a negative scale, or one for the flow objective, is
     * refused.
     */
    @Test
    void finetuneDistilsTheGuidedVelocity() throws Exception {
        Path base = dir.resolve("gbase");
        assertEquals(0, CliRun.of(pretrain(base, "--steps", "1")).exit());
        String init = base.resolve("model").toString();
        List<List<Double>> losses = new ArrayList<>();
        for (String guidance : new String[] {"0", "5"}) {
            Path run = dir.resolve("g" + guidance);
            CliRun r = CliRun.of("finetune", "--init", init, "--out", run.toString(), "--steps", "2",
                    "--distill-guidance", guidance, "--threads", "2");
            assertEquals(0, r.exit(), r::toString);
            losses.add(log(run).stream().map(line -> line.get("loss").asDouble()).toList());
            assertEquals(Double.parseDouble(guidance), JSON.readTree(run.resolve("run.json").toFile())
                    .get("distillGuidance").asDouble(), 0.0, "run.json records it");
        }
        assertTrue(!losses.get(0).get(0).equals(losses.get(1).get(0)), "guided targets differ: " + losses);
        CliRun more = CliRun.of("finetune", "--out", dir.resolve("g5").toString(), "--resume", "--steps", "3",
                "--threads", "2");
        assertEquals(0, more.exit(), more::toString);
        assertEquals(3, log(dir.resolve("g5")).size());
        assertBad(CliRun.of("finetune", "--init", init, "--out", dir.resolve("gbad").toString(),
                "--distill-guidance", "-1"), "--distill-guidance", "-1.0", "finite guidance scale above 0");
        assertBad(CliRun.of("finetune", "--init", init, "--out", dir.resolve("gbad").toString(), "--objective",
                "flow", "--distill-guidance", "5"), "--distill-guidance", "5.0", "only distillation has a teacher");
    }

    /**
     * {@code --late-topk K}: the student trains with k K on clips at or below the noise level (at level 1, every clip):
     * other losses than the plain run from the same start and seed; run.json and the model's generation.json record
     * it, --resume keeps it; bad values, or a Top-p student, are refused naming the flag.
     */
    @Test
    void finetuneTrainsWithALateTopk() throws Exception {
        Path base = dir.resolve("lbase");
        assertEquals(0, CliRun.of(pretrain(base, "--steps", "1")).exit());
        String init = base.resolve("model").toString();
        List<List<Double>> losses = new ArrayList<>();
        for (String k : new String[] {"0", "0.9"}) {
            Path run = dir.resolve("late" + k);
            List<String> args = new ArrayList<>(List.of("finetune", "--init", init, "--out", run.toString(),
                    "--steps", "2", "--topk", "0.05", "--threads", "2"));
            if (!k.equals("0")) {
                args.addAll(List.of("--late-topk", k, "--late-noise-level", "1"));
            }
            CliRun r = CliRun.of(args.toArray(String[]::new));
            assertEquals(0, r.exit(), r::toString);
            losses.add(log(run).stream().map(line -> line.get("loss").asDouble()).toList());
        }
        assertTrue(!losses.get(0).get(0).equals(losses.get(1).get(0)), "a larger k, other masks: " + losses);
        Path run = dir.resolve("late0.9");
        JsonNode late = JSON.readTree(run.resolve("run.json").toFile()).get("late");
        assertEquals(0.9, late.get("topk").asDouble(), 0.0, "run.json records it");
        assertEquals(1.0, late.get("noiseLevel").asDouble(), 0.0);
        JsonNode gen = JSON.readTree(run.resolve("model/generation.json").toFile()).get("attention");
        assertEquals(0.9, gen.get("late_topk").asDouble(), 0.0, "generation.json: generate samples with it");
        assertEquals(1.0, gen.get("late_noise_level").asDouble(), 0.0);
        assertTrue(JSON.readTree(dir.resolve("late0/run.json").toFile()).get("late").isNull(), "none: null");
        CliRun more = CliRun.of("finetune", "--out", run.toString(), "--resume", "--steps", "3", "--threads", "2");
        assertEquals(0, more.exit(), more::toString);
        assertEquals(3, log(run).size());
        assertEquals(0.9, JSON.readTree(run.resolve("model/generation.json").toFile()).at("/attention/late_topk")
                .asDouble(), 0.0, "kept by --resume");
        String bad = dir.resolve("lbad").toString();
        assertBad(CliRun.of("finetune", "--init", init, "--out", bad, "--late-topk", "1.5"), "--late-topk", "1.5",
                "a fraction in (0, 1]");
        assertBad(CliRun.of("finetune", "--init", init, "--out", bad, "--attention", "topp", "--late-topk", "0.2"),
                "--late-topk", "0.2", "no Top-k to change");
        assertBad(CliRun.of("finetune", "--init", init, "--out", bad, "--late-noise-level", "0.5"),
                "--late-noise-level", "0.5", "without --late-topk");
        assertBad(CliRun.of("finetune", "--init", init, "--out", bad, "--late-topk", "0.2", "--late-noise-level",
                "2"), "--late-noise-level", "2.0", "a noise level in [0, 1]");
    }

    /**
     * {@code --init} takes an f16 model directory as {@code sparge export} writes it (the shipped tiny-demo is one):
     * the DiT is widened to f32 and one flow-matching step moves it by about the learning rate, so the output is
     * within 1e-3 of the f16 weights and not equal to them; the output model directory is f32.
     */
    @Test
    void finetuneStartsFromAnF16Export() throws Exception {
        Path random = TinyModelDirs.write(dir.resolve("random"), 11, 8, 24, 24, WanAttention.defaults(), DType.F32);
        Path f16 = dir.resolve("f16");
        CliRun export = CliRun.of("export", "--checkpoint", random.toString(), "--out", f16.toString(), "--dtype",
                "f16");
        assertEquals(0, export.exit(), export::toString);
        String dit = "diffusion_pytorch_model.safetensors";
        try (SafetensorsFile f = SafetensorsFile.open(f16.resolve(dit))) {
            for (String name : f.names()) {
                assertEquals(DType.F16, f.info(name).dtype(), name);
            }
        }
        Path run = dir.resolve("ft16");
        CliRun r = CliRun.of("finetune", "--init", f16.toString(), "--out", run.toString(), "--objective", "flow",
                "--attention", "hybrid", "--steps", "1", "--frames", "8", "--height", "24", "--width", "24",
                "--threads", "2", "--seed", "3");
        assertEquals(0, r.exit(), r::toString);
        List<JsonNode> log = log(run);
        assertEquals(1, log.size());
        assertTrue(Double.isFinite(log.get(0).get("loss").asDouble()) && log.get(0).get("loss").asDouble() > 0,
                log.get(0).toString());
        JsonNode gen = JSON.readTree(run.resolve("model/generation.json").toFile());
        assertEquals("flow", gen.get("objective").asText());
        assertEquals(42 + 1, gen.get("steps_trained").asLong(), "the export's 42 steps and the fine-tune's 1");
        double moved = 0;
        try (SafetensorsFile before = SafetensorsFile.open(f16.resolve(dit));
             SafetensorsFile after = SafetensorsFile.open(run.resolve("model").resolve(dit))) {
            assertEquals(before.names(), after.names());
            for (String name : before.names()) {
                assertEquals(DType.F32, after.info(name).dtype(), name);
                try (Tensor x = before.load(name, DType.F32); Tensor y = after.load(name, DType.F32)) {
                    float[] a = x.toFloatArray();
                    float[] b = y.toFloatArray();
                    for (int i = 0; i < a.length; i++) {
                        double d = Math.abs((double) a[i] - b[i]);
                        assertTrue(d <= 1e-3, name + "[" + i + "] moved by " + d + ", expected at most 1e-3");
                        moved = Math.max(moved, d);
                    }
                }
            }
        }
        assertTrue(moved > 0, "one step changed the weights");
    }

    @Test
    void badFlagsNameTheFlagTheValueAndWhatIsExpected() throws Exception {
        Path out = dir.resolve("bad");
        assertBad(CliRun.of("pretrain", "--out", out.toString(), "--lr", "-1"), "--lr", "-1", "above 0");
        assertBad(CliRun.of("pretrain", "--out", out.toString(), "--backend", "tpu"), "--backend", "tpu", "cuda");
        assertBad(CliRun.of("pretrain", "--out", out.toString(), "--heads", "3"), "--heads", "3", "divisor");
        assertBad(CliRun.of("pretrain", "--out", out.toString(), "--frames", "4"), "--frames", "4", "8 to 32");
        assertBad(CliRun.of("pretrain", "--out", out.toString(), "--precision", "f8"), "--precision", "f8", "bf16");
        assertBad(CliRun.of("pretrain", "--out", out.toString(), "--precision", "f16"), "--precision", "f16",
                "training has no f16");
        assertFalse(Files.exists(out.resolve("run.json")), "a refused flag writes nothing");
        assertBad(CliRun.of("pretrain", "--out", out.toString(), "--batch-size", "0"), "--batch-size", "0",
                "from 1 to 256");
        assertBad(CliRun.of("pretrain", "--out", out.toString(), "--clip-speed", "0.3,0.1"), "--clip-speed",
                "0.3,0.1", "0 < MIN <= MAX <= 1");
        assertBad(CliRun.of("pretrain", "--out", out.toString(), "--clip-speed", "fast"), "--clip-speed", "fast",
                "MIN,MAX");
        assertBad(CliRun.of("pretrain", "--out", out.toString(), "--clip-start-spread", "0"), "--clip-start-spread",
                "0", "(0, 1]");
        assertBad(CliRun.of("pretrain", "--out", out.toString(), "--clip-size", "0.2,0.3"), "--clip-size", "0.2,0.3",
                "0 < MIN <= MAX <= 0.2");
        assertBad(CliRun.of("pretrain", "--out", out.toString(), "--clip-size", "big"), "--clip-size", "big",
                "MIN,MAX");
        assertBad(CliRun.of("pretrain", "--out", out.toString(), "--clip-start", "edge"), "--clip-start", "edge",
                "centre or trailing");
        assertBad(CliRun.of("pretrain", "--out", out.toString(), "--caption-attribute-dropout", "1"),
                "--caption-attribute-dropout", "1.0", "[0, 1)");
        assertBad(CliRun.of("finetune", "--out", out.toString()), "--init", "", "Missing");
        Path model = dir.resolve("model");
        Files.createDirectories(model);
        assertBad(CliRun.of("finetune", "--out", out.toString(), "--init", model.toString(), "--attention", "sparse"),
                "--attention", "sparse", "dense, topk, topp, hybrid");
        assertBad(CliRun.of("finetune", "--out", out.toString(), "--init", model.toString(), "--objective",
                "pretrain"), "--objective", "pretrain", "distill or flow");
        Path tiny = TinyModelDirs.write(dir.resolve("tiny"), 4, 8, 24, 24, WanAttention.defaults(), DType.F32);
        assertBad(CliRun.of("finetune", "--out", out.toString(), "--init", tiny.toString(),
                "--text-encoder-lr-scale", "2"), "--text-encoder-lr-scale", "2.0", "keeps the text encoder frozen");
        assertBad(CliRun.of("pretrain", "--out", out.toString(), "--text-encoder-lr-scale", "0"),
                "--text-encoder-lr-scale", "0.0", "above 0");
        assertBad(CliRun.of("finetune", "--out", out.toString(), "--init", model.toString(), "--target-sparsity",
                "1.5"), "--target-sparsity", "1.5", "(0, 1)");
        assertBad(CliRun.of("finetune", "--out", out.toString(), "--init", model.toString(), "--attention", "dense",
                "--target-sparsity", "0.9"), "--target-sparsity", "0.9", "dense");
        CliRun missing = CliRun.of("finetune", "--out", out.toString(), "--init", model.toString());
        assertEquals(1, missing.exit(), missing::toString);
        assertTrue(missing.err().contains("config.json") && missing.err().contains(model.toString()), missing.err());
        Path noText = dir.resolve("no-text");
        Map<String, Tensor> weights = WanWeights.randomInit(TinyModelDirs.CONFIG, 1);
        ModelDirectory.save(noText, TinyModelDirs.CONFIG, weights, null, null, DType.F32);
        weights.values().forEach(Tensor::close);
        CliRun text = CliRun.of("finetune", "--out", out.toString(), "--init", noText.toString());
        assertEquals(1, text.exit(), text::toString);
        assertTrue(text.err().contains("--init") && text.err().contains(noText.toString())
                && text.err().contains("text_encoder.safetensors"), text.err());
        CliRun noRun = CliRun.of("pretrain", "--out", out.toString(), "--resume");
        assertEquals(1, noRun.exit(), noRun::toString);
        assertTrue(noRun.err().contains("run.json") && noRun.err().contains("--resume"), noRun.err());
    }

    private static void assertBad(CliRun r, String flag, String value, String expected) {
        assertEquals(2, r.exit(), r::toString);
        assertTrue(r.err().contains(flag) && r.err().contains(value) && r.err().contains(expected), r.err());
    }

    static List<JsonNode> log(Path run) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(run.resolve("train.jsonl"))) {
            if (!line.isBlank()) {
                out.add(JSON.readTree(line));
            }
        }
        return out;
    }

    private static void assertSameWeights(Path a, Path b) throws Exception {
        assertSameTensors(a.resolve("diffusion_pytorch_model.safetensors"),
                b.resolve("diffusion_pytorch_model.safetensors"));
        assertSameTensors(a.resolve("text_encoder.safetensors"), b.resolve("text_encoder.safetensors"));
    }

    private static void assertSameTensors(Path a, Path b) throws Exception {
        try (SafetensorsFile fa = SafetensorsFile.open(a); SafetensorsFile fb = SafetensorsFile.open(b)) {
            assertEquals(fa.names(), fb.names());
            for (String name : fa.names()) {
                try (Tensor x = fa.load(name, DType.F32); Tensor y = fb.load(name, DType.F32)) {
                    assertArrayEquals(x.toFloatArray(), y.toFloatArray(), name);
                }
            }
        }
    }
}
