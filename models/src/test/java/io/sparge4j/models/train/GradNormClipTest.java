package io.sparge4j.models.train;

import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.sampling.Noise;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Global-norm clipping against float64 computed here, with torch.nn.utils.clip_grad_norm_'s rule: the norm before
 * clipping is returned, and gradients are scaled by max / (norm + 1e-6) only when that is below 1. Tolerances: the
 * norm (accumulated in double by both) to 1e-12 relative; clipped elements to 1 f32 rounding of the scaled value
 * (relative 2e-7), and the clipped norm to max within 1e-6 relative.
 */
class GradNormClipTest {

    private static Map<String, Tensor> gradients() {
        Map<String, Tensor> g = new LinkedHashMap<>();
        g.put("a", Noise.gaussian(1, 41, 1000));   // 41000 elements: three chunks
        g.put("b", Noise.gaussian(2, 7));
        g.put("c", Noise.gaussian(3, 3, 5, 2));
        return g;
    }

    private static double norm64(Map<String, Tensor> g) {
        double s = 0;
        for (Tensor t : g.values()) {
            for (double x : t.toDoubleArray()) {
                s += x * x;
            }
        }
        return Math.sqrt(s);
    }

    @Test
    void clipsAboveTheMaximumAndReturnsThePreClipNorm() {
        Map<String, Tensor> g = gradients();
        Map<String, double[]> before = new LinkedHashMap<>();
        g.forEach((k, v) -> before.put(k, v.toDoubleArray()));
        double want = norm64(g);
        double max = 10.0;
        double got = GradNormClip.clip(g, max);
        assertEquals(want, got, want * 1e-12);
        double coef = max / (want + 1e-6);
        for (String k : g.keySet()) {
            double[] b = before.get(k);
            double[] a = g.get(k).toDoubleArray();
            for (int i = 0; i < a.length; i++) {
                assertEquals(b[i] * coef, a[i], Math.abs(b[i] * coef) * 2e-7 + 1e-30, k + "[" + i + "]");
            }
        }
        assertEquals(max, norm64(g), max * 1e-6);
    }

    @Test
    void leavesGradientsBelowTheMaximumUntouched() {
        Map<String, Tensor> g = gradients();
        float[] a = g.get("a").toFloatArray();
        double want = norm64(g);
        assertEquals(want, GradNormClip.clip(g, want * 1.01), want * 1e-12);
        assertArrayEquals(a, g.get("a").toFloatArray());
        assertEquals(want, GradNormClip.clip(g, Double.POSITIVE_INFINITY), want * 1e-12);
        assertArrayEquals(a, g.get("a").toFloatArray());
    }

    @Test
    void rejectsANonPositiveMaximum() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> GradNormClip.clip(gradients(), 0))
                .getMessage().contains("maxNorm is 0.0"));
    }
}
