package io.sparge4j.engine.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.tensor.DType;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AttentionBenchTest {
    /** The fields the issue lists, in order. */
    static final List<String> FIELDS = List.of("backend", "dtype", "shape", "mode", "k", "p", "sparsity",
            "dense_fwd_ms", "sparse_fwd_ms", "fwd_speedup", "dense_bwd_ms", "sparse_bwd_ms", "bwd_speedup", "mask_ms",
            "max_rel_err");

    private static void assertTimesSane(AttentionBench.Result r) {
        for (double ms : new double[] {r.denseFwdMs(), r.sparseFwdMs(), r.denseBwdMs(), r.sparseBwdMs(), r.maskMs()}) {
            assertTrue(ms > 0 && Double.isFinite(ms), r.toString());
        }
        assertEquals(r.denseFwdMs() / r.sparseFwdMs(), r.fwdSpeedup(), 1e-12);
        assertEquals(r.denseBwdMs() / r.sparseBwdMs(), r.bwdSpeedup(), 1e-12);
    }

    @Test
    void quickRunReportsEveryFieldWithinF32Accuracy() throws Exception {
        AttentionBench.Result r = AttentionBench.run(AttentionBench.Settings.quick());
        assertEquals("cpu", r.backend());
        assertEquals("f32", r.dtype());
        assertEquals("1,2,512,64", r.shape());
        assertEquals("hybrid", r.mode());
        assertEquals(0.03, r.k());
        assertEquals(0.2, r.p());
        assertTrue(r.sparsity() >= 0 && r.sparsity() <= 1, r.toString());
        assertTimesSane(r);
        // f32 kernels against float64 on the same mask: about 1e-6 (the bar is 1e-4).
        assertTrue(r.maxRelErr() < 1e-4, r.toString());
        assertNull(r.calibrationNote());

        String json = r.toJson();
        assertEquals(1, json.lines().count(), json);
        JsonNode node = new ObjectMapper().readTree(json);
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        assertEquals(FIELDS, names);
        assertTrue(node.get("backend").isTextual() && node.get("shape").isTextual());
        for (String f : FIELDS.subList(4, FIELDS.size())) {
            assertTrue(node.get(f).isNumber(), f + " in " + json);
        }
        assertTrue(r.toTable().contains("forward"), r.toTable());
    }

    @Test
    void targetSparsityCalibratesPWithKFixed() {
        AttentionBench.Settings s = AttentionBench.Settings.quick().withShape(new BenchShape(1, 2, 2048, 64))
                .withTargetSparsity(0.9);
        AttentionBench.Result r = AttentionBench.run(s);
        assertEquals(0.03, r.k());
        assertNotEquals(0.2, r.p());
        assertTrue(Math.abs(r.sparsity() - 0.9) <= AttentionBench.CALIBRATION_TOLERANCE, r.toString());
        assertNull(r.calibrationNote());
        assertTrue(r.maxRelErr() < 1e-4, r.toString());
    }

    @Test
    void unreachableTargetIsReportedInANote() throws Exception {
        // k = 0.5 keeps half the blocks by itself, so no p gets hybrid to 90% sparsity.
        AttentionBench.Settings s = AttentionBench.Settings.quick().withMode(MaskMode.HYBRID, 0.5, 0.2)
                .withTargetSparsity(0.9);
        AttentionBench.Result r = AttentionBench.run(s);
        assertTrue(r.sparsity() <= 0.5 + 1e-12, r.toString());
        assertTrue(r.calibrationNote() != null && r.calibrationNote().contains("out of reach"), r.toString());
        assertTrue(new ObjectMapper().readTree(r.toJson()).get("calibration_note").isTextual());
    }

    @Test
    void denseAndSingleRuleModesReportOnlyTheFractionsTheyUse() {
        AttentionBench.Result dense = AttentionBench.run(AttentionBench.Settings.quick().withMode(MaskMode.DENSE, 0.03, 0.2));
        assertNull(dense.k());
        assertNull(dense.p());
        assertEquals(0.0, dense.sparsity(), 1e-12);
        assertTrue(dense.maxRelErr() < 1e-4, dense.toString());
        AttentionBench.Result topk = AttentionBench.run(AttentionBench.Settings.quick().withMode(MaskMode.TOPK, 0.25, 0.2));
        assertEquals(0.25, topk.k());
        assertNull(topk.p());
        // 512 tokens in blocks of 64: 8 key blocks, Top-k keeps ceil(0.25 * 8) = 2 of them.
        assertEquals(0.75, topk.sparsity(), 1e-12);
    }

    @Test
    void halfPrecisionInputsAreCheckedAgainstTheirRoundedValues() {
        AttentionBench.Settings q = AttentionBench.Settings.quick();
        AttentionBench.Settings s = new AttentionBench.Settings("cpu", q.shape(), q.mode(), q.topk(), q.topp(), Double.NaN,
                q.queryBlock(), q.keyBlock(), DType.BF16, 0, 1, 3, 8);
        AttentionBench.Result r = AttentionBench.run(s);
        assertEquals("bf16", r.dtype());
        // The reference reads the same bf16 inputs; the kernels accumulate in f32.
        assertTrue(r.maxRelErr() < 1e-4, r.toString());
    }

    private static String error(Runnable r) {
        return assertThrows(IllegalArgumentException.class, r::run).getMessage();
    }

    @Test
    void settingsRejectBadValuesNamingTheField() {
        AttentionBench.Settings q = AttentionBench.Settings.quick();
        assertEquals("topk: got 0.0, expected a fraction in (0, 1]", error(() -> q.withMode(MaskMode.HYBRID, 0, 0.2)));
        assertEquals("topp: got 1.5, expected a fraction in (0, 1]", error(() -> q.withMode(MaskMode.TOPP, 0.03, 1.5)));
        assertEquals("mode: got mask, expected dense, topk, topp or hybrid", error(() -> q.withMode(MaskMode.MASK, 0.1, 0.1)));
        assertTrue(error(() -> q.withMode(MaskMode.TOPK, 0.1, 0.1).withTargetSparsity(0.9))
                .startsWith("target-sparsity: calibrates p with k fixed, so it needs mode hybrid or topp"));
        assertEquals("target-sparsity: got 1.0, expected a fraction in [0, 1)", error(() -> q.withTargetSparsity(1)));
        assertEquals("bq: got 0, expected a block size from 1 to 1024", error(() -> new AttentionBench.Settings("cpu",
                q.shape(), q.mode(), 0.1, 0.1, Double.NaN, 0, 64, DType.F32, 0, 1, 0, 4)));
        assertEquals("bkv: got -3, expected a block size from 1 to 1024", error(() -> new AttentionBench.Settings("cpu",
                q.shape(), q.mode(), 0.1, 0.1, Double.NaN, 64, -3, DType.F32, 0, 1, 0, 4)));
        assertEquals("reps: got 0, expected 1 or more rounds", error(() -> q.withRounds(0, 0)));
        assertEquals("shape: head dim d = 512, expected at most 256", error(() -> q.withShape(new BenchShape(1, 1, 8, 512))));
        // cuda and opencl are accepted now (GpuAttentionBench); unknown names are still refused.
        AttentionBench.checkBackend("cuda");
        AttentionBench.checkBackend("opencl");
        assertEquals("backend: got 'metal', expected cpu, cuda or opencl",
                error(() -> AttentionBench.checkBackend("metal")));
    }
}
