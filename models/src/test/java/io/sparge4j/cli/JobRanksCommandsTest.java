package io.sparge4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.distributed.InProcessCommunicator;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.io.SafetensorsFile;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The training and generation commands as ranks of a job ({@link JobRanks}), two ranks as threads of this process
 * with in-process communicators in place of NCCL. Training: the same run as one process at the same global batch
 * ({@code --micro-batches 2}), rank 0 alone writing the log, the model and the messages, and {@code --resume}
 * continuing and extending the sharded checkpoint as one process extends its own. Tolerance: the step-1 loss is exact (the same micro-batches, the same weights);
 * later losses and the final weights within 1e-5 relative (the gradient mean over ranks adds in another order than
 * the single process's accumulation, a few f32 ulps per step).
 */
class JobRanksCommandsTest {
    @TempDir
    Path dir;

    private static List<CliRun> ranks(String... args) {
        return InProcessCommunicator.runRanks(2, comm -> {
            JobRanks.IN_PROCESS.set(comm);
            try {
                return CliRun.of(args);
            } finally {
                JobRanks.IN_PROCESS.remove();
            }
        });
    }

    @Test
    void twoRanksTrainTheRunOneProcessTrains() throws Exception {
        Path alone = dir.resolve("alone");
        Path job = dir.resolve("job");
        CliRun one = CliRun.of(TrainingCommandsTest.pretrain(alone, "--steps", "3", "--micro-batches", "2",
                "--checkpoint-every", "2"));
        assertEquals(0, one.exit(), one::toString);
        List<CliRun> two = ranks(TrainingCommandsTest.pretrain(job, "--steps", "3", "--micro-batches", "2",
                "--checkpoint-every", "2"));
        for (CliRun r : two) {
            assertEquals(0, r.exit(), r::toString);
        }
        assertTrue(two.get(0).out().contains("(3 steps)") && two.get(0).err().contains("rank 0 of 2"),
                two.get(0)::toString);
        assertFalse(two.get(1).out().contains("steps)") || two.get(1).err().contains("sparge: step"),
                "rank 1 is silent: " + two.get(1));
        List<JsonNode> want = TrainingCommandsTest.log(alone);
        List<JsonNode> got = TrainingCommandsTest.log(job);
        assertEquals(3, got.size(), "rank 0 alone writes the log");
        assertSameLossCurve(want, got, 3);
        assertClose(alone.resolve("model/diffusion_pytorch_model.safetensors"),
                job.resolve("model/diffusion_pytorch_model.safetensors"));
        assertClose(alone.resolve("model/text_encoder.safetensors"), job.resolve("model/text_encoder.safetensors"));
        try (Stream<Path> files = Files.walk(job.resolve("checkpoints"))) {
            assertTrue(files.anyMatch(p -> p.getFileName().toString().contains("rank")),
                    "a sharded checkpoint: one part per rank");
        }

        // --resume finds the sharded checkpoint (at the last step: nothing left to run), and extends the run as one
        // process extends its own: the same losses for steps 4 and 5
        List<CliRun> again = ranks("pretrain", "--out", job.toString(), "--resume", "--threads", "2");
        again.forEach(r -> assertEquals(0, r.exit(), r::toString));
        assertTrue(again.get(0).err().contains("resuming") && again.get(0).err().contains("at step 3 of 3"),
                again.get(0)::toString);
        CliRun oneMore = CliRun.of("pretrain", "--out", alone.toString(), "--resume", "--steps", "5", "--threads",
                "2");
        assertEquals(0, oneMore.exit(), oneMore::toString);
        List<CliRun> twoMore = ranks("pretrain", "--out", job.toString(), "--resume", "--steps", "5", "--threads",
                "2");
        twoMore.forEach(r -> assertEquals(0, r.exit(), r::toString));
        want = TrainingCommandsTest.log(alone);
        got = TrainingCommandsTest.log(job);
        assertEquals(5, got.size());
        for (int i = 3; i < 5; i++) {
            double w = want.get(i).get("loss").asDouble();
            assertEquals(w, got.get(i).get("loss").asDouble(), 1e-5 * w, "loss of step " + (i + 1) + " after resume");
        }
    }

    /** Distillation with a calibrated hybrid mask: every rank calibrates alike, and step 1 equals one process's. */
    @Test
    void twoRanksDistillAsOneProcess() throws Exception {
        Path base = dir.resolve("base");
        assertEquals(0, CliRun.of(TrainingCommandsTest.pretrain(base, "--steps", "1")).exit());
        String[] args = {"finetune", "--init", base.resolve("model").toString(), "--objective", "distill",
            "--attention", "hybrid", "--target-sparsity", "0.6", "--steps", "2", "--micro-batches", "2", "--lr", "1e-3",
            "--warmup", "1", "--threads", "2", "--out"};
        CliRun one = CliRun.of(with(args, dir.resolve("alone").toString()));
        assertEquals(0, one.exit(), one::toString);
        List<CliRun> two = ranks(with(args, dir.resolve("job").toString()));
        two.forEach(r -> assertEquals(0, r.exit(), r::toString));
        assertTrue(two.get(0).err().contains("calibrated") && !two.get(1).err().contains("calibrated"),
                "rank 0 alone reports the calibration");
        List<JsonNode> want = TrainingCommandsTest.log(dir.resolve("alone"));
        List<JsonNode> got = TrainingCommandsTest.log(dir.resolve("job"));
        assertEquals(2, got.size());
        assertEquals(want.get(0).get("loss").asDouble(), got.get(0).get("loss").asDouble(), 0.0, "step 1");
        double w = want.get(1).get("loss").asDouble();
        assertEquals(w, got.get(1).get("loss").asDouble(), 1e-5 * w, "step 2");
        assertEquals(want.get(0).get("metrics").get("sparsity").asDouble(),
                got.get(0).get("metrics").get("sparsity").asDouble(), 0.0, "the same calibrated mask");
    }

    /**
     * {@code --sharding full-shard} (ZeRO-3: the blocks gathered as they run): the one-process losses (step 1 bit for
     * bit), the same model, the strategy in run.json, and a resume that keeps it. A bad value is refused.
     */
    @Test
    void twoRanksDistillFullyShardedAsOneProcessAndResume() throws Exception {
        Path base = dir.resolve("base");
        assertEquals(0, CliRun.of(TrainingCommandsTest.pretrain(base, "--steps", "1")).exit());
        String[] args = {"finetune", "--init", base.resolve("model").toString(), "--objective", "distill",
            "--attention", "hybrid", "--topk", "0.3", "--topp", "0.5", "--steps", "2", "--micro-batches", "2", "--lr",
            "1e-3", "--warmup", "1", "--threads", "2", "--checkpoint-blocks", "--sharding", "full-shard", "--out"};
        Path alone = dir.resolve("alone");
        Path job = dir.resolve("job");
        CliRun one = CliRun.of(with(args, alone.toString()));
        assertEquals(0, one.exit(), one::toString);
        List<CliRun> two = ranks(with(args, job.toString()));
        two.forEach(r -> assertEquals(0, r.exit(), r::toString));
        assertTrue(Files.readString(job.resolve("run.json")).contains("\"sharding\" : \"full-shard\""),
                Files.readString(job.resolve("run.json")));
        List<CliRun> more = ranks("finetune", "--out", job.toString(), "--resume", "--steps", "3", "--threads", "2");
        more.forEach(r -> assertEquals(0, r.exit(), r::toString));
        CliRun oneMore = CliRun.of("finetune", "--out", alone.toString(), "--resume", "--steps", "3", "--threads",
                "2");
        assertEquals(0, oneMore.exit(), oneMore::toString);
        List<JsonNode> want = TrainingCommandsTest.log(alone);
        List<JsonNode> got = TrainingCommandsTest.log(job);
        assertEquals(3, got.size());
        assertSameLossCurve(want, got, 3);
        assertClose(alone.resolve("model/diffusion_pytorch_model.safetensors"),
                job.resolve("model/diffusion_pytorch_model.safetensors"));

        CliRun bad = CliRun.of(TrainingCommandsTest.pretrain(dir.resolve("bad"), "--steps", "1", "--sharding",
                "zero-9"));
        assertTrue(bad.exit() != 0 && bad.err().contains("--sharding") && bad.err().contains("zero-9")
                && bad.err().contains("full-shard"), bad::toString);
    }

    /**
     * The first {@code steps} losses of a job against one process's: step 1 bit for bit (same parameters, seeds and
     * order), the later ones within 1e-5 relative (the ranks' gradient means round differently).
     */
    private static void assertSameLossCurve(List<JsonNode> want, List<JsonNode> got, int steps) {
        assertEquals(want.get(0).get("loss").asDouble(), got.get(0).get("loss").asDouble(), 0.0, "step 1");
        for (int i = 1; i < steps; i++) {
            double w = want.get(i).get("loss").asDouble();
            assertEquals(w, got.get(i).get("loss").asDouble(), 1e-5 * w, "loss of step " + (i + 1));
        }
    }

    private static String[] with(String[] args, String last) {
        String[] all = Arrays.copyOf(args, args.length + 1);
        all[args.length] = last;
        return all;
    }

    @Test
    void aGlobalBatchThatDoesNotSplitOverTheRanksIsRefusedOnEveryRank() {
        List<CliRun> two = ranks(TrainingCommandsTest.pretrain(dir.resolve("odd"), "--steps", "1", "--micro-batches",
                "3"));
        for (CliRun r : two) {
            assertEquals(1, r.exit(), r::toString);
            assertTrue(r.err().contains("multiple of the world size 2"), r::toString);
        }
    }

    /**
     * {@code sparge generate} as two ranks (PoCL here; the sequence split, the all-to-alls through the host): the same
     * video as one process on the same backend within 1e-5 of the largest pixel, written by rank 0 alone.
     */
    @Test
    void twoRanksGenerateTheOneDeviceVideo() throws Exception {
        assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): sequence-parallel"
                + " generate skipped");
        String[] args = {"generate", "--model", "tiny-demo", "--prompt", "a red circle moving right", "--steps", "2",
            "--frames", "8", "--height", "16", "--width", "16", "--seed", "3", "--backend", "opencl", "--out"};
        Path alone = dir.resolve("alone.safetensors");
        Path job = dir.resolve("job.safetensors");
        CliRun one = CliRun.of(with(args, alone.toString()));
        assertEquals(0, one.exit(), one::toString);
        List<CliRun> two = ranks(with(args, job.toString()));
        two.forEach(r -> assertEquals(0, r.exit(), r::toString));
        assertTrue(two.get(0).out().contains("wrote") && !two.get(1).out().contains("wrote"), "rank 0 writes");
        try (SafetensorsFile fa = SafetensorsFile.open(alone); SafetensorsFile fb = SafetensorsFile.open(job);
             Tensor a = fa.load("video"); Tensor b = fb.load("video")) {
            float[] x = a.toFloatArray();
            float[] y = b.toFloatArray();
            double scale = 0;
            for (float v : x) {
                scale = Math.max(scale, Math.abs(v));
            }
            assertTrue(scale > 0);
            for (int i = 0; i < x.length; i++) {
                assertEquals(x[i], y[i], 1e-5 * scale, "pixel " + i);
            }
        }
    }

    /**
     * {@code model-bench} as two ranks (PoCL): the sequence-parallel model times dense and hybrid steps and rank 0
     * alone prints them with {@code "world": 2} and the one-process token count; a calibration, whose per-rank
     * statistics could disagree, is refused with what to do instead.
     */
    @Test
    void twoRanksTimeTheSequenceParallelModelAndRankZeroReports() throws Exception {
        assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): sequence-parallel"
                + " model-bench skipped");
        String[] args = {"model-bench", "--config", "tiny-4096", "--layers", "1", "--frames", "4", "--height", "32",
            "--width", "32", "--modes", "dense,hybrid", "--topp", "0.5", "--warmup", "0", "--reps", "1", "--backend",
            "opencl"};
        List<CliRun> two = ranks(args);
        two.forEach(r -> assertEquals(0, r.exit(), r::toString));
        assertTrue(two.get(1).out().isBlank(), "rank 1 prints nothing: " + two.get(1));
        List<String> lines = two.get(0).out().lines().toList();
        assertEquals(3, lines.size(), "dense, hybrid and the speedup line: " + two.get(0));
        ObjectMapper json = new ObjectMapper();
        for (String line : lines.subList(0, 2)) {
            JsonNode n = json.readTree(line);
            assertEquals(2, n.get("world").asInt(), line);
            assertEquals(4 * 16 * 16, n.get("tokens").asInt(), line);
            assertTrue(n.get("step_ms_median").asDouble() > 0, line);
        }
        double jobSparsity = json.readTree(lines.get(1)).get("sparsity").asDouble();
        assertTrue(jobSparsity > 0, "hybrid drops blocks: " + lines.get(1));
        // the reported sparsity covers both ranks' heads: one process running all of them reports the same
        CliRun alone = CliRun.of(args);
        assertEquals(0, alone.exit(), alone::toString);
        double oneProcess = json.readTree(alone.out().lines().toList().get(1)).get("sparsity").asDouble();
        assertEquals(oneProcess, jobSparsity, 1e-12, "the job's sparsity is every head's, as one process measures it");
        // calibration in a job: every rank bisects on the job's sparsity and settles on the same p
        List<CliRun> calibrated = ranks(with(with(args, "--target-sparsity"), "0.6"));
        calibrated.forEach(r -> assertEquals(0, r.exit(), r::toString));
        JsonNode hybrid = json.readTree(calibrated.get(0).out().lines().toList().get(1));
        CliRun calibratedAlone = CliRun.of(with(with(args, "--target-sparsity"), "0.6"));
        assertEquals(0, calibratedAlone.exit(), calibratedAlone::toString);
        JsonNode hybridAlone = json.readTree(calibratedAlone.out().lines().toList().get(1));
        assertEquals(hybridAlone.get("topp").asDouble(), hybrid.get("topp").asDouble(), 0.0, "the same p as alone");
        assertEquals(hybridAlone.get("sparsity").asDouble(), hybrid.get("sparsity").asDouble(), 1e-12);
    }

    /**
     * {@code collective-bench} on two in-process ranks (the emulator, the host path): every operation and size checked
     * and reported by rank 0 alone, in nccl-tests' units; alone off CUDA it says NCCL needs CUDA.
     */
    @Test
    void collectiveBenchReportsCheckedCasesFromRankZero() throws Exception {
        List<CliRun> two = ranks("collective-bench", "--backend", "emulator", "--sizes", "1K,3001", "--reps", "2");
        two.forEach(r -> assertEquals(0, r.exit(), r::toString));
        assertTrue(two.get(1).out().isBlank(), "rank 1 prints nothing: " + two.get(1));
        List<String> lines = two.get(0).out().lines().toList();
        assertEquals(8, lines.size(), two.get(0)::toString);
        ObjectMapper json = new ObjectMapper();
        for (String line : lines) {
            JsonNode n = json.readTree(line);
            assertEquals(2, n.get("world").asInt());
            assertTrue(n.get("checked").asBoolean() && !n.get("direct").asBoolean(), line);
            assertTrue(n.get("median_ms").asDouble() > 0 && n.get("busbw_gbs").asDouble() > 0, line);
            double algbw = n.get("algbw_gbs").asDouble();
            double factor = n.get("case").asText().equals("all_reduce") ? 1.0 : 0.5;   // 2(n-1)/n, (n-1)/n at n = 2
            assertEquals(algbw * factor, n.get("busbw_gbs").asDouble(), 2e-3 + 1e-3 * algbw, line);
        }
        assertEquals(1024 * 4, json.readTree(lines.get(0)).get("bytes").asLong(), "all_reduce of 1K f32");
        assertEquals(2 * 3000 * 4, json.readTree(lines.get(3)).get("bytes").asLong(), "all_gather of 3000 (even) x 2");
        CliRun alone = CliRun.of("collective-bench", "--backend", "emulator");
        assertEquals(1, alone.exit(), alone::toString);
        assertTrue(alone.err().contains("--backend") && alone.err().contains("cuda"), alone::toString);
        CliRun bad = CliRun.of("collective-bench", "--sizes", "12Q");
        assertEquals(2, bad.exit(), bad::toString);
        assertTrue(bad.err().contains("--sizes") && bad.err().contains("12Q"), bad::toString);
    }

    @Test
    void aLaunchedRankMustUseItsOwnCudaDevice() {
        Map<String, String> env = Map.of("WORLD_SIZE", "2", "RANK", "1", "LOCAL_RANK", "1", "MASTER_ADDR",
                "127.0.0.1", "MASTER_PORT", "29500");
        IllegalArgumentException cpu = assertThrows(IllegalArgumentException.class,
                () -> JobRanks.open(env, null, null));
        assertTrue(cpu.getMessage().contains("--backend") && cpu.getMessage().contains("cpu")
                && cpu.getMessage().contains("cuda"), cpu.getMessage());
        IllegalArgumentException device = assertThrows(IllegalArgumentException.class,
                () -> JobRanks.open(env, new BackendSelection("cuda", null), "0"));
        assertTrue(device.getMessage().contains("--device") && device.getMessage().contains("LOCAL_RANK = 1"),
                device.getMessage());
        try (JobRanks alone = JobRanks.open(Map.of("WORLD_SIZE", "1"), null, null)) {
            assertTrue(alone.leader() && alone.comm() == null);
        }
        try (JobRanks alone = JobRanks.open(Map.of(), null, null)) {
            assertTrue(alone.leader() && alone.comm() == null);
        }
    }

    private static void assertClose(Path a, Path b) throws Exception {
        try (SafetensorsFile fa = SafetensorsFile.open(a); SafetensorsFile fb = SafetensorsFile.open(b)) {
            assertEquals(fa.names(), fb.names());
            for (String name : fa.names()) {
                try (Tensor x = fa.load(name, DType.F32); Tensor y = fb.load(name, DType.F32)) {
                    float[] xs = x.toFloatArray();
                    float[] ys = y.toFloatArray();
                    double scale = 0;
                    for (float v : xs) {
                        scale = Math.max(scale, Math.abs(v));
                    }
                    for (int i = 0; i < xs.length; i++) {
                        assertEquals(xs[i], ys[i], 1e-5 * scale + 1e-7, name + "[" + i + "]");
                    }
                }
            }
        }
    }
}
