package io.sparge4j.cli;

import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.io.Safetensors;
import io.sparge4j.engine.io.SafetensorsFile;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.sampling.Noise;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanModel;
import io.sparge4j.models.wan.WanWeights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code sparge generate} and {@code sparge forward} end to end on small models: the built-in random-weight
 * pixel-space model to a GIF and to safetensors (same seed, same video), a latent model saved to a directory (only
 * safetensors; pictures refused), one forward pass against {@link WanModel} called directly, and the errors.
 */
class GenerateCommandTest {
    @TempDir
    Path dir;

    /**
     * {@code --late-topk}: a larger k in the late steps keeps more blocks there, so the run's mean sparsity falls; bad
     * values are refused naming the option.
     */
    @Test
    void aLateTopkLowersTheMeanSparsityAndBadValuesAreRefused() {
        String[] common = {"generate", "--model", "tiny-random", "--steps", "4", "--frames", "4", "--seed", "3",
            "--attention", "topk", "--topk", "0.2", "--bq", "64", "--bkv", "64"};
        CliRun base = CliRun.of(with(common, "--out", dir.resolve("base.safetensors").toString()));
        CliRun late = CliRun.of(with(common, "--late-topk", "0.8", "--late-noise-level", "1", "--out",
                dir.resolve("late.safetensors").toString()));
        assertEquals(0, base.exit(), base.toString());
        assertEquals(0, late.exit(), late.toString());
        double sparse = sparsity(base.out());
        double denser = sparsity(late.out());
        assertTrue(denser < sparse, "late k 0.8 at every step: sparsity " + denser + " against " + sparse);
        CliRun bad = CliRun.of(with(common, "--late-topk", "1.5", "--out", dir.resolve("x.safetensors").toString()));
        assertTrue(bad.exit() != 0 && bad.err().contains("--late-topk") && bad.err().contains("1.5"), bad::toString);
        CliRun badLevel = CliRun.of(with(common, "--late-topk", "0.5", "--late-noise-level", "2", "--out",
                dir.resolve("y.safetensors").toString()));
        assertTrue(badLevel.exit() != 0 && badLevel.err().contains("--late-noise-level"), badLevel::toString);
    }

    private static String[] with(String[] head, String... tail) {
        String[] out = java.util.Arrays.copyOf(head, head.length + tail.length);
        System.arraycopy(tail, 0, out, head.length, tail.length);
        return out;
    }

