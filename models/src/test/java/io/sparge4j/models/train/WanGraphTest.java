package io.sparge4j.models.train;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.MemoryStats;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanModel;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link WanGraph}'s forward against {@link WanModel}'s (bit-identical: the same ops in the same order), its
 * statistics, block checkpointing (bit-identical gradients, lower peak memory), gradient accumulation, parameter
 * updates seen by the next forward, and its argument errors. The gradients' correctness is
 * {@link WanGraphGradientTest}'s.
 */
class WanGraphTest {
    private static final WanConfig TINY = WanConfig.tiny(32, 2, 2, 3, true);
    /** Head dim 24, no norm3, 3 in / 5 out, patch (2, 1, 2). */
    private static final WanConfig ODD = new WanConfig(48, 80, 2, 2, 3, 5, 24, 8, 16, List.of(2, 1, 2), 1e-6, true,
            false, true, List.of(1, 1, 1));
    private static final WanAttention HYBRID = WanAttention.defaults().withBlocks(32, 32).withTopk(0.25).withTopp(0.3);

    @Test
    void forwardIsBitIdenticalToWanModelDenseAndHybrid() {
        for (GraphCase c : List.of(GraphCase.of(TINY, 4, 16, 16, 10, 11), GraphCase.of(ODD, 4, 9, 12, 5, 12))) {
            try (c) {
                for (WanAttention attention : List.of(WanAttention.dense(), HYBRID, HYBRID.withDenseLayers(1))) {
                    WanModel model = new WanModel(c.config(), c.weights(), attention);
                    WanGraph graph = new WanGraph(c.config(), c.weights(), attention, false);
                    try (Tensor expected = model.forward(c.x(), c.t(), c.context(), 0);
                         WanGraph.Tape tape = graph.forward(c.x(), c.t(), c.context(), 0);
                         Tensor predicted = graph.predict(c.x(), c.t(), c.context(), 0)) {
                        String what = c.config().dim() + " " + attention;
                        assertArrayEquals(expected.shape(), tape.velocity().shape(), what);
                        assertArrayEquals(expected.toFloatArray(), tape.velocity().toFloatArray(), what);
                        assertArrayEquals(expected.toFloatArray(), predicted.toFloatArray(), what + " (predict)");
                        double[] sparsity = tape.layerSparsity();
                        for (int layer = 0; layer < sparsity.length; layer++) {
                            assertEquals(model.stats().sparsity(layer, 0), sparsity[layer], 0.0);
                        }
                    }
                    // the same per-layer sparsity in both statistics and in the tape (forward, predict: two calls)
                    for (int layer = 0; layer < c.config().numLayers(); layer++) {
                        assertEquals(model.stats().sparsity(layer, 0), graph.stats().sparsity(layer, 0), 0.0);
                    }
                    assertEquals(2 * c.config().numLayers(), graph.stats().calls());
                    if (attention.mode() != io.sparge4j.engine.sparse.MaskMode.DENSE) {
                        assertTrue(graph.stats().sparsity(c.config().numLayers() - 1, 0) > 0.2,
                                "hybrid should skip blocks: " + graph.stats());
                    }
                }
            }
        }
    }

    /** A late Top-k applies at the clip's own noise level: at or below it, the graph runs as one built with that k. */
    @Test
    void aLateTopkRunsAtTheClipsNoiseLevel() {
        try (GraphCase c = GraphCase.of(TINY, 4, 16, 16, 10, 13)) {
            WanAttention late = HYBRID.withLateTopk(0.75, c.t() / 1000);        // at the level: late
            WanAttention notYet = HYBRID.withLateTopk(0.75, c.t() / 1000 - 0.01);
            try (Tensor a = new WanGraph(TINY, c.weights(), late, false).predict(c.x(), c.t(), c.context(), 0);
                 Tensor b = new WanGraph(TINY, c.weights(), HYBRID.withTopk(0.75), false).predict(c.x(), c.t(),
                         c.context(), 0);
                 Tensor d = new WanGraph(TINY, c.weights(), notYet, false).predict(c.x(), c.t(), c.context(), 0);
                 Tensor e = new WanGraph(TINY, c.weights(), HYBRID, false).predict(c.x(), c.t(), c.context(), 0)) {
                assertArrayEquals(b.toFloatArray(), a.toFloatArray(), "the late k at the level");
                assertArrayEquals(e.toFloatArray(), d.toFloatArray(), "the trained k above it");
                assertFalse(java.util.Arrays.equals(a.toFloatArray(), e.toFloatArray()), "the two k differ");
            }
        }
    }

