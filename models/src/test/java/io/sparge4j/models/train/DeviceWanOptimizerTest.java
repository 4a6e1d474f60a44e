package io.sparge4j.models.train;

import io.sparge4j.engine.gpu.DeviceMeanSquaredError;
import io.sparge4j.engine.gpu.DeviceSession;
import io.sparge4j.engine.gpu.DeviceTensor;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Resuming device training from what a checkpoint holds: after two steps the parameters
 * ({@link DeviceWanStore#download}) and the AdamW moments ({@link DeviceWanOptimizer#downloadState}) are read back,
 * a fresh store and optimizer are made from them, and a third step on both gives bit-identical parameters and the
 * same loss; {@link DeviceWanStore#uploadFrom} overwrites in place (the optimizer keeps stepping the same tensors).
 * A small model (1 block, 64 tokens) so that the emulator runs it quickly.
 */
class DeviceWanOptimizerTest {
    private static final WanConfig CONFIG = WanConfig.tiny(64, 1, 1, 3, true);

    @ParameterizedTest
    @ValueSource(strings = {"emulator", "opencl", "cuda"})
    void downloadedStateResumesBitExactly(String backend) {
        try (GraphCase c = GraphCase.of(CONFIG, 1, 16, 16, 5, 51);
             DeviceSession session = DeviceTestSessions.open(backend)) {
            Map<String, Tensor> params;
            Map<String, Tensor> state;
            double lossA;
            Map<String, float[]> afterA = new LinkedHashMap<>();
            try (DeviceWanStore store = DeviceWanStore.upload(session, CONFIG, c.weights());
                 DeviceWanOptimizer opt = new DeviceWanOptimizer(store, 0.9, 0.99, 1e-8, 0.05)) {
                DeviceWanGraph graph = new DeviceWanGraph(store, WanAttention.dense(), true);
                step(graph, opt, c, 0);
                step(graph, opt, c, 1);
                params = store.download();
                state = opt.downloadState();
                assertEquals(2, opt.steps());
                lossA = step(graph, opt, c, 2);
                store.download().forEach((k, v) -> {
                    afterA.put(k, v.toFloatArray());
                    v.close();
                });
                assertTrue(maxAbsDiff(afterA.get("head.head.weight"), params.get("head.head.weight").toFloatArray())
                        > 0, "the third step moves the parameters");
            }
            try (DeviceWanStore store = DeviceWanStore.upload(session, CONFIG, c.weights());
                 DeviceWanOptimizer opt = new DeviceWanOptimizer(store, 0.9, 0.99, 1e-8, 0.05)) {
                store.uploadFrom(params);   // in place: the optimizer steps these very tensors
                opt.loadState(state, 2);
                DeviceWanGraph graph = new DeviceWanGraph(store, WanAttention.dense(), true);
                double lossB = step(graph, opt, c, 2);
                assertEquals(lossA, lossB, 0.0, "the resumed step's loss");
                Map<String, Tensor> afterB = store.download();
                try {
                    afterA.forEach((k, v) -> assertArrayEquals(v, afterB.get(k).toFloatArray(), k));
                } finally {
                    afterB.values().forEach(Tensor::close);
                }
            } finally {
                params.values().forEach(Tensor::close);
                state.values().forEach(Tensor::close);
            }
        }
    }

    /** One flow-matching step on a seeded input and target. @return the loss */
    private static double step(DeviceWanGraph graph, DeviceWanOptimizer opt, GraphCase c, int i) {
        try (Tensor x = Tensor.randn(60 + i, 3, 1, 16, 16); Tensor target = Tensor.randn(70 + i, 3, 1, 16, 16);
             DeviceWanGraph.Tape tape = graph.forward(x, 300 + 100 * i, c.context(), 0);
             DeviceTensor y = graph.tokens(target);
             DeviceMeanSquaredError.Result loss = DeviceWanLoss.mse(tape, y)) {
            graph.backward(tape, loss.grad());
            opt.clipGradNorm(0.3, false);
            opt.step(1e-3);
            graph.store().zeroGrads();
            return loss.lossValue();
        }
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

}
