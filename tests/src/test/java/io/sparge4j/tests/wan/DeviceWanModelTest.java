package io.sparge4j.tests.wan;

import io.sparge4j.engine.gpu.DeviceSession;
import io.sparge4j.engine.gpu.GemmPrecision;
import io.sparge4j.engine.tensor.Tensor;
import io.sparge4j.models.sampling.Noise;
import io.sparge4j.models.wan.DeviceWanModel;
import io.sparge4j.models.wan.WanAttention;
import io.sparge4j.models.wan.WanAttentionStats;
import io.sparge4j.models.wan.AbsolutePosition;
import io.sparge4j.models.wan.TextModulation;
import io.sparge4j.models.wan.WanConfig;
import io.sparge4j.models.wan.WanModel;
import io.sparge4j.models.wan.WanWeights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole Wan2.1 DiT on the device op layer ({@link DeviceWanModel}) against the CPU {@link WanModel}, which
 * {@code WanModelTest} checks against an independent float64 reference: a tiny latent model (dim 128, 2 heads of 64,
 * 2 blocks, 4 channels) on a (3, 8, 15) token grid = 360 tokens (not a multiple of the 128-token query block), on
 * the emulator, every OpenCL device (PoCL in CI) and CUDA, each skipped with the reason where absent.
 *
 * <p>Tolerances, relative to max |v_cpu|: f32 GEMMs 1e-4 (both sides round every op to f32 in different orders
 * through two blocks; a wrong detail such as RoPE off or a swapped modulation gives O(1)). bf16 GEMMs and
 * self-attention 3e-2 (operands rounded to 8 significant bits, u = 2^-8); f16 4e-3, the same bound for operands
 * rounded to 11 (u = 2^-11, 8 times less). Hybrid runs compare only where both backends chose masks of the same
 * sparsity in every layer, which this seed gives.
 */
class DeviceWanModelTest {
    static final WanConfig CONFIG = WanConfig.tiny(128, 2, 2, 4, false);
    private static final double F32_TOL = 1e-4;
    private static final double BF16_TOL = 3e-2;
    private static final double F16_TOL = BF16_TOL / 8;
    /** Loose enough that a 3 x 6 block grid keeps some key blocks and drops others. */
    private static final WanAttention HYBRID = WanAttention.defaults().withTopk(0.34).withTopp(0.6);

    private static final Map<String, Tensor> WEIGHTS = WanWeights.randomInit(CONFIG, 20261203L);

    @ParameterizedTest
    @ValueSource(strings = {"emulator", "opencl", "cuda"})
    void denseForwardMatchesCpuModel(String backend) {
        compare(backend, WanAttention.dense(), GemmPrecision.F32, F32_TOL);
    }

    @ParameterizedTest
    @ValueSource(strings = {"emulator", "opencl", "cuda"})
    void hybridForwardMatchesCpuModelWithTheSameMasks(String backend) {
        compare(backend, HYBRID, GemmPrecision.F32, F32_TOL);
    }

