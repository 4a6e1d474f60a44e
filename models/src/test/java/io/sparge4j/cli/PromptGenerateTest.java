package io.sparge4j.cli;

import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.io.SafetensorsFile;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.pipeline.BundledModel;
import io.sparge4j.models.pipeline.ModelDirectory;
import io.sparge4j.models.pipeline.TinyModelDirs;
import io.sparge4j.models.sampling.ClassifierFreeGuidance;
import io.sparge4j.models.sampling.ConditionalVelocityModel;
import io.sparge4j.models.sampling.FlowMatchEuler;
import io.sparge4j.models.sampling.FlowSchedule;
import io.sparge4j.models.sampling.Noise;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanModel;
import io.sparge4j.models.wan.WanWeights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code sparge generate --prompt} on a model directory with a text encoder (a tiny random one saved by the test):
 * the prompt goes through the encoder, the unconditional branch of guidance is the empty prompt (the CLI's video
 * equals, bit for bit, one sampled by hand with a spy that records both contexts), clip size and attention come
 * from generation.json unless flags say otherwise, and different prompts give different videos.
 */
class PromptGenerateTest {
    @TempDir
    Path dir;

    @Test
    void promptGoesThroughTheEncoderAndTheEmptyPromptIsTheNegative() throws Exception {
        Path model = TinyModelDirs.write(dir.resolve("model"), 11);
        Path out = dir.resolve("v.safetensors");
        String prompt = "a red circle moving right";
        CliRun r = CliRun.of("generate", "--model", model.toString(), "--prompt", prompt, "--steps", "3",
                "--sampler", "euler", "--guidance", "4", "--seed", "9", "--out", out.toString());
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("attention hybrid"), "generation.json's attention: " + r.out());
        float[] cli = video(out, new int[] {3, 4, 16, 16});   // generation.json's 4 frames of 16x16

        // By hand: the same model, the prompt's and the EMPTY prompt's features, guidance 4, Euler, seed 9.
        List<float[]> seen = new ArrayList<>();
        try (ModelDirectory m = ModelDirectory.load(model, WanWeights.Precision.F32);
             WanModel wan = new WanModel(m.config(), m.weights(), m.generation().attention());
             Tensor context = m.context(prompt, "test");
             Tensor empty = m.context("", "test");
             Tensor noise = Noise.gaussian(9, 3, 4, 16, 16)) {
            ConditionalVelocityModel spy = (x, t, ctx, step) -> {
                seen.add(ctx.toFloatArray());
                return wan.forward(x, t, ctx, step);
            };
            var cfg = new ClassifierFreeGuidance(spy, context, empty, 4.0);
            try (Tensor v = new FlowMatchEuler().sample(cfg, noise, FlowSchedule.wan(3, 5.0),
                    (s, n, t, ns) -> { })) {
                assertArrayEquals(v.toFloatArray(), cli, "the CLI guides against the empty prompt");
            }
            float[] c = context.toFloatArray();
            assertEquals(6, seen.size(), "two branches per step");
            assertTrue(seen.stream().anyMatch(s -> java.util.Arrays.equals(s, c)), "the prompt's branch");
            assertTrue(seen.stream().anyMatch(s -> java.util.Arrays.equals(s, empty.toFloatArray())
                    && !java.util.Arrays.equals(s, c)), "the empty prompt's branch");
        }

        Path other = dir.resolve("w.safetensors");
        CliRun r2 = CliRun.of("generate", "--model", model.toString(), "--prompt", "a blue square moving up",
                "--steps", "3", "--sampler", "euler", "--guidance", "4", "--seed", "9", "--out", other.toString());
        assertEquals(0, r2.exit(), r2.toString());
        float[] b = video(other, new int[] {3, 4, 16, 16});
        assertTrue(maxAbsDiff(cli, b) > 1e-2, "another prompt, another video: " + maxAbsDiff(cli, b));

