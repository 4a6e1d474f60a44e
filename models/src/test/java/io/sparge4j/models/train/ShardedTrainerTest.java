package io.sparge4j.models.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.engine.distributed.InProcessCommunicator;
import io.sparge4j.engine.distributed.ShardedParameters;
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

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The sharded data-parallel trainer, its ranks as threads ({@link InProcessCommunicator}), against the single-process
 * {@link Trainer} at the same global batch: every step's loss, gradient norm, learning rate and metrics, the final
 * parameters and the AdamW moments (the ranks' shards laid end to end) agree within stated float tolerances; every
 * rank ends with the same parameters, bit for bit. Then the errors: ranks starting from different parameters or
 * configurations, a global batch the world size does not divide, a micro-batch failing on one rank.
 *
 * <p>Tolerances: the sharded gradient is the float64 mean over ranks (rounded once to f32) of each rank's f32 sum,
 * where the trainer adds all micro-batches in f32 in order, so gradients differ by a few f32 ulps. AdamW divides the
 * moment by the root of the second moment, so after a few steps the parameters differ by a few ulps of the update
 * (lr times about 1). Losses of the first step are equal bit for bit (same parameters, same seeds, summed in the same
 * order); later ones differ by the parameters' differences.
 */
class ShardedTrainerTest {
    /** Relative tolerance on losses and gradient norms after the first step. */
    private static final double LOSS_RTOL = 1e-5;
    /** Absolute tolerance on parameters and moments, as a fraction of the peak learning rate per step taken. */
    private static final double PARAM_ATOL_PER_LR_STEP = 1e-4;

    /** Pixel space, dim 32, 2 heads of 16, 2 layers; text rows 8 of width 16 (WanTrainingTaskTest's). */
    private static final WanConfig CONFIG = new WanConfig(32, 64, 2, 2, 3, 3, 16, 8, 32, List.of(1, 2, 2), 1e-6,
            true, true, true, List.of(1, 1, 1));
    /** 8 frames of 24 x 24: 8 x 12 x 12 = 1152 tokens, the smallest clip the generator makes. */
    private static final ClipSpec SPEC = ClipSpec.of(8, 24, 24);
    private static final WanAttention HYBRID = WanAttention.defaults().withMode(MaskMode.HYBRID).withBlocks(64, 32)
            .withTopk(0.1).withTopp(0.5);

    /** What one rank ends with; {@code pieces} say which parameter elements its moments are. */
    private record RankResult(List<TrainerStepLog> logs, Map<String, float[]> params, float[] expAvg,
            float[] expAvgSq, List<ShardedParameters.Piece> pieces) {
    }

    private static TrainerConfig config(int steps, int globalBatch, double lr, double maxGradNorm) {
        return new TrainerConfig(steps, globalBatch, 4321, maxGradNorm, AdamWConfig.pytorchDefaults(0.01),
                LrSchedule.warmupCosine(lr, 1, steps, lr / 10), 0, 1, 10);
    }

    // ---------------------------------------------------------------- matches with the single-process trainer

    @Test
    void wanDistillationMatchesTheSingleProcessTrainerOnTwoRanks() {
        assertMatchesTrainer(2, () -> wanDistill(51, false), config(3, 2, 3e-3, 1.0));
    }

    @Test
    void wanDistillationMatchesTheSingleProcessTrainerOnThreeRanks() {
        assertMatchesTrainer(3, () -> wanDistill(52, false), config(3, 3, 3e-3, 1.0));
    }

    /** Activation checkpointing (blocks recomputed in the backward) changes nothing in the numbers. */
    @Test
    void wanDistillationWithCheckpointedBlocksMatchesOnTwoRanks() {
        assertMatchesTrainer(2, () -> wanDistill(53, true), config(3, 2, 3e-3, 1.0));
    }

    @Test
    void toyTaskMatchesOnFourRanks() {
        // a clip of 0.05 is below the norm of these gradients: clipping is exercised
        assertMatchesTrainer(4, () -> new ToyMlpTask(8), config(5, 4, 1e-2, 0.05));
    }

    @Test
    void toyTaskWithTwoMicroBatchesPerRankMatchesOnFourRanks() {
        assertMatchesTrainer(4, () -> new ToyMlpTask(9), config(5, 8, 1e-2, 0));
    }

    /** A second learning rate for some parameters (fc1's, split over the ranks' shards) is applied on every rank. */
    @Test
    void toyTaskWithAScaledLrGroupMatchesOnFourRanks() {
        TrainerConfig c = config(5, 4, 1e-2, 0);
        TrainerConfig scaled = new TrainerConfig(c.steps(), c.microBatches(), c.seed(), c.maxGradNorm(),
                c.optimizer().withLrScale("fc1\\..*", 3), c.schedule(), c.checkpointEvery(), c.keepLast(),
                c.historyTail());
        assertMatchesTrainer(4, () -> new ToyMlpTask(11), scaled);
    }

    @Test
    void toyTaskOnOneRankIsTheTrainerBitForBit() {
        TrainerConfig c = config(4, 3, 1e-2, 0.5);
        List<RankResult> ranks = runSharded(1, () -> new ToyMlpTask(10), c);
        ToyMlpTask single = new ToyMlpTask(10);
        Trainer trainer = new Trainer(single, c, TrainerOutputs.none());
        List<TrainerStepLog> want = run(trainer);
        for (int i = 0; i < want.size(); i++) {
            assertEquals(want.get(i).loss(), ranks.getFirst().logs.get(i).loss(), 0.0, "loss of step " + (i + 1));
            assertEquals(want.get(i).gradNorm(), ranks.getFirst().logs.get(i).gradNorm(),
                    1e-14 * want.get(i).gradNorm(), "grad norm of step " + (i + 1) + " (float64, other chunking)");
        }
        single.parameters().forEach((k, v) -> assertArrayEquals(v.toFloatArray(), ranks.getFirst().params.get(k), k));
    }

    /** Every rank is given the same log file; rank 0 alone writes it, one line per step. */
    @Test
    void rankZeroAloneWritesTheLog(@TempDir Path dir) throws IOException {
        Path log = dir.resolve("train.jsonl");
        TrainerConfig c = config(3, 2, 1e-2, 1.0);
        List<List<TrainerStepLog>> logs = InProcessCommunicator.runRanks(2, comm -> {
            try (ShardedTrainer t = new ShardedTrainer(new ToyMlpTask(4), c, new TrainerOutputs(null, log, false),
                    comm)) {
                return t.run();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        List<String> lines = Files.readAllLines(log);
        assertEquals(3, lines.size(), String.join("\n", lines));
        ObjectMapper json = new ObjectMapper();
        for (int i = 0; i < lines.size(); i++) {
            JsonNode n = json.readTree(lines.get(i));
            assertEquals(i + 1, n.get("step").asLong());
            assertEquals(logs.get(1).get(i).loss(), n.get("loss").asDouble(), 0.0, "rank 1 reports rank 0's loss");
        }
    }

    private static WanTrainingTask wanDistill(long seed, boolean checkpointBlocks) {
        return wanDistill(seed, checkpointBlocks, new LinkedHashMap<>());
    }

    /** @param teacherParams filled with the frozen teacher's parameters (its own tensors, a copy of the student's) */
    private static WanTrainingTask wanDistill(long seed, boolean checkpointBlocks, Map<String, Tensor> teacherParams) {
        WanGraph student = new WanGraph(CONFIG, TaskFixtures.parameters(CONFIG, seed), HYBRID, checkpointBlocks);
        teacherParams.putAll(TaskFixtures.copy(student.parameters()));
        WanGraph teacher = new WanGraph(CONFIG, teacherParams, WanAttention.dense(), false);
        WordTokenizer tokenizer = new WordTokenizer(Captions.vocabulary());
        TextEncoder text = TextEncoder.initialize(new TextEncoderConfig(tokenizer.vocabSize(), 16, 1, 2, 32, 8, 16),
                tokenizer, seed + 2);
        return new WanTrainingTask(TrainingObjective.DISTILL, student, teacher, text,
                new ClipGenerator(seed + 3, SPEC), 0.1, 3.0);
    }

    /**
     * Runs the single-process trainer and the sharded one on {@code world} ranks, each from its own task built by
     * {@code tasks} (the same values), and compares them.
     */
    private static void assertMatchesTrainer(int world, Supplier<TrainingTask> tasks, TrainerConfig c) {
        assertMatchesTrainer(world, tasks, c, ShardedTrainer.Strategy.SHARD_GRAD_OP);
    }

    private static void assertMatchesTrainer(int world, Supplier<TrainingTask> tasks, TrainerConfig c,
            ShardedTrainer.Strategy strategy) {
        TrainingTask single = tasks.get();
        Trainer trainer = new Trainer(single, c, TrainerOutputs.none());
        List<TrainerStepLog> want = run(trainer);
        List<RankResult> ranks = runSharded(world, tasks, c, strategy);

        for (int r = 1; r < world; r++) {   // every rank reports and holds the same
            assertEquals(ranks.getFirst().logs.stream().map(TrainerStepLog::loss).toList(),
                    ranks.get(r).logs.stream().map(TrainerStepLog::loss).toList(), "losses of rank " + r);
            for (String name : ranks.getFirst().params.keySet()) {
                assertArrayEquals(ranks.getFirst().params.get(name), ranks.get(r).params.get(name),
                        name + " on rank " + r);
            }
        }
        List<TrainerStepLog> got = ranks.getFirst().logs;
        assertEquals(want.size(), got.size());
        double worstLoss = 0;
        for (int i = 0; i < want.size(); i++) {
            TrainerStepLog w = want.get(i);
            TrainerStepLog g = got.get(i);
            assertEquals(w.step(), g.step());
            assertEquals(w.lr(), g.lr(), 0.0, "lr of step " + w.step());
            if (i == 0) {
                assertEquals(w.loss(), g.loss(), 0.0, "the first step's loss: same parameters, seeds and order");
            }
            assertEquals(w.loss(), g.loss(), LOSS_RTOL * Math.abs(w.loss()), "loss of step " + w.step());
            assertEquals(w.gradNorm(), g.gradNorm(), LOSS_RTOL * w.gradNorm(), "grad norm of step " + w.step());
            assertEquals(w.metrics().keySet(), g.metrics().keySet());
            w.metrics().forEach((k, v) -> assertEquals(v, g.metrics().get(k), LOSS_RTOL * Math.abs(v) + 1e-12,
                    k + " of step " + w.step()));
            worstLoss = Math.max(worstLoss, Math.abs(w.loss() - g.loss()) / Math.abs(w.loss()));
        }
        assertTrue(want.getFirst().loss() > 0, "a loss of exactly 0 would compare nothing");

        double atol = PARAM_ATOL_PER_LR_STEP * c.schedule().baseLr() * c.steps();
        double worstParam = 0;
        for (Map.Entry<String, Tensor> e : single.parameters().entrySet()) {
            worstParam = Math.max(worstParam, assertClose(e.getKey(), e.getValue().toFloatArray(),
                    ranks.getFirst().params.get(e.getKey()), atol));
        }
        // the moments, the ranks' shards put back in place by their pieces, against the unsharded optimizer's
        Map<String, Tensor> state = new TreeMap<>(trainer.optimizer().state());
        float[] m = flatten(state, AdamW.EXP_AVG);
        float[] v = flatten(state, AdamW.EXP_AVG_SQ);
        float[] gm = unshard(ranks, single.parameters(), RankResult::expAvg);
        float[] gv = unshard(ranks, single.parameters(), RankResult::expAvgSq);
        double gradScale = want.stream().mapToDouble(TrainerStepLog::gradNorm).max().orElseThrow();
        assertClose("exp_avg", m, gm, 1e-5 * gradScale);
        assertClose("exp_avg_sq", v, gv, 1e-5 * gradScale * gradScale);
        assertTrue(maxAbsDifference(m, new float[m.length]) > 0, "moments of zero would compare nothing");
        System.out.printf("ShardedTrainerTest: %s, world %d, %d steps: worst relative loss difference %.3g, worst "
                + "parameter difference %.3g (tolerance %.3g)%n", strategy, world, c.steps(), worstLoss, worstParam,
                atol);
    }

    private static List<TrainerStepLog> run(Trainer trainer) {
        try {
            return trainer.run();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static List<RankResult> runSharded(int world, Supplier<TrainingTask> tasks, TrainerConfig c) {
        return runSharded(world, tasks, c, ShardedTrainer.Strategy.SHARD_GRAD_OP);
    }

    private static List<RankResult> runSharded(int world, Supplier<TrainingTask> tasks, TrainerConfig c,
            ShardedTrainer.Strategy strategy) {
        return InProcessCommunicator.runRanks(world, comm -> {
            TrainingTask task = tasks.get();
            try (ShardedTrainer t = new ShardedTrainer(task, c, TrainerOutputs.none(), comm, strategy)) {
                List<TrainerStepLog> logs = t.run();
                assertEquals(c.steps(), t.optimizer().steps());
                return rankResult(t, task, logs);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    /** Every rank calls it together: a fully sharded run's blocks come from a collective gather. */
    private static RankResult rankResult(ShardedTrainer t, TrainingTask task, List<TrainerStepLog> logs) {
        Map<String, float[]> params = new LinkedHashMap<>();
        Map<String, Tensor> blocks = t.gatherBlocks(true);
        try {
            task.parameters().forEach((k, p) -> params.put(k, (t.blocksReleased() ? blocks.getOrDefault(k, p) : p)
                    .toFloatArray()));
        } finally {
            blocks.values().forEach(Tensor::close);
        }
        return new RankResult(List.copyOf(logs), params, t.optimizer().expAvg().toFloatArray(),
                t.optimizer().expAvgSq().toFloatArray(), t.sharded().pieces());
    }

    /**
     * The ranks' shards of one state (moments) put back into whole parameters by their pieces, and laid end to end in
     * name order, as {@link #flatten} lays out the unsharded optimizer's; fails unless every element is covered once.
     */
    private static float[] unshard(List<RankResult> ranks, Map<String, Tensor> params,
            java.util.function.Function<RankResult, float[]> state) {
        Map<String, float[]> whole = new TreeMap<>();
        Map<String, int[]> covered = new TreeMap<>();
        params.forEach((name, p) -> {
            whole.put(name, new float[Math.toIntExact(p.numel())]);
            covered.put(name, new int[Math.toIntExact(p.numel())]);
        });
        for (RankResult r : ranks) {
            float[] shard = state.apply(r);
            for (ShardedParameters.Piece piece : r.pieces) {
                System.arraycopy(shard, piece.shardOffset(), whole.get(piece.name()), (int) piece.paramOffset(),
                        piece.length());
                for (int i = 0; i < piece.length(); i++) {
                    covered.get(piece.name())[(int) piece.paramOffset() + i]++;
                }
            }
        }
        covered.forEach((name, counts) -> assertTrue(Arrays.stream(counts).allMatch(n -> n == 1),
                name + ": every element in exactly one rank's shard"));
        return concat(new ArrayList<>(whole.values()), whole.values().stream().mapToInt(a -> a.length).sum());
    }

    private static float[] flatten(Map<String, Tensor> state, String suffix) {
        List<float[]> parts = new ArrayList<>();
        state.forEach((k, t) -> {
            if (k.endsWith(suffix)) {
                parts.add(t.toFloatArray());
            }
        });
        return concat(parts, parts.stream().mapToInt(p -> p.length).sum());
    }

    private static float[] concat(List<float[]> parts, int length) {
        float[] out = new float[parts.stream().mapToInt(p -> p.length).sum()];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return Arrays.copyOf(out, length);   // drops the padding of the last shard
    }

    /** Asserts |want - got| <= atol + 1e-5 |want| element-wise; returns the largest difference. */
    private static double assertClose(String what, float[] want, float[] got, double atol) {
        assertEquals(want.length, got.length, what + " length");
        double worst = 0;
        for (int i = 0; i < want.length; i++) {
            double d = Math.abs((double) want[i] - got[i]);
            worst = Math.max(worst, d);
            if (d > atol + 1e-5 * Math.abs(want[i])) {
                throw new AssertionError(what + "[" + i + "]: trainer " + want[i] + ", sharded " + got[i]
                        + ", difference " + d + " above " + atol + " + 1e-5 |value|");
            }
        }
        return worst;
    }

    private static double maxAbsDifference(float[] a, float[] b) {
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs((double) a[i] - b[i]));
        }
        return worst;
    }

    // ---------------------------------------------------------------- full sharding (ZeRO-3)

    /** The blocks' parameters gathered block by block as the model runs: the single-process trainer's numbers. */
    @Test
    void fullyShardedWanDistillationMatchesTheSingleProcessTrainerOnTwoRanks() {
        assertMatchesTrainer(2, () -> wanDistill(61, false), config(3, 2, 3e-3, 1.0),
                ShardedTrainer.Strategy.FULL_SHARD);
    }

    /** Checkpointed blocks (gathered again for the recompute) and two micro-batches per rank. */
    @Test
    void fullyShardedWithCheckpointedBlocksAndTwoMicroBatchesPerRankMatchesOnThreeRanks() {
        assertMatchesTrainer(3, () -> wanDistill(62, true), config(3, 6, 3e-3, 1.0),
                ShardedTrainer.Strategy.FULL_SHARD);
    }

    /**
     * Pretraining, two clips per micro-batch: the text encoder's parameters stay whole beside the sharded blocks, and
     * each clip's backward reduce-scatters its blocks' gradients.
     */
    @Test
    void fullyShardedPretrainingWithItsTextEncoderMatchesOnTwoRanks() {
        assertMatchesTrainer(2, () -> wanPretrain(63, 2), config(3, 2, 3e-3, 1.0),
                ShardedTrainer.Strategy.FULL_SHARD);
    }

    /**
     * Once the trainer has sharded them, the task's whole block tensors and the frozen teacher's are freed (reading
     * one throws): a rank's host holds only its shard of the blocks, and the run still ends where a SHARD_GRAD_OP run
     * does. Per clip and rank, two blocks give four gathers (forward 0, 1; backward 1, 0), of which the second of each
     * pass was issued ahead while the first computed; never more than two blocks whole at once.
     */
    @Test
    void fullyShardedRanksHoldOnlyTheirShardOfTheBlocksAndFetchTheNextAhead() {
        TrainerConfig c = config(2, 2, 3e-3, 1.0);
        List<RankResult> want = runSharded(2, () -> wanDistill(64, true), c, ShardedTrainer.Strategy.SHARD_GRAD_OP);
        List<RankResult> got = InProcessCommunicator.runRanks(2, comm -> {
            Map<String, Tensor> teacher = new LinkedHashMap<>();
            WanTrainingTask task = wanDistill(64, true, teacher);
            try (ShardedTrainer t = new ShardedTrainer(task, c, TrainerOutputs.none(), comm,
                    ShardedTrainer.Strategy.FULL_SHARD)) {
                assertTrue(t.blocksReleased());
                int freed = 0;
                for (Map<String, Tensor> params : List.of(task.parameters(), teacher)) {   // the teacher's too
                    for (Map.Entry<String, Tensor> e : params.entrySet()) {
                        if (WanGraph.blockOf(e.getKey()) >= 0) {
                            assertThrows(IllegalStateException.class, e.getValue()::toFloatArray, e.getKey()
                                    + " should be freed");
                            freed++;
                        } else {
                            assertTrue(Float.isFinite(e.getValue().toFloatArray()[0]), e.getKey() + " stays whole");
                        }
                    }
                }
                assertTrue(freed > 0, "the fixture has blocks");
                List<TrainerStepLog> logs = t.run();
                FullyShardedBlocks blocks = t.fullyShardedBlocks();
                assertEquals(4L * c.steps(), blocks.gathers(), "gathers: 4 a clip, one clip a step per rank");
                assertEquals(2L * c.steps(), blocks.prefetched(), "the second block of each pass came ahead");
                assertEquals(2, blocks.mostWhole(), "at most the running block and the next");
                return rankResult(t, task, logs);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        for (int r = 0; r < 2; r++) {
            for (int i = 0; i < c.steps(); i++) {
                double w = want.get(r).logs.get(i).loss();
                assertEquals(w, got.get(r).logs.get(i).loss(), LOSS_RTOL * w, "loss of step " + (i + 1));
            }
            for (String name : want.get(r).params.keySet()) {
                assertClose(name + " on rank " + r, want.get(r).params.get(name), got.get(r).params.get(name),
                        PARAM_ATOL_PER_LR_STEP * 3e-3 * c.steps());
            }
        }
    }

    /**
     * gatherBlocks(false) leaves the blocks with rank 0 alone (FSDP's rank0_only full state dict), equal to what every
     * rank gets with true; once the trainer is closed the task refuses to run, saying where its blocks went.
     */
    @Test
    void rankZeroAloneGathersTheBlocksAndAClosedTrainersTaskSaysWhereTheyWent() {
        TrainerConfig c = config(1, 2, 3e-3, 1.0);
        List<String> outcomes = InProcessCommunicator.runRanks(2, comm -> {
            WanTrainingTask task = wanDistill(66, false);
            Map<String, float[]> everyRank = new LinkedHashMap<>();
            Map<String, Tensor> rankZero;
            try (ShardedTrainer t = new ShardedTrainer(task, c, TrainerOutputs.none(), comm,
                    ShardedTrainer.Strategy.FULL_SHARD)) {
                t.run();
                Map<String, Tensor> all = t.gatherBlocks(true);
                all.forEach((k, v) -> everyRank.put(k, v.toFloatArray()));
                all.values().forEach(Tensor::close);
                rankZero = t.gatherBlocks(false);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            long blockNames = task.parameters().keySet().stream().filter(n -> WanGraph.blockOf(n) >= 0).count();
            assertEquals(blockNames, everyRank.size(), "every block parameter, on every rank");
            if (comm.rank() == 0) {
                assertEquals(everyRank.keySet(), rankZero.keySet());
                rankZero.forEach((k, v) -> assertArrayEquals(everyRank.get(k), v.toFloatArray(), k));
            } else {
                assertTrue(rankZero.isEmpty(), "rank " + comm.rank() + " got " + rankZero.keySet());
            }
            rankZero.values().forEach(Tensor::close);
            return errorOf(() -> task.computeGradients(new MicroBatch(0, 0, 1, 5), new LinkedHashMap<>()));
        });
        for (String e : outcomes) {
            assertTrue(e.contains("released to a fully sharded trainer") && e.contains("WanTrainingTask"), e);
        }
    }

    /** A FULL_SHARD run resumed from its checkpoint continues bit for bit; SHARD_GRAD_OP refuses that checkpoint. */
    @Test
    void aResumedFullyShardedRunMatchesAnUninterruptedOneBitForBit(@TempDir Path dir) {
        TrainerConfig c = new TrainerConfig(4, 2, 78, 1.0, AdamWConfig.pytorchDefaults(0.01),
                LrSchedule.warmupCosine(3e-3, 1, 4, 3e-4), 2, 2, 10);
        ShardedTrainer.Strategy full = ShardedTrainer.Strategy.FULL_SHARD;
        List<RankResult> want = runSharded(2, () -> wanDistill(65, true), c, full);
        Path ckpt = dir.resolve("ckpt");
        InProcessCommunicator.runRanks(2, comm -> {
            try (ShardedTrainer t = new ShardedTrainer(wanDistill(65, true), c, new TrainerOutputs(ckpt, null, false),
                    comm, full)) {
                return t.runUntil(2);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        List<RankResult> got = InProcessCommunicator.runRanks(2, comm -> {
            WanTrainingTask fresh = wanDistill(65, true);   // the same teacher and data; the student's values must
            fresh.parameters().values().forEach(t -> t.fill(0.25f));   // come from the checkpoint
            try (ShardedTrainer t = ShardedTrainer.resume(ckpt, fresh, TrainerOutputs.none(), comm, 0, full)) {
                assertEquals(2, t.step());
                t.run();
                return rankResult(t, fresh, t.history());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        for (int r = 0; r < 2; r++) {
            for (int i = 0; i < c.steps(); i++) {
                assertEquals(want.get(r).logs.get(i).loss(), got.get(r).logs.get(i).loss(), 0.0, "loss of step "
                        + (i + 1));
            }
            for (String name : want.get(r).params.keySet()) {
                assertArrayEquals(want.get(r).params.get(name), got.get(r).params.get(name), name + " on rank " + r);
            }
            assertArrayEquals(want.get(r).expAvg, got.get(r).expAvg, "exp_avg on rank " + r);
        }
        List<String> errors = InProcessCommunicator.runRanks(2, comm -> errorOf(() -> ShardedTrainer.resume(ckpt,
                wanDistill(65, true), TrainerOutputs.none(), comm)));
        for (String e : errors) {
            assertTrue(e.contains("layout"), e);
        }
    }

    @Test
    void fullShardingATaskThatDoesNotRunBlockByBlockIsRefused() {
        List<String> errors = InProcessCommunicator.runRanks(2, comm -> errorOf(() -> new ShardedTrainer(
                new ToyMlpTask(5), config(2, 2, 1e-2, 1.0), TrainerOutputs.none(), comm,
                ShardedTrainer.Strategy.FULL_SHARD)));
        for (String e : errors) {
            assertTrue(e.contains("FULL_SHARD needs a task that runs block by block") && e.contains("ToyMlpTask")
                    && e.contains("SHARD_GRAD_OP"), e);
        }
    }

    private static WanTrainingTask wanPretrain(long seed, int batchSize) {
        WanGraph student = new WanGraph(CONFIG, TaskFixtures.parameters(CONFIG, seed), WanAttention.dense(), false);
        WordTokenizer tokenizer = new WordTokenizer(Captions.vocabulary());
        TextEncoder text = TextEncoder.initialize(new TextEncoderConfig(tokenizer.vocabSize(), 16, 1, 2, 32, 8, 16),
                tokenizer, seed + 2);
        return new WanTrainingTask(TrainingObjective.PRETRAIN, student, null, text,
                new ClipGenerator(seed + 3, SPEC), 0.1, 3.0, batchSize);
    }

    // ---------------------------------------------------------------- sharded checkpoints

    /**
     * A run on two ranks stopped after 3 of 6 steps (checkpoints every 2 steps and at the stop), resumed by fresh
     * trainers whose tasks start from other values: the same losses, norms, parameters and moments, bit for bit, as
     * the uninterrupted sharded run. Other world sizes, and the single-process trainer, refuse the checkpoint.
     */
    @Test
    void aResumedShardedRunMatchesAnUninterruptedOneBitForBit(@TempDir Path dir) throws IOException {
        TrainerConfig c = new TrainerConfig(6, 4, 77, 1.0, AdamWConfig.pytorchDefaults(0.01),
                LrSchedule.warmupCosine(1e-2, 2, 6, 1e-3), 2, 2, 10);
        List<RankResult> want = runSharded(2, () -> new ToyMlpTask(5), c);
        Path ckpt = dir.resolve("ckpt");
        InProcessCommunicator.runRanks(2, comm -> {
            try (ShardedTrainer t = new ShardedTrainer(new ToyMlpTask(5), c, new TrainerOutputs(ckpt, null, false),
                    comm)) {
                return t.runUntil(3);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        assertEquals(ckpt.resolve("step-000003"), TrainingCheckpoint.latest(ckpt).orElseThrow());
        assertEquals(List.of("latest", "step-000002", "step-000003"), list(ckpt), "keepLast 2, no temporaries");
        assertEquals(List.of("rank-00000-of-00002.safetensors", "rank-00001-of-00002.safetensors", "state.json"),
                list(ckpt.resolve("step-000003")));

        List<RankResult> got = InProcessCommunicator.runRanks(2, comm -> {
            ToyMlpTask fresh = new ToyMlpTask(31);   // other values: everything must come from the checkpoint
            try (ShardedTrainer t = ShardedTrainer.resume(ckpt, fresh, TrainerOutputs.none(), comm)) {
                assertEquals(3, t.step());
                t.run();
                return rankResult(t, fresh, t.history());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        for (int r = 0; r < 2; r++) {
            RankResult w = want.get(r);
            RankResult g = got.get(r);
            assertEquals(w.logs.size(), g.logs.size());
            for (int i = 0; i < w.logs.size(); i++) {
                assertEquals(w.logs.get(i).loss(), g.logs.get(i).loss(), 0.0, "loss of step " + (i + 1));
                assertEquals(w.logs.get(i).gradNorm(), g.logs.get(i).gradNorm(), 0.0, "norm of step " + (i + 1));
            }
            for (String name : w.params.keySet()) {
                assertArrayEquals(w.params.get(name), g.params.get(name), name + " on rank " + r);
            }
            assertArrayEquals(w.expAvg, g.expAvg, "exp_avg on rank " + r);
            assertArrayEquals(w.expAvgSq, g.expAvgSq, "exp_avg_sq on rank " + r);
        }

        for (int world : new int[] {3, 4}) {
            List<String> errors = InProcessCommunicator.runRanks(world, comm -> errorOf(() -> ShardedTrainer.resume(
                    ckpt, new ToyMlpTask(5), TrainerOutputs.none(), comm)));
            for (String m : errors) {
                assertTrue(m.contains("(written by 2 ranks), and this job has world size " + world
                        + "; expected a checkpoint written by the same world size"), m);
            }
        }
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> Trainer.resume(ckpt, new ToyMlpTask(5), TrainerOutputs.none()));
        assertTrue(e.getMessage().contains("has no " + TrainingCheckpoint.PARAMETERS), e.getMessage());
    }

    private static List<String> list(Path dir) throws IOException {
        try (var entries = Files.list(dir)) {
            return entries.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    // ---------------------------------------------------------------- errors

    @Test
    void ranksStartingFromDifferentParametersAllFail() {
        List<String> errors = InProcessCommunicator.runRanks(3, comm -> {
            ToyMlpTask task = new ToyMlpTask(5);
            if (comm.rank() == 2) {
                Tensor w = task.parameters().get("fc2.weight");
                w.setFloat(7, Math.nextUp(w.getFloat(7)));   // one ulp of one element
            }
            return errorOf(() -> new ShardedTrainer(task, config(2, 3, 1e-2, 1.0), TrainerOutputs.none(), comm));
        });
        for (String e : errors) {
            assertTrue(e.contains("parameter 'fc2.weight' on rank 2 differs from rank 0's")
                    && e.contains("expected every rank to start from the same parameters"), e);
        }
    }

    @Test
    void ranksWithDifferentConfigurationsAllFail() {
        List<String> errors = InProcessCommunicator.runRanks(2, comm -> errorOf(() -> new ShardedTrainer(
                new ToyMlpTask(5), config(2, 2, comm.rank() == 0 ? 1e-2 : 2e-2, 1.0), TrainerOutputs.none(), comm)));
        for (String e : errors) {
            assertTrue(e.contains("rank 1's config differs from rank 0's"), e);
        }
    }

    @Test
    void aGlobalBatchTheWorldSizeDoesNotDivideIsRefused() {
        List<String> errors = InProcessCommunicator.runRanks(2, comm -> errorOf(() -> new ShardedTrainer(
                new ToyMlpTask(5), config(2, 3, 1e-2, 1.0), TrainerOutputs.none(), comm)));
        for (String e : errors) {
            assertTrue(e.contains("config.microBatches (the global batch) is 3, expected a multiple of the world size"
                    + " 2"), e);
        }
    }

    @Test
    void aMicroBatchFailingOnOneRankStopsEveryRankAtTheSameStep() {
        List<String> errors = InProcessCommunicator.runRanks(2, comm -> {
            ToyMlpTask task = new ToyMlpTask(5);
            if (comm.rank() == 1) {
                task.failAtStep = 1;
                task.failAtMicro = 3;   // global micro-batch 3 of 4 runs on rank 1
            }
            try (ShardedTrainer t = new ShardedTrainer(task, config(3, 4, 1e-2, 1.0), TrainerOutputs.none(), comm)) {
                String e = errorOf(t::run);
                assertEquals(1, t.step(), "the first step was applied, the second not");
                assertEquals(1, t.optimizer().steps());
                return e;
            }
        });
        assertTrue(errors.get(0).contains("step 2 micro-batch 3 failed on rank 1"), errors.get(0));
        assertTrue(errors.get(1).contains("simulated kill at step 1"), errors.get(1));
    }

    private interface Action {
        Object run() throws Exception;
    }

    /** @return the message of the exception {@code action} throws; fails if it throws none */
    private static String errorOf(Action action) {
        try {
            Object o = action.run();
            if (o instanceof AutoCloseable c) {
                c.close();
            }
        } catch (IllegalArgumentException | IllegalStateException e) {
            return e.getMessage();
        } catch (Exception e) {
            throw new AssertionError("unexpected " + e, e);
        }
        throw new AssertionError("expected an exception");
    }
}
