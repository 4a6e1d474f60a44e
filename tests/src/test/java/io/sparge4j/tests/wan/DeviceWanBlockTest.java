package io.sparge4j.tests.wan;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.gpu.DeviceActivations;
import io.sparge4j.engine.gpu.DeviceAttention;
import io.sparge4j.engine.gpu.DeviceBlockMask;
import io.sparge4j.engine.gpu.DeviceElementwise;
import io.sparge4j.engine.gpu.DeviceLinear;
import io.sparge4j.engine.gpu.DeviceNorms;
import io.sparge4j.engine.gpu.DeviceRope;
import io.sparge4j.engine.gpu.DeviceSession;
import io.sparge4j.engine.gpu.DeviceShapes;
import io.sparge4j.engine.gpu.DeviceTensor;
import io.sparge4j.engine.gpu.GemmPrecision;
import io.sparge4j.engine.ops.Rope;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static io.sparge4j.engine.testing.Assertions2.assertClose;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.COLS;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.CONTEXT;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.DIM;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.EPS;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.FRAMES;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.HEADS;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.HEAD_DIM;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.ROWS;
import static io.sparge4j.tests.wan.DeviceWanBlockReference.TOKENS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A whole Wan2.1 block forward (dim 128, 2 heads of 64, FFN 256, a (3, 8, 15) token grid = 360 tokens, 21 context
 * rows) on the device op layer, on the emulator, PoCL OpenCL and CUDA (skipped with the reason where absent): adaLN
 * modulation, self-attention with RMSNorm on q and k, 3D RoPE and SpargeAttention2's hybrid block-sparse attention
 * over a mask built on the device, cross-attention (dense, 21 keys), the GELU FFN and the gated residuals. Only the
 * inputs go up and only the output and the mask come back; every op in between stays on the device. It is checked
 * against the float64 {@link DeviceWanBlockReference} with the device's own mask.
 *
 * <p>Tolerance (f32 GEMMs): every op rounds to f32 and the GEMMs add up to 256 terms, norms divide by row
 * statistics; 2e-5 relative + 2e-5 absolute of outputs of size ~4 (the same budget as {@code WanBlockTest}, whose
 * f32 CPU block measured 1.5e-7 relative at dim 32). It fails the planted bugs (no RoPE; dense attention in place of
 * the mask) by orders of magnitude. With bf16 GEMMs (operands rounded to 8 bits of mantissa, f32 accumulation) the
 * block must stay within 5e-2 absolute + 2e-2 relative of float64.
 */
class DeviceWanBlockTest {
    private static final long SEED = 20261203L;
    private static final double RTOL = 2e-5;
    private static final double ATOL = 2e-5;
    private static final double BF16_RTOL = 2e-2;
    private static final double BF16_ATOL = 5e-2;
    /** Hybrid selection as SpargeAttention2 trains it, loose enough for a 6 x 3 block grid to keep some blocks. */
    private static final double TOPK = 0.34;
    private static final double TOPP = 0.6;