        Path neg = dir.resolve("n.safetensors");
        CliRun r3 = CliRun.of("generate", "--model", model.toString(), "--prompt", prompt, "--negative-prompt",
                "a green triangle", "--steps", "3", "--sampler", "euler", "--guidance", "4", "--seed", "9", "--out",
                neg.toString());
        assertEquals(0, r3.exit(), r3.toString());
        assertTrue(maxAbsDiff(cli, video(neg, new int[] {3, 4, 16, 16})) > 1e-2, "a negative prompt changes it");
    }

    @Test
    void flagsWinOverGenerationJsonAndAGifIsWritten() throws Exception {
        Path model = TinyModelDirs.write(dir.resolve("model"), 12);
        Path out = dir.resolve("v.safetensors");
        CliRun r = CliRun.of("generate", "--model", model.toString(), "--prompt", "a red circle", "--steps", "2",
                "--frames", "2", "--width", "8", "--attention", "dense", "--out", out.toString());
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("attention dense"), r.out());
        video(out, new int[] {3, 2, 16, 8});
        Path gif = dir.resolve("v.gif");
        CliRun g = CliRun.of("generate", "--model", model.toString(), "--prompt", "a red circle", "--steps", "2",
                "--out", gif.toString());
        assertEquals(0, g.exit(), g.toString());
        assertTrue(Files.size(gif) > 0);
    }

    @Test
    void errorsSayWhatToDo() throws Exception {
        CliRun r = CliRun.of("generate", "--model", "tiny-random", "--prompt", "a red circle", "--out",
                dir.resolve("x.gif").toString());
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("--prompt") && r.err().contains("no text encoder"), r.err());
        if (!BundledModel.TINY_DEMO.missingFiles().isEmpty()) {
            CliRun d = CliRun.of("generate", "--model", "tiny-demo", "--prompt", "a red circle moving right", "--out",
                    dir.resolve("demo.gif").toString());
            assertEquals(1, d.exit());
            assertTrue(d.err().contains("tiny-demo") && d.err().contains("sparge pretrain")
                    && d.err().contains("sparge export"), d.err());
        }
        Path model = TinyModelDirs.write(dir.resolve("model"), 13);
        CliRun both = CliRun.of("generate", "--model", model.toString(), "--prompt", "a", "--text-embeddings",
                "x.safetensors", "--out", dir.resolve("y.gif").toString());
        assertEquals(1, both.exit());
        assertTrue(both.err().contains("got both"), both.err());
        assertFalse(Files.exists(dir.resolve("x.gif")));
    }

    /**
     * --prompt on OpenCL (PoCL) against the CPU from the same seed: the same video within 1e-3 of its largest pixel
     * (f32 rounding through three Euler steps with guidance; a wrong context on either side is O(1)).
     */
    @Test
    void openClGeneratesTheCpuVideoFromAPrompt() throws Exception {
        assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): --backend opencl"
                + " --prompt skipped");
        Path model = TinyModelDirs.write(dir.resolve("model"), 14, 4, 32, 32,
                WanAttention.defaults().withTopk(0.3).withTopp(0.6), DType.F32);
        float[][] videos = new float[2][];
        String[] backends = {"cpu", "opencl"};
        for (int i = 0; i < 2; i++) {
            Path out = dir.resolve(backends[i] + ".safetensors");
            CliRun r = CliRun.of("generate", "--model", model.toString(), "--prompt", "a yellow triangle moving left",
                    "--steps", "3", "--sampler", "euler", "--seed", "5", "--backend", backends[i], "--out",
                    out.toString());
            assertEquals(0, r.exit(), r.toString());
            videos[i] = video(out, new int[] {3, 4, 32, 32});
        }
        double scale = 0;
        for (float v : videos[0]) {
            scale = Math.max(scale, Math.abs(v));
        }
        assertTrue(scale > 0.1, "video nearly zero: " + scale);
        assertTrue(maxAbsDiff(videos[0], videos[1]) <= 1e-3 * scale, "max |cpu - opencl| "
                + maxAbsDiff(videos[0], videos[1]) + " of " + scale);
    }

    private static float[] video(Path file, int[] shape) throws Exception {
        try (SafetensorsFile f = SafetensorsFile.open(file); Tensor v = f.load("video")) {
            assertArrayEquals(shape, v.shape());
            return v.toFloatArray();
        }
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    /**
     * The README's main job exactly as written (20 steps, the default seed, dense): the shipped model's clip must
     * match its prompt by the evaluator, the "Done when". About 16 s on two cores. A retrained tiny-demo that
     * draws the README's prompt wrong fails here, not in a user's first command.
     */
    @Test
    void theShippedTinyDemoRunsTheReadmeJob() throws Exception {
        assumeTrue(BundledModel.TINY_DEMO.missingFiles().isEmpty(), "tiny-demo is not shipped in this build: "
                + BundledModel.TINY_DEMO.missingFiles());
        Path gif = dir.resolve("demo.gif");
        CliRun run = CliRun.of("generate", "--model", "tiny-demo", "--prompt", "a red circle moving right", "--steps",
                "20", "--out", gif.toString());
        assertEquals(0, run.exit(), run.toString());
        String verdict = run.out().lines().filter(l -> l.startsWith("evaluator: ")).findFirst()
                .orElseThrow(() -> new AssertionError("no evaluator line: " + run));
        assertTrue(verdict.startsWith("evaluator: colour red (ok), shape circle (ok), direction right (ok), "),
                verdict);
        assertTrue(verdict.endsWith("; matches the prompt"), verdict);
        ImageReader reader = ImageIO.getImageReadersByFormatName("gif").next();
        try (ImageInputStream in = ImageIO.createImageInputStream(gif.toFile())) {
            reader.setInput(in);
            assertEquals(16, reader.getNumImages(true), "generation.json's 16 frames");
            BufferedImage frame = reader.read(0);
            assertEquals(32, frame.getWidth());
            assertEquals(32, frame.getHeight());
        } finally {
            reader.dispose();
        }
    }
}
