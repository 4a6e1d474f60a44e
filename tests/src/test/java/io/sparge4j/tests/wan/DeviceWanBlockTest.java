package io.sparge4j.tests.wan;

import io.sparge4j.engine.gpu.DeviceSession;
import io.sparge4j.engine.gpu.DeviceTensor;
import io.sparge4j.engine.gpu.GemmPrecision;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

import static io.sparge4j.engine.testing.Assertions2.assertClose;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.DIM;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.HEADS;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.TOKENS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A whole Wan2.1 block (dim 128, 2 heads of 64, FFN 256, a (3, 8, 15) token grid = 360 tokens, 21 context rows) on
 * the device op layer ({@link DeviceWanBlock}), forward and backward, on the emulator, PoCL OpenCL and CUDA (skipped
 * with the reason where absent): adaLN modulation, self-attention with RMSNorm on q and k, 3D RoPE and
 * SpargeAttention2's hybrid block-sparse attention over a mask built on the device, cross-attention (dense, 21 keys),
 * the GELU FFN and the gated residuals. Only the inputs go up; only the output, the mask and the gradients come back.
 * Checked against the float64 {@link DeviceWanBlockReference} with the device's own mask.
 *
 * <p>Forward tolerance (f32 GEMMs): every op rounds to f32, the GEMMs add up to 256 terms and the norms divide by
 * row statistics; 2e-5 relative + 2e-5 absolute for outputs of size ~5 (measured: max |out - ref| 1.5e-6). It fails
 * the planted bugs (no RoPE; dense attention in place of the mask) by orders of magnitude. With bf16 GEMMs (operands
 * rounded to 8 mantissa bits, f32 accumulation): 2e-2 relative + 5e-2 absolute (measured: 1.2e-2).
 *
 * <p>Backward: loss = sum(out * g) for a random g; for every leaf, the device gradient's directional derivative along
 * a random direction against float64 central differences of the reference (step 1e-3 of a unit-spread direction:
 * truncation ~1e-7 relative): within 1e-4 of sum |grad_i dir_i| plus 1e-6, where the f32 backward's own error is a
 * few 1e-7 relative per term.
 */
class DeviceWanBlockTest {
    private static final long SEED = 20261203L;
    private static final double RTOL = 2e-5;
    private static final double ATOL = 2e-5;
    private static final double BF16_RTOL = 2e-2;
    private static final double BF16_ATOL = 5e-2;
    private static final double FD_STEP = 1e-3;
    private static final double GRAD_TOL = 1e-4;

    @ParameterizedTest
    @ValueSource(strings = {"emulator", "opencl", "cuda"})
    void forwardMatchesFloat64Reference(String backend) {
        Map<String, double[]> leaves = DeviceWanBlockReference.leaves(SEED);
        try (DeviceSession session = DeviceTestSessions.open(backend);
             DeviceWanBlock block = new DeviceWanBlock(session, leaves, GemmPrecision.F32)) {
            float[] out = host(block.forward());
            BlockMask mask = block.mask().toHost();
            double sparsity = mask.sparsity();
            assertTrue(sparsity > 0.1 && sparsity < 0.9, "mask sparsity " + sparsity + ", expected some blocks dropped"
                    + " and some kept");
            double[] ref = DeviceWanBlockReference.forward(leaves, kept(mask), DeviceWanBlockReference.Variant.WAN);
            report(backend + " f32", ref, out, sparsity);
            assertClose(ref, out, RTOL, ATOL, backend + " block output");
            for (DeviceWanBlockReference.Variant bug : new DeviceWanBlockReference.Variant[]{
                    DeviceWanBlockReference.Variant.NO_ROPE, DeviceWanBlockReference.Variant.IGNORE_MASK}) {
                double[] wrong = DeviceWanBlockReference.forward(leaves, kept(mask), bug);
                assertThrows(AssertionError.class, () -> assertClose(wrong, out, RTOL, ATOL, bug.name()),
                        "the tolerance must catch " + bug);
            }
            block.closeIntermediates();
            assertEquals(block.liveLeaves, session.liveAllocations(), "device allocations after the block: every"
                    + " intermediate freed");
        }
    }

