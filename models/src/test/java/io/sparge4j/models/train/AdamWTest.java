package io.sparge4j.models.train;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.nn.AdamWKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.models.sampling.Noise;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * AdamW against a float64 reference of PyTorch's {@code torch.optim.AdamW} single-tensor update, written here:
 * {@code p *= 1 - lr wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 * p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)}, carried in double through six steps with fresh
 * gradients and a changing lr, from PyTorch's zero initial state. With a learning-rate scale, the reference takes
 * {@code lr * scale} for the parameters the pattern names (PyTorch's second parameter group) and lr for the rest.
 *
 * <p>Tolerance on parameters: |got - ref| <= 2e-6 + 1e-6 |ref|. Each step moves a parameter by about lr = 1e-2, and
 * weight decay moves a weight by lr * wd * p (about 1e-3), so a skipped step or a wrong decay fails by 500x or more.
 * Moments: rtol 1e-5; atol 1e-7 for exp_avg (terms of about 0.1 cancel, leaving f32 rounding of their size;
 * one step's change is about 0.1) and 1e-9 for exp_avg_sq (terms of about 1e-3).
 */
class AdamWTest {
    private static final int STEPS = 6;

    /** Parameters named like Wan's: a decayed matrix, a bias, a norm weight, a modulation table, a rank-4 kernel. */
    private static Map<String, Tensor> parameters(long seed) {
        Map<String, Tensor> p = new LinkedHashMap<>();
        p.put("blocks.0.ffn.0.weight", Noise.gaussian(seed, 64, 300));   // 19200 elements: two chunks
        p.put("blocks.0.ffn.0.bias", Noise.gaussian(seed + 1, 64));
        p.put("blocks.0.self_attn.norm_q.weight", Noise.gaussian(seed + 2, 64));
        p.put("blocks.0.modulation", Noise.gaussian(seed + 3, 1, 6, 16));
        p.put("patch_embedding.weight", Noise.gaussian(seed + 4, 8, 3, 2, 2));
        return p;
    }

    private static Map<String, Tensor> gradients(Map<String, Tensor> params, long seed) {
        Map<String, Tensor> g = new LinkedHashMap<>();
        long s = seed;
        for (Map.Entry<String, Tensor> e : params.entrySet()) {
            Tensor t = Noise.gaussian(s++, e.getValue().shape());
            if (e.getKey().endsWith("bias")) {
                t.setFloat(3, 0f);   // a zero gradient still moves the parameter through the momentum
            }
            g.put(e.getKey(), t);
        }
        return g;
    }

    @ParameterizedTest(name = "weightDecay={0}, lrScale={1}")
    @CsvSource({"0.0, 1", "0.1, 1", "0.1, 4", "0.0, 0.25"})
    void stepsMatchFloat64PyTorchReference(double weightDecay, double lrScale) {
        // the scaled group holds a decayed matrix and an undecayed bias, so every hyperparameter group is exercised
        String scaled = "blocks\\.0\\.ffn\\..*";
        AdamWConfig config = AdamWConfig.pytorchDefaults(weightDecay).withLrScale(scaled, lrScale);
        Map<String, Tensor> params = parameters(11);
        Map<String, double[]> p = new HashMap<>();
        Map<String, double[]> m = new HashMap<>();
        Map<String, double[]> v = new HashMap<>();
        for (Map.Entry<String, Tensor> e : params.entrySet()) {
            p.put(e.getKey(), e.getValue().toDoubleArray());
            m.put(e.getKey(), new double[(int) e.getValue().numel()]);
            v.put(e.getKey(), new double[(int) e.getValue().numel()]);
        }
        AdamW opt = new AdamW(config, params);
        for (int t = 1; t <= STEPS; t++) {
            double lr = 1e-2 * (1 + 0.25 * t);
            Map<String, Tensor> grads = gradients(params, 1000L * t);
            opt.step(grads, lr);
            for (String name : params.keySet()) {
                boolean decay = weightDecay > 0 && params.get(name).rank() >= 2
                        && !name.equals("blocks.0.modulation");
                reference(p.get(name), grads.get(name).toDoubleArray(), m.get(name), v.get(name),
                        name.matches(scaled) ? lr * lrScale : lr, decay ? weightDecay : 0, t);
            }
        }
        assertEquals(STEPS, opt.steps());
        for (String name : params.keySet()) {
            assertClose(name, p.get(name), params.get(name).toDoubleArray(), 2e-6, 1e-6);
            assertClose(name + ".exp_avg", m.get(name), opt.state().get(name + AdamW.EXP_AVG).toDoubleArray(),
                    1e-7, 1e-5);
            assertClose(name + ".exp_avg_sq", v.get(name),
                    opt.state().get(name + AdamW.EXP_AVG_SQ).toDoubleArray(), 1e-9, 1e-5);
        }
    }

    /** PyTorch's AdamW update in float64. */
    private static void reference(double[] p, double[] g, double[] m, double[] v, double lr, double wd, int t) {
        double b1 = 0.9;
        double b2 = 0.999;
        double eps = 1e-8;
        double bc1 = 1 - Math.pow(b1, t);
        double bc2 = 1 - Math.pow(b2, t);
        for (int i = 0; i < p.length; i++) {
            p[i] *= 1 - lr * wd;
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            p[i] -= lr / bc1 * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps);
        }
    }

    /** The CPU optimizer and the GPU kernel's own arithmetic (run here as plain Java) agree bit for bit. */
    @Test
    void matchesTheDeviceKernelBitForBit() {
        Tensor param = Noise.gaussian(5, 33, 1001);
        float[] kp = param.toFloatArray();
        float[] km = new float[kp.length];
        float[] kv = new float[kp.length];
        AdamW opt = new AdamW(AdamWConfig.pytorchDefaults(0.05), Map.of("w", param));
        FloatArray hyper = new FloatArray(AdamWKernels.HYPER_SIZE);
        FloatArray fp = FloatArray.fromArray(kp);
        FloatArray fm = FloatArray.fromArray(km);
        FloatArray fv = FloatArray.fromArray(kv);
        for (int t = 1; t <= 4; t++) {
            Tensor g = Noise.gaussian(100 + t, 33, 1001);
            double lr = 3e-3 * t;
            opt.step(Map.of("w", g), lr);
            AdamWKernels.hyperparameters(lr, 0.9, 0.999, 1e-8, 0.05, t, hyper);
            // the placeholder context has globalIdx 0 and global size 1: one work-item walks every element
            AdamWKernels.adamW(new KernelContext(), fp, FloatArray.fromArray(g.toFloatArray()), fm, fv, hyper,
                    kp.length);
        }
        assertArrayEquals(fp.toHeapArray(), param.toFloatArray());
        assertArrayEquals(fm.toHeapArray(), opt.state().get("w" + AdamW.EXP_AVG).toFloatArray());
        assertArrayEquals(fv.toHeapArray(), opt.state().get("w" + AdamW.EXP_AVG_SQ).toFloatArray());
    }

    /** Each element's update depends on nothing else, so the thread count cannot change a bit. */
    @Test
    void resultsDoNotDependOnTheThreadCount() {
        int before = CpuRuntime.threads();
        try {
            float[][] results = new float[2][];
            int[] threads = {1, 4};
            for (int r = 0; r < 2; r++) {
                CpuRuntime.setThreads(threads[r]);
                Map<String, Tensor> params = parameters(21);
                AdamW opt = new AdamW(AdamWConfig.pytorchDefaults(0.1), params);
                for (int t = 1; t <= 3; t++) {
                    opt.step(gradients(params, 50L * t), 1e-2);
                }
                results[r] = params.get("blocks.0.ffn.0.weight").toFloatArray();
            }
            assertArrayEquals(results[0], results[1]);
        } finally {
            CpuRuntime.setThreads(before);
        }
    }

    @Test
    void decayRuleExcludesBiasesNormsModulationAndEmbeddings() {
        AdamWConfig c = AdamWConfig.pytorchDefaults(0.01);
        Tensor matrix = Tensor.zeros(4, 4);
        assertTrue(c.decays("blocks.3.self_attn.q.weight", matrix));
        assertTrue(c.decays("patch_embedding.weight", Tensor.zeros(4, 3, 1, 2, 2)));
        assertTrue(c.decays("text_embedding.0.weight", matrix));
        assertFalse(c.decays("blocks.3.self_attn.q.bias", Tensor.zeros(4)));
        assertFalse(c.decays("blocks.3.norm3.weight", Tensor.zeros(4)));
        assertFalse(c.decays("blocks.3.modulation", Tensor.zeros(1, 6, 4)));
        assertFalse(c.decays("head.modulation", Tensor.zeros(1, 2, 4)));
        assertFalse(c.decays("text_encoder.token_embedding.weight", matrix));
        assertFalse(c.decays("text_encoder.layers.0.norm1.weight", matrix));
        assertFalse(AdamWConfig.pytorchDefaults(0).decays("blocks.3.self_attn.q.weight", matrix));
        assertTrue(new AdamWConfig(0.9, 0.999, 1e-8, 0.01, "").decays("head.modulation", Tensor.zeros(1, 2, 4)));
    }

    @Test
    void badArgumentsAreNamed() {
        Map<String, Tensor> params = parameters(3);
        AdamW opt = new AdamW(AdamWConfig.pytorchDefaults(0.01), params);
        Map<String, Tensor> grads = gradients(params, 9);
        grads.put("blocks.0.ffn.0.bias", Tensor.zeros(65));
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class, () -> opt.step(grads, 1e-3));
        assertTrue(shape.getMessage().contains("'blocks.0.ffn.0.bias' has shape [65], expected [64]"),
                shape.getMessage());
        Map<String, Tensor> missing = gradients(params, 9);
        missing.remove("blocks.0.modulation");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> opt.step(missing, 1e-3)).getMessage()
                .contains("no entry 'blocks.0.modulation'"));
        Map<String, Tensor> extra = gradients(params, 9);
        extra.put("stray", Tensor.zeros(1));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> opt.step(extra, 1e-3)).getMessage()
                .contains("[stray]"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> opt.step(gradients(params, 9), -1))
                .getMessage().contains("lr is -1.0"));
        assertEquals(0, opt.steps(), "failed steps must not count");
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> new AdamWConfig(1.0, 0.999, 1e-8, 0, "")).getMessage().contains("beta1 is 1.0"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> AdamWConfig.pytorchDefaults(0).withLrScale("x.*", 0)).getMessage().contains("lrScale is 0.0"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> AdamWConfig.pytorchDefaults(0).withLrScale("(", 2)).getMessage()
                .contains("lrScalePattern is '('"));
        Map<String, Tensor> state = new LinkedHashMap<>(opt.state());
        state.put("blocks.0.ffn.0.bias.exp_avg", Tensor.zeros(2));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> opt.loadState(state, 1)).getMessage()
                .contains("'blocks.0.ffn.0.bias.exp_avg' has shape [2], expected [64]"));
    }

    private static void assertClose(String what, double[] want, double[] got, double atol, double rtol) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            double tol = atol + rtol * Math.abs(want[i]);
            if (!(Math.abs(got[i] - want[i]) <= tol)) {
                throw new AssertionError(what + "[" + i + "]: got " + got[i] + ", want " + want[i] + " (tolerance "
                        + tol + ")");
            }
        }
    }
}