    @Test
    void halfPrecisionInputsAreWidenedAsWanModelDoes() {
        try (GraphCase c = GraphCase.of(TINY, 2, 8, 8, 4, 13);
             Tensor x = c.x().to(DType.BF16);
             Tensor ctx = c.context().to(DType.BF16)) {
            WanModel model = new WanModel(c.config(), c.weights(), WanAttention.dense());
            WanGraph graph = new WanGraph(c.config(), c.weights(), WanAttention.dense(), false);
            try (Tensor expected = model.forward(x, c.t(), ctx, 0);
                 WanGraph.Tape tape = graph.forward(x, c.t(), ctx, 0)) {
                assertArrayEquals(expected.toFloatArray(), tape.velocity().toFloatArray());
            }
        }
    }

    /**
     * Checkpointing at 4096 tokens (x (3, 16, 32, 32), patch (1, 2, 2)), dim 32, 4 blocks, hybrid attention: the
     * gradients, dx and dContext are bit-identical to the stored-activation run and the host's peak tensor memory
     * over forward + backward is lower. Prints both peaks.
     */
    @Test
    void checkpointingGivesBitIdenticalGradientsWithLessPeakMemory() {
        WanConfig config = WanConfig.tiny(32, 2, 4, 3, true);
        WanAttention attention = WanAttention.defaults().withBlocks(64, 32).withTopk(0.05).withTopp(0.2);
        try (GraphCase c = GraphCase.of(config, 16, 32, 32, 12, 14)) {
            Run stored = run(c, new WanGraph(config, c.weights(), attention, false));
            Run checkpointed = run(c, new WanGraph(config, c.weights(), attention, true));
            System.out.printf("WanGraph 4096 tokens, dim 32, 4 blocks: peak tensor memory over forward + backward "
                    + "%.2f MiB stored, %.2f MiB checkpointed (above %.2f MiB of weights and inputs)%n",
                    stored.peak / 1048576.0, checkpointed.peak / 1048576.0, stored.base / 1048576.0);
            assertEquals(stored.grads.keySet(), checkpointed.grads.keySet());
            stored.grads.forEach((name, g) -> assertArrayEquals(g, checkpointed.grads.get(name), name));
            assertArrayEquals(stored.dx, checkpointed.dx, "dx");
            assertArrayEquals(stored.dContext, checkpointed.dContext, "dContext");
            assertArrayEquals(stored.velocity, checkpointed.velocity, "velocity");
            assertTrue(checkpointed.peak < 0.5 * stored.peak, "checkpointed peak " + checkpointed.peak
                    + " bytes, stored " + stored.peak + " bytes: expected at most half");
        }
    }

    private record Run(Map<String, float[]> grads, float[] dx, float[] dContext, float[] velocity, long peak,
                       long base) {
    }

    /** Forward + backward, with the host's peak tensor bytes above what was in use before. */
    private static Run run(GraphCase c, WanGraph graph) {
        long base = MemoryStats.HOST.bytesInUse();
        MemoryStats.HOST.resetPeak();
        Map<String, Tensor> grads = new LinkedHashMap<>();
        try (WanGraph.Tape tape = graph.forward(c.x(), c.t(), c.context(), 0)) {
            graph.backward(tape, c.r(), grads);
            long peak = MemoryStats.HOST.peakBytes() - base;
            Map<String, float[]> out = new LinkedHashMap<>();
            grads.forEach((k, v) -> out.put(k, v.toFloatArray()));
            grads.values().forEach(Tensor::close);
            return new Run(out, tape.inputGradient().toFloatArray(), tape.contextGradient().toFloatArray(),
                    tape.velocity().toFloatArray(), peak, base);
        }
    }

