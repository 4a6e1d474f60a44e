package io.sparge4j.tests.wan;

import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.distributed.InProcessCommunicator;
import io.sparge4j.engine.gpu.DeviceSession;
import io.sparge4j.engine.gpu.GemmPrecision;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.sampling.Noise;
import io.sparge4j.models.wan.DeviceWanModel;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanWeights;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link DeviceWanModel#withSequenceParallel}: two in-process ranks, each with its own session on the emulator, PoCL
 * or CUDA, split a (3, 8, 15) = 360-token sequence of a tiny latent DiT (dim 128, 2 heads of 64, 2 blocks) and must
 * give every rank the velocity of the same model on one device: dense attention and hybrid SpargeAttention2 (each
 * rank building the masks of its head over the whole sequence). Tolerance 1e-5 of max |v|: every token and every head
 * go through the same kernels on the same values (only the all-to-all reorders data), so any difference is an
 * indexing error, O(1).
 */
class DeviceWanModelSequenceParallelTest {
    /** DeviceWanModelTest's model, inputs and context. */
    private static final WanConfig CONFIG = DeviceWanModelTest.CONFIG;
    private static final Map<String, Tensor> WEIGHTS = WanWeights.randomInit(CONFIG, 20261204L);
    private static final WanAttention HYBRID = WanAttention.defaults().withTopk(0.34).withTopp(0.6);

    @ParameterizedTest
    @ValueSource(strings = {"emulator", "opencl", "cuda"})
    void twoRanksGiveTheOneDeviceVelocity(String backend) {
        assumeTrue(!backend.equals("emulator") || OpenClDevice.list().isEmpty(), "emulator case skipped: an OpenCL"
                + " device runs the same kernels here, far faster; it runs where no OpenCL device is found");
        DeviceTestSessions.open(backend).close();   // skips, with the reason, where the backend is absent
        for (WanAttention attention : List.of(WanAttention.dense(), HYBRID)) {
            float[] want;
            try (DeviceSession s = DeviceSession.open(backend); Tensor x = DeviceWanModelTest.input();
                 Tensor ctx = DeviceWanModelTest.context();
                 DeviceWanModel model = new DeviceWanModel(s, CONFIG, WEIGHTS, attention, GemmPrecision.F32);
                 Tensor v = model.forward(x, 700, ctx, 3)) {
                want = v.toFloatArray();
            }
            List<float[]> got = InProcessCommunicator.runRanks(2, comm -> {
                try (DeviceSession s = DeviceSession.open(backend); Tensor x = DeviceWanModelTest.input();
                     Tensor ctx = DeviceWanModelTest.context();
                     DeviceWanModel model = new DeviceWanModel(s, CONFIG, WEIGHTS, attention, GemmPrecision.F32)) {
                    DeviceWanModel split = model.withSequenceParallel(comm);
                    try (Tensor v = split.forward(x, 700, ctx, 3)) {
                        return v.toFloatArray();
                    }
                }
            });
            double scale = 0;
            for (float f : want) {
                scale = Math.max(scale, Math.abs(f));
            }
            assertTrue(scale > 0, "a nonzero velocity");
            for (int r = 0; r < 2; r++) {
                float[] g = got.get(r);
                assertEquals(want.length, g.length);
                for (int i = 0; i < want.length; i++) {
                    assertEquals(want[i], g[i], 1e-5 * scale, backend + " " + attention.mode() + " rank " + r
                            + " element " + i);
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"emulator"})
    void splitsThatDoNotDivideAreRefused(String backend) {
        List<String> errors = InProcessCommunicator.runRanks(3, comm -> {
            try (DeviceSession s = DeviceSession.open(backend);
                 DeviceWanModel model = new DeviceWanModel(s, CONFIG, WEIGHTS, WanAttention.dense(),
                         GemmPrecision.F32)) {
                return assertThrows(IllegalArgumentException.class, () -> model.withSequenceParallel(comm))
                        .getMessage();
            }
        });
        errors.forEach(e -> assertTrue(e.contains("2 heads") && e.contains("world size 3"), e));
        List<String> tokens = InProcessCommunicator.runRanks(2, comm -> {
            try (DeviceSession s = DeviceSession.open(backend); Tensor ctx = DeviceWanModelTest.context();
                 Tensor odd = Noise.gaussian(7, CONFIG.inDim(), 3, 2, 2);
                 DeviceWanModel model = new DeviceWanModel(s, CONFIG, WEIGHTS, WanAttention.dense(),
                         GemmPrecision.F32)) {
                DeviceWanModel split = model.withSequenceParallel(comm);
                return assertThrows(IllegalArgumentException.class, () -> split.forward(odd, 700, ctx, 0))
                        .getMessage();
            }
        });
        tokens.forEach(e -> assertTrue(e.contains("3 tokens") && e.contains("world size 2"), e));
    }
}