    /**
     * The 16-bit precisions end to end (GEMMs and self-attention on the tensor-core kernels). bf16 on PoCL and CUDA
     * only: the emulator's tensor-core fallback is slow, and DeviceWanBlockTest covers bf16 there; f16 on the
     * emulator too, as no other test runs the whole model in f16.
     */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"opencl, BF16", "cuda, BF16", "emulator, F16", "opencl, F16", "cuda, F16"})
    void halfGemmsStayCloseToCpuModel(String backend, GemmPrecision precision) {
        compare(backend, HYBRID, precision, precision == GemmPrecision.BF16 ? BF16_TOL : F16_TOL);
    }

    @ParameterizedTest
    @ValueSource(strings = {"emulator", "opencl"})
    void denseLayersAndStepsAreHonouredAndNothingLeaks(String backend) {
        try (DeviceSession session = DeviceTestSessions.open(backend); Tensor x = input(); Tensor ctx = context()) {
            int before = session.liveAllocations();
            try (DeviceWanModel model = new DeviceWanModel(session, CONFIG, WEIGHTS, HYBRID.withDenseLayers(1)
                    .withDenseSteps(1), GemmPrecision.F32)) {
                int weights = session.liveAllocations() - before;
                assertEquals(WEIGHTS.size(), weights, "one device tensor per weight");
                for (int step = 0; step < 2; step++) {
                    model.forward(x, 500, ctx, step).close();
                }
                WanAttentionStats s = model.stats();
                List<WanAttentionStats.Entry> e = s.entries();
                assertEquals(4, e.size(), "two layers at two steps");
                assertTrue(e.get(0).dense() && e.get(1).dense(), "step 0 dense in every layer");
                assertTrue(e.get(2).dense(), "layer 0 dense at step 1");
                assertTrue(!e.get(3).dense() && e.get(3).statistics().sparsity() > 0.1,
                        "layer 1 at step 1 sparse, sparsity " + e.get(3).statistics().sparsity());
                session.synchronize();
                assertEquals(weights, session.liveAllocations() - before, "every intermediate freed after forward");
            }
            assertEquals(before, session.liveAllocations(), "every weight freed after close");
        }
    }

    /**
     * A late Top-k on the device: at and below its noise level the forward is the one with that k, bit for bit (the
     * same kernels), above it the one with the base k, and the two differ; the CPU model switches at the same level
     * ({@code WanModelTest}).
     */
    @ParameterizedTest
    @ValueSource(strings = {"opencl", "cuda"})
    void aLateTopkSwitchesAtItsNoiseLevel(String backend) {
        WanAttention base = WanAttention.defaults().withTopk(0.17).withTopp(0.05);
        try (DeviceSession session = DeviceTestSessions.open(backend); Tensor x = input(); Tensor ctx = context();
             DeviceWanModel late = new DeviceWanModel(session, CONFIG, WEIGHTS, base.withLateTopk(0.5, 0.4),
                     GemmPrecision.F32);
             DeviceWanModel wide = new DeviceWanModel(session, CONFIG, WEIGHTS, base.withTopk(0.5),
                     GemmPrecision.F32);
             DeviceWanModel plain = new DeviceWanModel(session, CONFIG, WEIGHTS, base, GemmPrecision.F32)) {
            try (Tensor got = late.forward(x, 400, ctx, 0); Tensor want = wide.forward(x, 400, ctx, 0)) {
                assertArrayEquals(want.toFloatArray(), got.toFloatArray(), "timestep 400: the late k");
            }
            try (Tensor got = late.forward(x, 401, ctx, 0); Tensor want = plain.forward(x, 401, ctx, 0);
                 Tensor other = wide.forward(x, 401, ctx, 0)) {
                assertArrayEquals(want.toFloatArray(), got.toFloatArray(), "timestep 401: the base k");
                float[] a = want.toFloatArray();
                float[] b = other.toFloatArray();
                boolean differ = false;
                for (int i = 0; i < a.length && !differ; i++) {
                    differ = a[i] != b[i];
                }
                assertTrue(differ, "k 0.17 and k 0.5 should keep other blocks here");
            }
        }
    }

    @Test
    void refusesBlockSizesTheKernelsDoNotHave() {
        try (DeviceSession session = DeviceSession.open("emulator")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new DeviceWanModel(session,
                    CONFIG, WEIGHTS, HYBRID.withBlocks(64, 64), GemmPrecision.F32));
            assertTrue(e.getMessage().contains("64 x 64") && e.getMessage().contains("128 x 64"), e.getMessage());
        }
    }

    /** The experimental absolute position signal (AbsolutePosition.SINCOS) on the device, as on the CPU. */
    @ParameterizedTest
    @ValueSource(strings = {"emulator", "opencl", "cuda"})
    void sincosPositionForwardMatchesCpuModel(String backend) {
        compare(backend, CONFIG.withAbsolutePosition(AbsolutePosition.SINCOS), WanAttention.dense(),
                GemmPrecision.F32, F32_TOL);
    }

    /**
     * The experimental pooled text modulation (TextModulation.POOLED, with the position signal) on the device, as on
     * the CPU; the CPU side is checked against a float64 reference in WanModelTest.
     */
    @ParameterizedTest
    @ValueSource(strings = {"emulator", "opencl", "cuda"})
    void pooledTextModulationForwardMatchesCpuModel(String backend) {
        compare(backend, CONFIG.withAbsolutePosition(AbsolutePosition.SINCOS).withTextModulation(TextModulation.POOLED),
                WanAttention.dense(), GemmPrecision.F32, F32_TOL);
    }

    /**
     * The signal is uploaded once per token layout: forwards at one size, another, and the first again each match
     * the CPU model, and closing the model frees it with the weights.
     */
    @ParameterizedTest
    @ValueSource(strings = {"opencl", "cuda"})
    void sincosPositionFollowsTheInputSizeAndIsFreedOnClose(String backend) {
        WanConfig config = CONFIG.withAbsolutePosition(AbsolutePosition.SINCOS);
        WanModel cpu = new WanModel(config, WEIGHTS, WanAttention.dense());
        try (DeviceSession session = DeviceTestSessions.open(backend); Tensor big = input(); Tensor ctx = context();
             Tensor small = Noise.gaussian(9, CONFIG.inDim(), 2, 8, 12)) {
            int before = session.liveAllocations();
            try (DeviceWanModel device = new DeviceWanModel(session, config, WEIGHTS, WanAttention.dense(),
                    GemmPrecision.F32)) {
                for (Tensor x : List.of(big, small, big)) {
                    try (Tensor want = cpu.forward(x, 300, ctx, 0); Tensor got = device.forward(x, 300, ctx, 0)) {
                        double scale = 0;
                        double diff = 0;
                        float[] w = want.toFloatArray();
                        float[] g = got.toFloatArray();
                        for (int i = 0; i < w.length; i++) {
                            scale = Math.max(scale, Math.abs(w[i]));
                            diff = Math.max(diff, Math.abs(w[i] - g[i]));
                        }
                        assertTrue(diff <= F32_TOL * scale, java.util.Arrays.toString(x.shape()) + ": max |diff| "
                                + diff + " > " + F32_TOL + " * " + scale);
                    }
                }
            }
            session.synchronize();
            assertEquals(before, session.liveAllocations(), "the signal freed with the model");
        }
    }

    private static void compare(String backend, WanAttention attention, GemmPrecision precision, double tol) {
        compare(backend, CONFIG, attention, precision, tol);
    }

    private static void compare(String backend, WanConfig config, WanAttention attention, GemmPrecision precision,
            double tol) {
        WanModel cpu = new WanModel(config, WEIGHTS, attention);
        try (DeviceSession session = DeviceTestSessions.open(backend); Tensor x = input(); Tensor ctx = context();
             DeviceWanModel device = new DeviceWanModel(session, config, WEIGHTS, attention, precision);
             Tensor expected = cpu.forward(x, 700, ctx, 0); Tensor actual = device.forward(x, 700, ctx, 0)) {
            assertEquals(List.of(expected.shape()[0], 3, 16, 30), List.of(actual.shape()[0], actual.dim(1),
                    actual.dim(2), actual.dim(3)), "velocity shape");
            List<WanAttentionStats.Entry> ce = cpu.stats().entries();
            List<WanAttentionStats.Entry> de = device.stats().entries();
            assertEquals(ce.size(), de.size(), "self-attention calls");
            for (int i = 0; i < ce.size(); i++) {
                assertEquals(ce.get(i).statistics().sparsity(), de.get(i).statistics().sparsity(), 1e-12,
                        "layer " + i + " mask sparsity, CPU against " + backend);
            }
            if (attention.mode() != io.sparge4j.engine.sparse.MaskMode.DENSE) {
                assertTrue(de.get(0).statistics().sparsity() > 0.1, "hybrid drops blocks: sparsity "
                        + de.get(0).statistics().sparsity());
            }
            double[] e = expected.toDoubleArray();
            double[] a = actual.toDoubleArray();
            double scale = 0;
            double diff = 0;
            for (int i = 0; i < e.length; i++) {
                scale = Math.max(scale, Math.abs(e[i]));
                diff = Math.max(diff, Math.abs(e[i] - a[i]));
            }
            assertTrue(scale > 1e-2, "CPU velocity is (nearly) zero: max " + scale);
            System.out.printf("DeviceWanModelTest %s %s %s: max |diff| / max |v| = %.2e%n", backend,
                    attention.mode(), precision, diff / scale);
            assertTrue(diff <= tol * scale, backend + " " + precision + ": max |diff| " + diff + " > " + tol
                    + " * max |v| " + scale);
        }
    }

    /** Latents (4, 3, 16, 30): a (3, 8, 15) token grid. */
    static Tensor input() {
        return Noise.gaussian(7, CONFIG.inDim(), 3, 16, 30);
    }

    /** Five text rows (padded to text_len by the model). */
    static Tensor context() {
        return Noise.gaussian(8, 5, CONFIG.textDim());
    }
}
