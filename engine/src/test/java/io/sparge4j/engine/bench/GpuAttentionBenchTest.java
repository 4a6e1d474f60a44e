package io.sparge4j.engine.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.sparse.SparseAttention;
import io.sparge4j.engine.tensor.DType;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The GPU path of the attention bench on OpenCL (PoCL in CI): every JSON field present and sane, the device mask's
 * sparsity equal to the CPU selector's on the same inputs (an independent reference), and the sparse output within
 * 1e-4 of float64 on sampled rows (f32; bf16 within its derived bound). Times are only checked to be positive:
 * speed lives in the benchmark.
 */
class GpuAttentionBenchTest {
    private static final String[] FIELDS = {"backend", "dtype", "shape", "mode", "k", "p", "sparsity", "dense_fwd_ms",
        "sparse_fwd_ms", "fwd_speedup", "dense_bwd_ms", "sparse_bwd_ms", "bwd_speedup", "mask_ms", "max_rel_err"};

    private static AttentionBench.Settings quickOn(String backend) {
        AttentionBench.Settings q = AttentionBench.Settings.quick();
        return new AttentionBench.Settings(backend, q.shape(), q.mode(), q.topk(), q.topp(), q.targetSparsity(),
                q.queryBlock(), q.keyBlock(), q.dtype(), q.warmup(), q.reps(), q.seed(), q.sampledRows());
    }