    @Test
    void gradientsAccumulateAcrossCallsAsTheirSum() {
        try (GraphCase a = GraphCase.of(TINY, 2, 8, 8, 6, 15);
             GraphCase b = GraphCase.of(TINY, 2, 8, 8, 3, 16)) {
            WanGraph graph = new WanGraph(TINY, a.weights(), HYBRID.withBlocks(16, 16), true);
            Map<String, Tensor> first = backward(graph, a, new LinkedHashMap<>());
            Map<String, Tensor> second = backward(graph, b, new LinkedHashMap<>());
            Map<String, Tensor> both = backward(graph, b, backward(graph, a, new LinkedHashMap<>()));
            for (String name : first.keySet()) {
                float[] x = first.get(name).toFloatArray();
                float[] y = second.get(name).toFloatArray();
                float[] sum = both.get(name).toFloatArray();
                for (int i = 0; i < sum.length; i++) {
                    // axpy adds b's gradient into a's in f32: exactly the f32 sum
                    assertEquals(x[i] + y[i], sum[i], 0f, name + "[" + i + "]");
                }
            }
            for (Map<String, Tensor> m : List.of(first, second, both)) {
                m.values().forEach(Tensor::close);
            }
        }
    }

    private static Map<String, Tensor> backward(WanGraph graph, GraphCase c, Map<String, Tensor> grads) {
        try (WanGraph.Tape tape = graph.forward(c.x(), c.t(), c.context(), 0)) {
            return graph.backward(tape, c.r(), grads);
        }
    }

    @Test
    void inPlaceParameterUpdatesAreSeenByTheNextForward() {
        try (GraphCase c = GraphCase.of(TINY, 2, 8, 8, 4, 17)) {
            WanGraph graph = new WanGraph(TINY, c.weights(), WanAttention.dense(), true);
            try (Tensor before = graph.predict(c.x(), c.t(), c.context(), 0)) {
                Tensor w = c.weights().get("blocks.1.ffn.2.weight");
                w.setFloat(0, w.getFloat(0) + 0.5f);
                Tensor p = c.weights().get("patch_embedding.weight");
                p.setFloat(3, p.getFloat(3) - 0.5f);
                WanModel model = new WanModel(TINY, c.weights(), WanAttention.dense());
                try (Tensor after = graph.predict(c.x(), c.t(), c.context(), 0);
                     Tensor expected = model.forward(c.x(), c.t(), c.context(), 0)) {
                    assertArrayEquals(expected.toFloatArray(), after.toFloatArray());
                    assertTrue(maxAbsDiff(before.toFloatArray(), after.toFloatArray()) > 1e-4);
                }
            }
        }
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    @Test
    void rejectsWrongArgumentsNamingThem() {
        try (GraphCase c = GraphCase.of(TINY, 2, 8, 8, 4, 18)) {
            Map<String, Tensor> bf16 = new LinkedHashMap<>(c.weights());
            Tensor half = c.weights().get("head.head.bias").to(DType.BF16);
            bf16.put("head.head.bias", half);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new WanGraph(TINY, bf16, WanAttention.dense(), false));
            assertTrue(e.getMessage().contains("head.head.bias"), e.getMessage());
            half.close();

            WanGraph graph = new WanGraph(TINY, c.weights(), WanAttention.dense(), false);
            try (WanGraph.Tape tape = graph.forward(c.x(), c.t(), c.context(), 0);
                 Tensor wrong = Tensor.zeros(3, 2, 8, 4)) {
                assertThrows(IllegalStateException.class, tape::contextGradient);
                e = assertThrows(IllegalArgumentException.class,
                        () -> graph.backward(tape, wrong, new LinkedHashMap<>()));
                assertTrue(e.getMessage().contains("dVelocity"), e.getMessage());
                Map<String, Tensor> badGrads = new LinkedHashMap<>();
                badGrads.put("head.head.bias", Tensor.zeros(5));
                e = assertThrows(IllegalArgumentException.class, () -> graph.backward(tape, c.r(), badGrads));
                assertTrue(e.getMessage().contains("grads[head.head.bias]"), e.getMessage());
                badGrads.values().forEach(Tensor::close);
                assertThrows(IllegalStateException.class, () -> graph.backward(tape, c.r(), new LinkedHashMap<>()));
            }
            e = assertThrows(IllegalArgumentException.class, () -> graph.forward(c.x(), 1001, c.context(), 0));
            assertTrue(e.getMessage().contains("timestep"), e.getMessage());
        }
    }
}