    /** PoCL and CUDA only: the emulator runs the tensor-core fallback slowly, and DeviceOpsTest covers it there. */
    @ParameterizedTest
    @ValueSource(strings = {"opencl", "cuda"})
    void bf16GemmsStayCloseToFloat64(String backend) {
        Map<String, double[]> leaves = DeviceWanBlockReference.leaves(SEED + 1);
        try (DeviceSession session = DeviceTestSessions.open(backend);
             DeviceWanBlock block = new DeviceWanBlock(session, leaves, GemmPrecision.BF16)) {
            float[] out = host(block.forward());
            BlockMask mask = block.mask().toHost();
            double[] ref = DeviceWanBlockReference.forward(leaves, kept(mask), DeviceWanBlockReference.Variant.WAN);
            report(backend + " bf16 GEMMs", ref, out, mask.sparsity());
            assertClose(ref, out, BF16_RTOL, BF16_ATOL, backend + " block output, bf16 GEMMs");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"emulator", "opencl", "cuda"})
    void backwardMatchesFiniteDifferencesOfReference(String backend) {
        Map<String, double[]> leaves = DeviceWanBlockReference.leaves(SEED + 2);
        SplittableRandom rnd = new SplittableRandom(SEED + 3);
        float[] g = new float[TOKENS * DIM];
        for (int i = 0; i < g.length; i++) {
            g[i] = (float) rnd.nextGaussian();
        }
        try (DeviceSession session = DeviceTestSessions.open(backend);
                DeviceWanBlock block = new DeviceWanBlock(session, leaves, GemmPrecision.F32)) {
            block.forward();
            boolean[] kept = kept(block.mask().toHost());
            Map<String, float[]> grads;
            try (Tensor gt = Tensor.of(g, TOKENS, DIM); DeviceTensor dOut = session.upload(gt)) {
                grads = block.backward(dOut);
            }
            assertEquals(leaves.keySet(), grads.keySet(), "a gradient for every leaf");
            double worst = 0;
            for (String leaf : leaves.keySet()) {
                double[] base = leaves.get(leaf);
                double[] dir = new double[base.length];
                double predicted = 0;
                double magnitude = 0;
                float[] grad = grads.get(leaf);
                for (int i = 0; i < dir.length; i++) {
                    dir[i] = rnd.nextGaussian();
                    predicted += grad[i] * dir[i];
                    magnitude += Math.abs(grad[i] * dir[i]);
                }
                double fd = (loss(leaves, leaf, base, dir, FD_STEP, kept, g) - loss(leaves, leaf, base, dir, -FD_STEP,
                        kept, g)) / (2 * FD_STEP);
                double err = Math.abs(predicted - fd);
                worst = Math.max(worst, err / (magnitude + 1e-12));
                assertTrue(err <= GRAD_TOL * magnitude + 1e-6, String.format(Locale.ROOT, "%s: leaf %s: directional"
                        + " derivative %.9g, finite differences %.9g (|diff| %.3g > %.1g * %.3g + 1e-6)", backend, leaf,
                        predicted, fd, err, GRAD_TOL, magnitude));
            }
            System.out.printf(Locale.ROOT, "Wan block backward on %s: worst |grad.dir - fd| / sum |grad_i dir_i| %.3g"
                    + " over %d leaves%n", backend, worst, leaves.size());
        }
    }

    /** sum(out * g) of the reference with {@code leaf} moved by {@code step * dir}. */
    private static double loss(Map<String, double[]> leaves, String leaf, double[] base, double[] dir, double step,
            boolean[] kept, float[] g) {
        double[] moved = new double[base.length];
        for (int i = 0; i < moved.length; i++) {
            moved[i] = base[i] + step * dir[i];
        }
        Map<String, double[]> p = new java.util.LinkedHashMap<>(leaves);
        p.put(leaf, moved);
        double[] out = DeviceWanBlockReference.forward(p, kept, DeviceWanBlockReference.Variant.WAN);
        double sum = 0;
        for (int i = 0; i < out.length; i++) {
            sum += out[i] * g[i];
        }
        return sum;
    }

    private static float[] host(DeviceTensor t) {
        try (Tensor h = t.toHost()) {
            return h.toFloatArray();
        }
    }

    /** Prints the measured error, so a tolerance change can be argued from numbers. */
    private static void report(String what, double[] ref, float[] out, double sparsity) {
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < ref.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(out[i] - ref[i]));
            maxRef = Math.max(maxRef, Math.abs(ref[i]));
        }
        System.out.printf(Locale.ROOT, "Wan block on %s: max |out - ref| %.3g, max |ref| %.3g, mask sparsity %.3f%n",
                what, maxDiff, maxRef, sparsity);
    }

    private static boolean[] kept(BlockMask m) {
        int nq = m.queryGrid().blocks();
        int nk = m.keyGrid().blocks();
        boolean[] kept = new boolean[HEADS * nq * nk];
        for (int h = 0; h < HEADS; h++) {
            for (int i = 0; i < nq; i++) {
                for (int j = 0; j < nk; j++) {
                    kept[(h * nq + i) * nk + j] = m.kept(0, h, i, j);
                }
            }
        }
        return kept;
    }
}