    /** The mean sparsity a generate run reports ("attention topk: sparsity 0.750; ..."). */
    private static double sparsity(String out) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("sparsity ([0-9.]+)").matcher(out);
        if (!m.find()) {
            throw new AssertionError("no sparsity in: " + out);
        }
        return Double.parseDouble(m.group(1));
    }

    @Test
    void tinyRandomWritesAGifAndTheSameSeedGivesTheSameVideo() throws Exception {
        Path gif = dir.resolve("v.gif");
        CliRun r = CliRun.of("generate", "--model", "tiny-random", "--steps", "3", "--frames", "4", "--out",
                gif.toString());
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("sparsity"), r.out());
        try (ImageInputStream in = ImageIO.createImageInputStream(gif.toFile())) {
            ImageReader reader = ImageIO.getImageReadersByFormatName("gif").next();
            reader.setInput(in);
            assertEquals(4, reader.getNumImages(true), "GIF frames");
            assertEquals(32, reader.read(0).getWidth());
        }
        Path a = dir.resolve("a.safetensors");
        Path b = dir.resolve("b.safetensors");
        for (Path p : new Path[] {a, b}) {
            CliRun s = CliRun.of("generate", "--model", "tiny-random", "--steps", "3", "--frames", "4", "--seed", "7",
                    "--sampler", "euler", "--out", p.toString());
            assertEquals(0, s.exit(), s.toString());
        }
        try (SafetensorsFile fa = SafetensorsFile.open(a); SafetensorsFile fb = SafetensorsFile.open(b);
             Tensor va = fa.load("video"); Tensor vb = fb.load("video")) {
            assertArrayEquals(new int[] {3, 4, 32, 32}, va.shape());
            float[] x = va.toFloatArray();
            assertArrayEquals(x, vb.toFloatArray(), "same seed, same backend: the same video");
            assertTrue(Arrays.stream(box(x)).anyMatch(v -> v != 0f) && Arrays.stream(box(x)).allMatch(Float::isFinite));
        }
    }

    /**
     * The same seed on OpenCL (PoCL in CI) and on the CPU: the same video up to f32 rounding carried through three
     * Euler steps of two blocks (1e-3 of the largest pixel; a wrong op on either side is O(1)).
     */
    @Test
    void openClBackendGeneratesTheCpuVideo() throws Exception {
        assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): --backend opencl"
                + " generate skipped");
        Path cpu = dir.resolve("cpu.safetensors");
        Path gpu = dir.resolve("opencl.safetensors");
        for (String[] run : new String[][] {{"cpu", cpu.toString()}, {"opencl", gpu.toString()}}) {
            CliRun r = CliRun.of("generate", "--model", "tiny-random", "--steps", "3", "--frames", "4", "--seed", "5",
                    "--sampler", "euler", "--topk", "0.3", "--topp", "0.6", "--backend", run[0], "--out", run[1]);
            assertEquals(0, r.exit(), r.toString());
        }
        assertSameVideo(cpu, gpu, 1e-3, "opencl against cpu");
        // --device names the GPU: the first one by number gives the default's video exactly
        Path first = dir.resolve("device0.safetensors");
        CliRun chosen = CliRun.of("generate", "--model", "tiny-random", "--steps", "3", "--frames", "4", "--seed", "5",
                "--sampler", "euler", "--topk", "0.3", "--topp", "0.6", "--backend", "opencl", "--device", "0",
                "--out", first.toString());
        assertEquals(0, chosen.exit(), chosen.toString());
        assertSameVideo(gpu, first, 0.0, "--device 0 against the default device");
        CliRun cpuDevice = CliRun.of("generate", "--model", "tiny-random", "--device", "0", "--out",
                dir.resolve("y.gif").toString());
        assertEquals(1, cpuDevice.exit(), cpuDevice.toString());
        assertTrue(cpuDevice.err().contains("--device") && cpuDevice.err().contains("--backend cpu"),
                cpuDevice.err());
        CliRun bad = CliRun.of("generate", "--model", "tiny-random", "--backend", "metal", "--out",
                dir.resolve("x.gif").toString());
        assertTrue(bad.err().contains("--backend") && bad.err().contains("metal") && bad.err().contains("cuda"),
                bad.err());
    }

    /**
     * {@code --model random:PRESET}: the preset's config and default video size (tiny-4096: 4 frames of 64x64), seeded
     * random weights (the same video twice), bf16 weights with {@code --weights stored}; an unknown preset is refused
     * with the list.
     */
    @Test
    void randomPresetRunsAtItsOwnVideoSize() throws Exception {
        Path a = dir.resolve("preset-a.safetensors");
        Path b = dir.resolve("preset-b.safetensors");
        for (Path p : new Path[] {a, b}) {
            CliRun r = CliRun.of("generate", "--model", "random:tiny-4096", "--steps", "1", "--guidance", "1",
                    "--sampler", "euler", "--out", p.toString());
            assertEquals(0, r.exit(), r.toString());
            assertTrue(r.out().contains("random weights") && r.out().contains("f32"), r.out());
        }
        try (SafetensorsFile fa = SafetensorsFile.open(a); SafetensorsFile fb = SafetensorsFile.open(b);
             Tensor va = fa.load("video"); Tensor vb = fb.load("video")) {
            assertArrayEquals(ModelPreset.TINY_4096.inputShape(), va.shape(), "the preset's 4 frames of 64x64");
            assertArrayEquals(va.toFloatArray(), vb.toFloatArray(), "seeded weights: the same video");
        }
        CliRun half = CliRun.of("generate", "--model", "random:tiny-4096", "--weights", "stored", "--steps", "1",
                "--guidance", "1", "--frames", "1", "--height", "32", "--width", "32", "--out",
                dir.resolve("half.safetensors").toString());
        assertEquals(0, half.exit(), half.toString());
        assertTrue(half.out().contains("bf16"), half.out());
        CliRun bad = CliRun.of("generate", "--model", "random:wan-99b", "--out", dir.resolve("no.gif").toString());
        assertEquals(1, bad.exit(), bad.toString());
        assertTrue(bad.err().contains("random:wan-99b") && bad.err().contains("wan-14b"), bad.err());
        assertFalse(Files.exists(dir.resolve("no.gif")));
    }

    /**
     * {@code --gpus N} starts N ranks of this command (as {@code sparge launch}), which need CUDA and NCCL: here they
     * fail, each line of theirs prefixed with its rank, and the launch returns the failure; a count without
     * {@code --backend cuda}, or out of range, is refused before anything runs.
     */
    @Test
    void gpusRunsTheCommandAsRanksOfAJob() {
        Path gif = dir.resolve("ranks.gif");
        CliRun launched = CliRun.of("generate", "--model", "tiny-random", "--gpus", "2", "--backend", "cuda",
                "--steps", "1", "--out", gif.toString());
        assertTrue(launched.exit() != 0, launched::toString);
        assertTrue(launched.err().contains("[rank 0]") || launched.err().contains("[rank 1]"), launched::toString);
        assertTrue(launched.err().contains("sparge launch: rank"), launched::toString);
        assertFalse(launched.err().contains("Unmatched argument") || launched.err().contains("Usage"),
                "the ranks get this command line, less --gpus: " + launched);
        assertTrue(launched.err().contains("CUDA") || launched.err().contains("NCCL"), "they fail for want of CUDA"
                + " or NCCL: " + launched);
        assertFalse(Files.exists(gif));
        CliRun cpu = CliRun.of("generate", "--model", "tiny-random", "--gpus", "2", "--out", gif.toString());
        assertEquals(1, cpu.exit(), cpu::toString);
        assertTrue(cpu.err().contains("--gpus: got 2 with --backend cpu, expected --backend cuda"), cpu::toString);
        CliRun zero = CliRun.of("generate", "--model", "tiny-random", "--gpus", "0", "--out", gif.toString());
        assertEquals(1, zero.exit(), zero::toString);
        assertTrue(zero.err().contains("--gpus: got 0, expected 1 to"), zero::toString);
        CliRun one = CliRun.of("generate", "--model", "tiny-random", "--gpus", "1", "--steps", "1", "--out",
                gif.toString());
        assertEquals(0, one.exit(), "--gpus 1 runs here: " + one);
    }

    @Test
    void latentModelWritesSafetensorsAndRefusesPictures() throws Exception {
        WanConfig config = WanConfig.tiny(64, 2, 1, 4, false);
        Path model = dir.resolve("latent");
        Files.createDirectories(model);
        WanWeights.save(model, config, WanWeights.randomInit(config, 3));
        Path out = dir.resolve("lat.safetensors");
        CliRun r = CliRun.of("generate", "--model", model.toString(), "--steps", "2", "--frames", "5", "--height",
                "64", "--width", "64", "--guidance", "1", "--out", out.toString());
        assertEquals(0, r.exit(), r.toString());
        try (SafetensorsFile f = SafetensorsFile.open(out); Tensor v = f.load("video")) {
            // 5 frames -> (5 - 1) / 4 + 1 = 2 latent frames; 64 px / 8 = 8
            assertArrayEquals(new int[] {4, 2, 8, 8}, v.shape());
        }
        CliRun gif = CliRun.of("generate", "--model", model.toString(), "--steps", "1", "--frames", "5",
                "--height", "64", "--width", "64", "--out", dir.resolve("x.gif").toString());
        assertEquals(1, gif.exit(), gif.toString());
        assertTrue(gif.err().contains("latent model") && gif.err().contains(".safetensors"), gif.err());
        CliRun frames = CliRun.of("generate", "--model", model.toString(), "--steps", "1", "--frames", "6",
                "--height", "64", "--width", "64", "--out", out.toString());
        assertEquals(1, frames.exit(), frames.toString());
        assertTrue(frames.err().contains("--frames: got 6") && frames.err().contains("4n+1"), frames.err());
    }

    /**
     * A bf16 checkpoint: {@code --weights stored} keeps the matrices bf16 (the CPU GEMM reads them), {@code f32}
     * widens them exactly; the same values either way, so the videos agree to f32 rounding (1e-4 of the largest).
     */
    @Test
    void bf16CheckpointLoadsAsStoredOrAsF32() throws Exception {
        WanConfig config = WanConfig.tiny(64, 2, 1, 4, false);
        Path model = dir.resolve("bf16");
        Files.createDirectories(model);
        Map<String, Tensor> bf16 = new java.util.LinkedHashMap<>();
        WanWeights.randomInit(config, 4).forEach((k, v) -> bf16.put(k, v.to(io.sparge4j.engine.tensor.DType.BF16)));
        WanWeights.save(model, config, bf16);
        Path a = dir.resolve("a.safetensors");
        Path b = dir.resolve("b.safetensors");
        for (String[] run : new String[][] {{"f32", a.toString()}, {"stored", b.toString()}}) {
            CliRun r = CliRun.of("generate", "--model", model.toString(), "--steps", "2", "--frames", "5", "--height",
                    "64", "--width", "64", "--guidance", "1", "--weights", run[0], "--out", run[1]);
            assertEquals(0, r.exit(), r.toString());
        }
        assertSameVideo(a, b, 1e-4, "stored bf16 against widened f32");
        CliRun bad = CliRun.of("generate", "--model", model.toString(), "--weights", "fp8", "--out",
                dir.resolve("c.safetensors").toString());
        assertTrue(bad.err().contains("--weights: got 'fp8', expected f32 or stored"), bad.err());
    }

    @Test
    void forwardWritesTheModelsVelocity() throws Exception {
        WanConfig config = WanConfig.tiny(64, 2, 1, 4, false);
        Path model = dir.resolve("m");
        Files.createDirectories(model);
        Map<String, Tensor> weights = WanWeights.randomInit(config, 11);
        WanWeights.save(model, config, weights);
        Path xFile = dir.resolve("x.safetensors");
        Path cFile = dir.resolve("c.safetensors");
        try (Tensor x = Noise.gaussian(1, 4, 2, 8, 8); Tensor c = Noise.gaussian(2, 5, config.textDim())) {
            Safetensors.write(xFile, Map.of("x", x));
            Safetensors.write(cFile, Map.of("context", c));
            Path out = dir.resolve("v.safetensors");
            CliRun r = CliRun.of("forward", "--model", model.toString(), "--latents", xFile.toString(), "--timestep",
                    "937.5", "--text-embeddings", cFile.toString(), "--attention", "dense", "--out", out.toString());
            assertEquals(0, r.exit(), r.toString());
            WanModel direct = new WanModel(config, weights, WanAttention.dense());
            try (SafetensorsFile f = SafetensorsFile.open(out); Tensor v = f.load("v");
                 Tensor expected = direct.forward(x, 937.5, c)) {
                assertArrayEquals(expected.toFloatArray(), v.toFloatArray(), "the CLI runs the same model");
            }
        }
    }

    @Test
    void badRequestsSayWhatToDoAndWriteNothing() {
        Path gif = dir.resolve("none.gif");
        CliRun prompt = CliRun.of("generate", "--model", "tiny-random", "--prompt", "a red circle", "--out",
                gif.toString());
        assertEquals(1, prompt.exit(), prompt.toString());
        assertTrue(prompt.err().contains("--text-embeddings"), prompt.err());
        CliRun parent = CliRun.of("generate", "--model", "tiny-random", "--out",
                dir.resolve("missing/v.gif").toString());
        assertEquals(1, parent.exit(), parent.toString());
        assertTrue(parent.err().contains("does not exist"), parent.err());
        CliRun model = CliRun.of("generate", "--model", dir.resolve("nope").toString(), "--out", gif.toString());
        assertEquals(1, model.exit(), model.toString());
        assertTrue(model.err().contains("tiny-random"), model.err());
        CliRun mode = CliRun.of("generate", "--model", "tiny-random", "--attention", "sparse", "--out",
                gif.toString());
        assertEquals(1, mode.exit(), mode.toString());
        assertTrue(mode.err().contains("--attention: got 'sparse'"), mode.err());
        assertFalse(Files.exists(gif), "nothing written after a refusal");
    }

    private static Float[] box(float[] x) {
        Float[] out = new Float[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i];
        }
        return out;
    }

    /** The two files' tensor 'video' agree within {@code relTol} of the first's largest value (not near zero). */
    private static void assertSameVideo(Path expected, Path actual, double relTol, String what) throws Exception {
        try (SafetensorsFile fa = SafetensorsFile.open(expected); SafetensorsFile fb = SafetensorsFile.open(actual);
             Tensor va = fa.load("video"); Tensor vb = fb.load("video")) {
            float[] x = va.toFloatArray();
            float[] y = vb.toFloatArray();
            assertEquals(x.length, y.length, what + ": video sizes");
            double scale = 0;
            double diff = 0;
            for (int i = 0; i < x.length; i++) {
                scale = Math.max(scale, Math.abs(x[i]));
                diff = Math.max(diff, Math.abs(x[i] - y[i]));
            }
            assertTrue(scale > 0.1, what + ": video (nearly) zero: max " + scale);
            assertTrue(diff <= relTol * scale, what + ": max |diff| " + diff + " > " + relTol + " * " + scale);
        }
    }
}