    private static void assumeOpenCl() {
        assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): GPU bench skipped");
    }

    @Test
    void quickRunOnOpenClFillsEveryFieldSanely() throws Exception {
        assumeOpenCl();
        AttentionBench.Settings s = quickOn("opencl");
        AttentionBench.Result r = AttentionBench.run(s);
        JsonNode json = new ObjectMapper().readTree(r.toJson());
        for (String field : FIELDS) {
            assertTrue(json.hasNonNull(field), "missing " + field + " in " + r.toJson());
        }
        assertTrue(json.get("backend").asText().startsWith("opencl ("), r.toJson());
        assertEquals("f32", json.get("dtype").asText());
        assertEquals("1,2,512,64", json.get("shape").asText());
        assertEquals("hybrid", json.get("mode").asText());
        double sparsity = json.get("sparsity").asDouble();
        assertTrue(sparsity > 0 && sparsity < 1, r.toJson());
        // The device mask must be the CPU selector's mask on the same inputs.
        try (StructuredInputs.Inputs in = StructuredInputs.generate(s.shape(), DType.F32, s.seed())) {
            SparseAttention.Config config = SparseAttention.Config.defaults().withMode(s.mode()).withTopk(s.topk())
                    .withTopp(s.topp()).withBlocks(s.queryBlock(), s.keyBlock());
            double cpu = SparseAttention.selectBlocks(in.q(), in.k(), config).mask().sparsity();
            assertEquals(cpu, sparsity, 1e-12, "device mask sparsity against the CPU selector's");
        }
        double err = json.get("max_rel_err").asDouble();
        assertTrue(err >= 0 && err < 1e-4, "max_rel_err " + err + " against float64, expected < 1e-4");
        // the mask's parts: every kernel of the mask graph, together the mask's time (medians of one round here)
        JsonNode parts = json.get("mask_parts_ms");
        // f32: pool q, pool k, softmax+selection, lists (the mask graph since the fused selection)
        assertTrue(parts != null && parts.size() == 4 && parts.has("mSoftmaxSelect") && parts.has("mLists"),
                "mask_parts_ms in " + r.toJson());
        double partSum = 0;
        for (JsonNode part : parts) {
            partSum += part.asDouble();
        }
        assertEquals(json.get("mask_ms").asDouble(), partSum, 1e-6 * (1 + partSum), r.toJson());
        for (String time : new String[] {"dense_fwd_ms", "sparse_fwd_ms", "dense_bwd_ms", "sparse_bwd_ms",
            "mask_ms"}) {
            double ms = json.get(time).asDouble();
            assertTrue(ms > 0 && Double.isFinite(ms), time + " = " + ms);
        }
        assertEquals(json.get("dense_fwd_ms").asDouble() / json.get("sparse_fwd_ms").asDouble(),
                json.get("fwd_speedup").asDouble(), 1e-9);
        assertEquals(json.get("dense_bwd_ms").asDouble() / json.get("sparse_bwd_ms").asDouble(),
                json.get("bwd_speedup").asDouble(), 1e-9);
    }

    @Test
    void denseModeKeepsEveryBlockAndMatchesFloat64() {
        assumeOpenCl();
        AttentionBench.Result r = AttentionBench.run(quickOn("opencl").withMode(MaskMode.DENSE, 0.03, 0.2));
        assertEquals(0.0, r.sparsity(), 0.0, r.toJson());
        assertTrue(r.k() == null && r.p() == null, r.toJson());
        assertTrue(r.maxRelErr() < 1e-4, r.toJson());
    }

    /**
     * bf16 on OpenCL: the MMA forward and backward (their local-memory fallbacks on PoCL) behind the same JSON
     * fields. max_rel_err bound: P is rounded to bf16 (unit roundoff 2^-8) before P V, so an output
     * element errs by at most 2^-8 sum p|v| / l <= 2^-8 max|v|; relative to max|ref| (max |o| of the CPU's f32
     * attention on the same rounded inputs and mask, itself within 1e-5 of float64) and with 25% slack for the float
     * softmax: 1.25 * 2^-8 * max|v| / max|o| + 1e-4.
     */
    @Test
    void bf16QuickRunOnOpenClRunsTheMmaKernels() throws Exception {
        assumeOpenCl();
        AttentionBench.Settings q = quickOn("opencl");
        AttentionBench.Settings s = new AttentionBench.Settings("opencl", new BenchShape(1, 2, 300, 64), q.mode(),
                0.2, 0.3, Double.NaN, 128, 64, DType.BF16, 0, 1, 3, 16);
        AttentionBench.Result r = AttentionBench.run(s);
        JsonNode json = new ObjectMapper().readTree(r.toJson());
        for (String field : FIELDS) {
            assertTrue(json.has(field), "missing " + field + " in " + r.toJson());
        }
        assertEquals("bf16", json.get("dtype").asText());
        assertTrue(!json.has("note"), r.toJson());
        for (String time : new String[] {"dense_fwd_ms", "sparse_fwd_ms", "dense_bwd_ms", "sparse_bwd_ms",
                "mask_ms"}) {
            double ms = json.get(time).asDouble();
            assertTrue(ms > 0 && Double.isFinite(ms), time + " = " + ms);
        }
        double sparsity = json.get("sparsity").asDouble();
        assertTrue(sparsity > 0 && sparsity < 1, r.toJson());
        try (StructuredInputs.Inputs in = StructuredInputs.generate(s.shape(), DType.BF16, s.seed())) {
            SparseAttention.Config config = SparseAttention.Config.defaults().withMode(s.mode()).withTopk(s.topk())
                    .withTopp(s.topp()).withBlocks(s.queryBlock(), s.keyBlock());
            SparseAttention.Selection selection = SparseAttention.selectBlocks(in.q(), in.k(), config);
            assertEquals(selection.mask().sparsity(), sparsity, 1e-12, "device mask sparsity against the CPU's");
            double maxV = maxAbs(in.v().toFloatArray());
            double maxO;
            try (SparseAttention.Result cpu = SparseAttention.forward(in.q(), in.k(), in.v(), selection, config)) {
                maxO = maxAbs(cpu.out().toFloatArray());
            }
            double bound = 1.25 * Math.scalb(1.0, -8) * maxV / maxO + 1e-4;
            double err = json.get("max_rel_err").asDouble();
            assertTrue(err >= 0 && err < bound, "max_rel_err " + err + " against float64, expected < " + bound);
            System.out.printf("bf16 bench on OpenCL: max_rel_err %.3g (bound %.3g)%n", err, bound);
        }
    }

    private static double maxAbs(float[] x) {
        double m = 0;
        for (float f : x) {
            m = Math.max(m, Math.abs(f));
        }
        return m;
    }

    @Test
    void otherBlocksAreRefusedWithTheReason() {
        AttentionBench.Settings q = quickOn("opencl");
        AttentionBench.Settings blocks = new AttentionBench.Settings("opencl", q.shape(), q.mode(), q.topk(), q.topp(),
                Double.NaN, 64, 64, DType.BF16, 0, 1, 0, 16);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> GpuAttentionBench.run(blocks, new BackendSelection("opencl", null)));
        assertTrue(e.getMessage().startsWith("bq: got 64, expected 128 on the GPU"), e.getMessage());
    }
}
