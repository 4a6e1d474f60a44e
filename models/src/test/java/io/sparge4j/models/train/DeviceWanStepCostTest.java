package io.sparge4j.models.train;

import io.sparge4j.engine.gpu.CountingSessions;
import io.sparge4j.engine.gpu.DeviceMeanSquaredError;
import io.sparge4j.engine.gpu.DeviceTensor;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What one velocity-distillation step costs the device (the tiny model of {@link DeviceWanGraphTest}: 2 blocks,
 * 1024 tokens, checkpointed), counted on the device calls: the dense teacher's forward, the sparse student's forward
 * with a tape, the loss, the backward, clipping and AdamW. The counts go to standard output; the test holds the
 * step to its contract: no synchronisation and exactly one read back (the loss), uploads only of the two
 * forwards' inputs (patches, sinusoid, padded text) and the optimizer's scalars, and nothing left allocated. No
 * timing.
 */
class DeviceWanStepCostTest {
    private static final WanConfig CONFIG = WanConfig.tiny(64, 1, 2, 3, true);
    private static final WanAttention HYBRID = WanAttention.defaults().withTopk(0.3).withTopp(0.5);

    @ParameterizedTest
    @ValueSource(strings = {"opencl", "cuda"})
    void aDistillationStepReadsBackOnlyTheLoss(String backend) {
        CountingSessions.Counted counted = DeviceTestSessions.open(backend, CountingSessions::open);
        CountingSessions.Counts n = counted.counts();
        try (var session = counted.session(); GraphCase c = GraphCase.of(CONFIG, 4, 32, 32, 9, 41);
             DeviceWanStore store = DeviceWanStore.upload(session, CONFIG, c.weights());
             DeviceWanOptimizer opt = new DeviceWanOptimizer(store, 0.9, 0.999, 1e-8, 0.01)) {
            DeviceWanGraph student = new DeviceWanGraph(store, HYBRID, true);
            DeviceWanGraph teacher = student.withAttention(WanAttention.dense());
            step(student, teacher, opt, store, c);   // compiles every kernel and fills the allocator's cache
            String[] phases = {"teacher forward", "student forward", "loss", "backward", "clip + AdamW",
                "loss read back"};
            CountingSessions.Counts[] per = new CountingSessions.Counts[phases.length];
            int launches = 0;
            int uploads = 0;
            int reads = 0;
            int syncs = 0;
            int live = session.liveAllocations();
            n.reset();
            try (DeviceTensor target = teacher.predictTokens(c.x(), c.t(), c.context(), 0)) {
                per[0] = snapshot(n);
                try (DeviceWanGraph.Tape tape = student.forward(c.x(), c.t(), c.context(), 0)) {
                    per[1] = snapshot(n);
                    try (DeviceMeanSquaredError.Result loss = DeviceWanLoss.mse(tape, target)) {
                        per[2] = snapshot(n);
                        student.backward(tape, loss.grad());
                        per[3] = snapshot(n);
                        opt.clipGradNorm(1.0, false);
                        opt.step(1e-4);
                        store.zeroGrads();
                        per[4] = snapshot(n);
                        assertTrue(loss.lossValue() > 0);
                        per[5] = snapshot(n);
                    }
                }
            }
            for (int i = 0; i < phases.length; i++) {
                System.out.printf("DeviceWanStepCostTest %s %s: %s%n", backend, phases[i], per[i]);
                launches += per[i].launches;
                uploads += per[i].copiesToDevice;
                reads += per[i].copiesToHost;
                syncs += per[i].synchronizations;
            }
            System.out.printf("DeviceWanStepCostTest %s one step (2 blocks, %d parameter tensors): %d launches, %d "
                    + "uploads, %d read backs, %d synchronisations%n", backend, store.names().size(), launches,
                    uploads, reads, syncs);
            assertEquals(live, session.liveAllocations(), "device tensors alive after the step: the store's and the "
                    + "optimizer's only (every temporary, tape and gradient freed)");
            assertEquals(1, reads, "read backs in a step: the loss only");
            assertEquals(0, syncs, "synchronisations in a step");
            assertEquals(7, uploads, "uploads: patches, sinusoid and padded text for each forward, AdamW's scalars");
        }
    }

    private static void step(DeviceWanGraph student, DeviceWanGraph teacher, DeviceWanOptimizer opt,
            DeviceWanStore store, GraphCase c) {
        try (DeviceTensor target = teacher.predictTokens(c.x(), c.t(), c.context(), 0);
             DeviceWanGraph.Tape tape = student.forward(c.x(), c.t(), c.context(), 0);
             DeviceMeanSquaredError.Result loss = DeviceWanLoss.mse(tape, target)) {
            student.backward(tape, loss.grad());
            opt.clipGradNorm(1.0, false);
            opt.step(1e-4);
            store.zeroGrads();
            loss.lossValue();
        }
    }

    /** The counts since the last snapshot (and resets them). */
    private static CountingSessions.Counts snapshot(CountingSessions.Counts n) {
        CountingSessions.Counts s = new CountingSessions.Counts();
        s.launches = n.launches;
        s.copiesToDevice = n.copiesToDevice;
        s.copiesToHost = n.copiesToHost;
        s.synchronizations = n.synchronizations;
        s.allocations = n.allocations;
        n.reset();
        return s;
    }
}
