package io.sparge4j.models.train;

import io.sparge4j.engine.gpu.CountingSessions;
import io.sparge4j.engine.gpu.DeviceSession;
import io.sparge4j.engine.gpu.GemmPrecision;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.data.Captions;
import io.sparge4j.models.data.ClipGenerator;
import io.sparge4j.models.data.ClipSpec;
import io.sparge4j.models.text.TextEncoder;
import io.sparge4j.models.text.TextEncoderConfig;
import io.sparge4j.models.text.WordTokenizer;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * What one {@link DeviceWanTrainingTask#computeGradients} costs the device (pretraining, the tiny model of
 * {@link DeviceWanTrainingTaskTest}), counted on the device calls after a warm-up micro-batch: the contract is one
 * upload per DiT parameter tensor (the host values, in place) plus the forward's three inputs and the flow target,
 * one read back per parameter gradient plus the loss and dContext, no synchronisation, nothing left allocated. The
 * counts and the bytes moved go to standard output. No timing.
 */
class DeviceWanTrainingTaskCostTest {
    private static final WanConfig CONFIG = WanConfig.tiny(64, 1, 2, 3, true);

    @ParameterizedTest
    @ValueSource(strings = {"opencl", "cuda"})
    void aPretrainingMicroBatchMovesTheParametersUpAndTheGradientsDown(String backend) {
        CountingSessions.Counted counted = DeviceTestSessions.open(backend, CountingSessions::open);
        WordTokenizer tokenizer = new WordTokenizer(Captions.vocabulary());
        TextEncoder text = TextEncoder.initialize(new TextEncoderConfig(tokenizer.vocabSize(), 16, 1, 2, 32,
                CONFIG.textLen(), CONFIG.textDim()), tokenizer, 3);
        WanGraph student = new WanGraph(CONFIG, WanInit.pretraining(CONFIG, 4), WanAttention.dense(), false);
        try (DeviceSession session = counted.session();
             DeviceWanTrainingTask task = new DeviceWanTrainingTask(TrainingObjective.PRETRAIN, student, null, text,
                     new ClipGenerator(5, ClipSpec.of(8, 24, 24)), 0.0, 1.0, session, true, GemmPrecision.F32)) {
            Map<String, Tensor> grads = new LinkedHashMap<>();
            task.computeGradients(new MicroBatch(0, 0, 1, 11), grads);   // compiles every kernel
            int live = session.liveAllocations();
            CountingSessions.Counts n = counted.counts();
            n.reset();
            task.computeGradients(new MicroBatch(1, 0, 1, 12), grads);
            int tensors = task.student().store().names().size();
            long params = 0;
            for (String name : task.student().store().names()) {
                params += student.parameters().get(name).numel();
            }
            long tokens = 8L * 12 * 12;
            long inputBytes = 4 * (tokens * 12 + CONFIG.freqDim() + (long) CONFIG.textLen() * CONFIG.textDim()
                    + tokens * 12);
            System.out.printf("DeviceWanTrainingTaskCostTest %s: one pretraining micro-batch (2 blocks, %d tokens, %d"
                    + " parameter tensors, %d parameters): %s; bytes up %d (parameters %d, inputs and target %d),"
                    + " down %d (gradients) + loss + dContext%n", backend, tokens, tensors, params, n,
                    4 * params + inputBytes, 4 * params, inputBytes, 4 * params);
            assertEquals(tensors + 4, n.copiesToDevice, "uploads: every parameter tensor, then patches, sinusoid,"
                    + " padded text and the flow target");
            assertEquals(tensors + 2, n.copiesToHost, "read backs: every gradient, the loss and dContext");
            assertEquals(0, n.synchronizations, "synchronisations");
            assertEquals(live, session.liveAllocations(), "device tensors alive after the micro-batch");
            grads.values().forEach(Tensor::close);
        }
    }
}