    @ParameterizedTest
    @ValueSource(strings = {"emulator", "opencl", "cuda"})
    void forwardMatchesFloat64Reference(String backend) {
        Map<String, double[]> leaves = DeviceWanBlockReference.leaves(SEED);
        try (DeviceSession session = open(backend)) {
            Run run = forward(session, leaves, GemmPrecision.F32);
            double sparsity = run.mask.sparsity();
            assertTrue(sparsity > 0.1 && sparsity < 0.9, "mask sparsity " + sparsity + ", expected some blocks dropped"
                    + " and some kept");
            double[] ref = DeviceWanBlockReference.forward(leaves, kept(run.mask), DeviceWanBlockReference.Variant.WAN);
            report(backend + " f32", ref, run.out, sparsity);
            assertClose(ref, run.out, RTOL, ATOL, backend + " block output");
            for (DeviceWanBlockReference.Variant bug : new DeviceWanBlockReference.Variant[]{
                    DeviceWanBlockReference.Variant.NO_ROPE, DeviceWanBlockReference.Variant.IGNORE_MASK}) {
                double[] wrong = DeviceWanBlockReference.forward(leaves, kept(run.mask), bug);
                assertThrows(AssertionError.class, () -> assertClose(wrong, run.out, RTOL, ATOL, bug.name()),
                        "the tolerance must catch " + bug);
            }
            assertEquals(run.liveBefore, run.liveAfter, "device allocations after the block: every intermediate freed");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"emulator", "opencl", "cuda"})
    void bf16GemmsStayCloseToFloat64(String backend) {
        Map<String, double[]> leaves = DeviceWanBlockReference.leaves(SEED + 1);
        try (DeviceSession session = open(backend)) {
            Run run = forward(session, leaves, GemmPrecision.BF16);
            double[] ref = DeviceWanBlockReference.forward(leaves, kept(run.mask), DeviceWanBlockReference.Variant.WAN);
            report(backend + " bf16 GEMMs", ref, run.out, run.mask.sparsity());
            assertClose(ref, run.out, BF16_RTOL, BF16_ATOL, backend + " block output, bf16 GEMMs");
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
        System.out.printf(java.util.Locale.ROOT, "Wan block on %s: max |out - ref| %.3g, max |ref| %.3g, mask sparsity"
                + " %.3f%n", what, maxDiff, maxRef, sparsity);
    }

    private static DeviceSession open(String backend) {
        if (backend.equals("opencl")) {
            assumeTrue(!OpenClDevice.list().isEmpty(), "OpenCL test skipped: no OpenCL device found; install PoCL"
                    + " with apt-get install pocl-opencl-icd ocl-icd-libopencl1");
        }
        try {
            return DeviceSession.open(backend);
        } catch (BackendException e) {
            assumeTrue(false, backend + " test skipped: " + e.getMessage());
            throw e;
        }
    }

    /** The output (read back), the device's mask (read back) and the session's allocations around the block. */
    private record Run(float[] out, BlockMask mask, int liveBefore, int liveAfter) {
    }

    /** The block as {@code WanBlockOps.forward} builds it from CPU ops, on the device, with sparse self-attention. */
    private static Run forward(DeviceSession s, Map<String, double[]> leaves, GemmPrecision precision) {
        Map<String, DeviceTensor> p = new HashMap<>();
        List<DeviceTensor> temps = new ArrayList<>();
        try {
            for (Map.Entry<String, double[]> e : leaves.entrySet()) {
                try (Tensor t = Tensor.of(floats(e.getValue()), DeviceWanBlockReference.shape(e.getKey()))) {
                    p.put(e.getKey(), s.upload(t));
                }
            }
            int liveBefore = s.liveAllocations();
            Block b = new Block(p, temps, precision);
            DeviceTensor x = p.get("x");
            DeviceTensor modSum = b.t(DeviceElementwise.add(p.get("modulation"), p.get("e6")));
            DeviceTensor[] mod = new DeviceTensor[6];
            for (int j = 0; j < 6; j++) {
                mod[j] = b.t(DeviceShapes.narrow(modSum, j, 1));
            }
            // (a) adaLN
            DeviceTensor h1 = b.t(DeviceElementwise.modulate(b.t(DeviceNorms.layerNorm(x, null, null, EPS)), mod[0],
                    mod[1]));
            // (b) self-attention: RMSNorm q, k over the whole dim; RoPE; SpargeAttention2 over a device mask
            DeviceTensor q = b.heads(b.t(DeviceNorms.rmsNorm(b.linear(h1, "self.q"), p.get("self.norm_q"), EPS)),
                    TOKENS, true);
            DeviceTensor k = b.heads(b.t(DeviceNorms.rmsNorm(b.linear(h1, "self.k"), p.get("self.norm_k"), EPS)),
                    TOKENS, true);
            DeviceTensor v = b.heads(b.linear(h1, "self.v"), TOKENS, false);
            BlockMask hostMask;
            DeviceTensor y;
            try (DeviceBlockMask mask = DeviceAttention.blockMask(q, k, MaskMode.HYBRID, TOPK, TOPP, Float.NaN);
                    DeviceAttention.Result attn = DeviceAttention.sparse(q, k, v, mask, Float.NaN)) {
                y = b.linear(b.tokens(attn.out(), TOKENS), "self.o");
                hostMask = mask.toHost();
            }
            DeviceTensor x1 = b.t(DeviceElementwise.gatedAdd(x, mod[2], y));
            // (c) cross-attention on LayerNorm(affine), RMSNorm on q and k, dense over the context rows
            DeviceTensor n3 = b.t(DeviceNorms.layerNorm(x1, p.get("norm3.weight"), p.get("norm3.bias"), EPS));
            DeviceTensor cq = b.heads(b.t(DeviceNorms.rmsNorm(b.linear(n3, "cross.q"), p.get("cross.norm_q"), EPS)),
                    TOKENS, false);
            DeviceTensor ctx = p.get("ctx");
            DeviceTensor ck = b.heads(b.t(DeviceNorms.rmsNorm(b.linear(ctx, "cross.k"), p.get("cross.norm_k"), EPS)),
                    CONTEXT, false);
            DeviceTensor cv = b.heads(b.linear(ctx, "cross.v"), CONTEXT, false);
            DeviceTensor cy;
            try (DeviceAttention.Result cross = DeviceAttention.dense(cq, ck, cv, Float.NaN)) {
                cy = b.linear(b.tokens(cross.out(), TOKENS), "cross.o");
            }
            DeviceTensor x2 = b.t(DeviceElementwise.add(x1, cy));
            // (d) FFN with adaLN and the gated residual
            DeviceTensor h2 = b.t(DeviceElementwise.modulate(b.t(DeviceNorms.layerNorm(x2, null, null, EPS)), mod[3],
                    mod[4]));
            DeviceTensor f = b.linear(b.t(DeviceActivations.gelu(b.linear(h2, "ffn.0"))), "ffn.2");
            float[] out;
            try (DeviceTensor block = DeviceElementwise.gatedAdd(x2, mod[5], f); Tensor host = block.toHost()) {
                out = host.toFloatArray();
            }
            temps.forEach(DeviceTensor::close);
            temps.clear();
            return new Run(out, hostMask, liveBefore, s.liveAllocations());
        } finally {
            temps.forEach(DeviceTensor::close);
            p.values().forEach(DeviceTensor::close);
        }
    }

    /** Builds the block's ops, keeping every intermediate for closing. */
    private record Block(Map<String, DeviceTensor> p, List<DeviceTensor> temps, GemmPrecision precision) {
        DeviceTensor t(DeviceTensor t) {
            temps.add(t);
            return t;
        }

        DeviceTensor linear(DeviceTensor x, String prefix) {
            return t(DeviceLinear.linear(x, p.get(prefix + ".weight"), p.get(prefix + ".bias"), precision));
        }

        /** (len, DIM) tokens to (1, HEADS, len, HEAD_DIM), with RoPE (on the (1, len, HEADS, HEAD_DIM) view) if asked. */
        DeviceTensor heads(DeviceTensor tokens, int len, boolean rope) {
            DeviceTensor split = t(tokens.reshape(1, len, HEADS, HEAD_DIM));
            if (rope) {
                split = t(DeviceRope.apply(split, new Rope.Grid(FRAMES, ROWS, COLS)));
            }
            return t(DeviceShapes.swapTokensHeads(split));
        }

        /** (1, HEADS, len, HEAD_DIM) back to (len, DIM) tokens. */
        DeviceTensor tokens(DeviceTensor heads, int len) {
            return t(t(DeviceShapes.swapTokensHeads(heads)).reshape(len, DIM));
        }
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

    private static float[] floats(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }
}
