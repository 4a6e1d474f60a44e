package io.sparge4j.models.train;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanParameters;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link WanInit} against Wan2.1's {@code init_weights}: each family's distribution (bounds exactly, moments within
 * 10% on these sizes, where a wrong formula such as fan_in-only Xavier or std 0.2 is off by 30% or more), the zero
 * head, determinism, and the consequence that a fresh model predicts exactly zero but still receives gradients.
 */
class WanInitTest {
    private static final WanConfig CONFIG = new WanConfig(96, 192, 4, 2, 3, 3, 48, 16, 64, List.of(1, 2, 2), 1e-6,
            true, true, true, List.of(1, 1, 1));

    @Test
    void followsWanInitWeights() {
        Map<String, Tensor> p = WanInit.pretraining(CONFIG, 5);
        assertEquals(WanParameters.expected(CONFIG).keySet(), p.keySet());
        int dim = CONFIG.dim();
        for (Map.Entry<String, Tensor> e : p.entrySet()) {
            String name = e.getKey();
            float[] v = e.getValue().toFloatArray();
            int[] shape = e.getValue().shape();
            if (name.endsWith("modulation")) {
                assertMoments(name, v, 0, 1 / Math.sqrt(dim));
            } else if (name.contains("norm")) {
                float expected = name.endsWith(".weight") ? 1f : 0f;
                for (float x : v) {
                    assertEquals(expected, x, 0f, name);
                }
            } else if (name.equals("patch_embedding.bias")) {
                double bound = 1 / Math.sqrt(3 * 4);
                assertUniform(name, v, bound);
            } else if (name.endsWith(".bias") || name.equals("head.head.weight")) {
                for (float x : v) {
                    assertEquals(0f, x, 0f, name);
                }
            } else if (name.startsWith("text_embedding.") || name.startsWith("time_embedding.")) {
                assertMoments(name, v, 0, 0.02);
            } else {
                long fanIn = v.length / shape[0];
                assertUniform(name, v, Math.sqrt(6.0 / (fanIn + shape[0])));
            }
        }
        Map<String, Tensor> again = WanInit.pretraining(CONFIG, 5);
        Map<String, Tensor> other = WanInit.pretraining(CONFIG, 6);
        p.forEach((k, t) -> assertArrayEquals(t.toFloatArray(), again.get(k).toFloatArray(), k));
        assertFalse(java.util.Arrays.equals(p.get("blocks.0.ffn.0.weight").toFloatArray(),
                other.get("blocks.0.ffn.0.weight").toFloatArray()));
        for (Map<String, Tensor> m : List.of(p, again, other)) {
            m.values().forEach(Tensor::close);
        }
    }

    @Test
    void aFreshModelPredictsZeroAndStillGetsGradients() {
        Map<String, Tensor> p = WanInit.pretraining(CONFIG, 7);
        WanGraph graph = new WanGraph(CONFIG, p, WanAttention.dense(), false);
        Map<String, Tensor> grads = new LinkedHashMap<>();
        try (Tensor x = Tensor.randn(1, 3, 2, 8, 8);
             Tensor ctx = Tensor.randn(2, 5, CONFIG.textDim());
             Tensor dv = Tensor.randn(3, 3, 2, 8, 8);
             WanGraph.Tape tape = graph.forward(x, 500, ctx, 0)) {
            for (float v : tape.velocity().toFloatArray()) {
                assertEquals(0f, v, 0f, "the zero head predicts zero");
            }
            graph.backward(tape, dv, grads);
            double headGrad = norm(grads.get("head.head.weight").toFloatArray());
            assertTrue(headGrad > 0, "the head's weight learns first: " + headGrad);
            // the zero head blocks every other path, as in Wan at step 0
            assertEquals(0.0, norm(grads.get("blocks.0.ffn.0.weight").toFloatArray()), 0.0);
        }
        grads.values().forEach(Tensor::close);
        p.values().forEach(Tensor::close);
    }

    private static double norm(float[] v) {
        double s = 0;
        for (float x : v) {
            s += (double) x * x;
        }
        return Math.sqrt(s);
    }

    private static void assertUniform(String name, float[] v, double bound) {
        for (float x : v) {
            assertTrue(Math.abs(x) <= bound, name + ": " + x + " outside +-" + bound);
        }
        assertMoments(name, v, 0, bound / Math.sqrt(3));
    }

    private static void assertMoments(String name, float[] v, double mean, double std) {
        double s = 0;
        double s2 = 0;
        for (float x : v) {
            s += x;
            s2 += (double) x * x;
        }
        double m = s / v.length;
        double sd = Math.sqrt(s2 / v.length - m * m);
        assertEquals(mean, m, 4 * std / Math.sqrt(v.length), name + " mean");
        assertEquals(std, sd, 0.1 * std, name + " std");
    }
}
