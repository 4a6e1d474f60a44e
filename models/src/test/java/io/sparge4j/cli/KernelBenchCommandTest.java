package io.sparge4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.kernels.linalg.GemmKernels;
import io.sparge4j.kernels.linalg.GemmKernels.AsyncPairTiling;
import io.sparge4j.kernels.linalg.GemmKernels.PairTiling;
import io.sparge4j.kernels.linalg.PipelinedGemmKernels;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@code sparge kernel-bench}: JSON lines on a real OpenCL device (PoCL in CI), and its usage errors. */
class KernelBenchCommandTest {
    @Test
    void printsOneCheckedJsonLinePerCaseOnOpenCl() throws Exception {
        assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): kernel-bench skipped");
        CliRun r = CliRun.of("kernel-bench", "--backend", "opencl", "--elements", "4099", "--gemm", "70", "--reps", "1");
        assertEquals(0, r.exit(), r.toString());
        List<JsonNode> lines = new ArrayList<>();
        for (String line : r.out().strip().split("\n")) {
            lines.add(new ObjectMapper().readTree(line));
        }
        List<String> cases = lines.stream().map(n -> n.get("case").asText()).toList();
        assertEquals(5, lines.size(), r.toString());
        assertTrue(cases.getFirst().startsWith("compile"), cases.toString());
        assertTrue(lines.getFirst().get("cache_hit_from_disk").isBoolean(), r.out());
        for (JsonNode n : lines.subList(1, lines.size())) {
            assertEquals("opencl", n.get("backend").asText(), n.toString());
            assertTrue(n.get("median_ms").asDouble() > 0, n.toString());
            // a kernel that computed the wrong thing fails here, whatever its speed: f32 (and f16/bf16 products in
            // f32) against float64, relative to the sum of |products|
            assertTrue(n.get("max_rel_err_sampled").asDouble() < 1e-5, n.toString());
        }
    }

    @Test
    void timesEveryPairTilingOnOpenClWhenAsked() throws Exception {
        // the pipelined family is left out here: PoCL takes minutes to compile its eight kernels cold (about 10 of
        // CI's minutes); its kernels are checked on the emulator and PoCL (PipelinedGemmKernelsEmulatorTest,
        // AsyncPairGemmOpenClTest) and timed on CUDA with --gemm-variants all
        assumeTrue(!OpenClDevice.list().isEmpty(), "no OpenCL device (install pocl-opencl-icd): kernel-bench skipped");
        CliRun r = CliRun.of("kernel-bench", "--backend", "opencl", "--elements", "4099", "--gemm", "70", "--reps", "1",
                "--gemm-variants", "tiled,async");
        assertEquals(0, r.exit(), r.toString());
        List<JsonNode> lines = new ArrayList<>();
        for (String line : r.out().strip().split("\n")) {
            lines.add(new ObjectMapper().readTree(line));
        }
        int plain = GemmKernels.PAIR_TILINGS.size();
        int asyncCount = GemmKernels.ASYNC_PAIR_TILINGS.size();
        assertEquals(5 + plain + asyncCount, lines.size(), r.toString());
        List<JsonNode> tilings = lines.subList(5, 5 + plain);
        for (int i = 0; i < tilings.size(); i++) {
            JsonNode n = tilings.get(i);
            PairTiling t = GemmKernels.PAIR_TILINGS.get(i);
            assertTrue(n.get("case").asText().endsWith("mmaGemmBF16PairsTiled " + t.label() + ")"), n.toString());
            assertEquals(t.groupSize(), n.get("group_size").asInt(), n.toString());
            assertTrue(n.get("median_ms").asDouble() > 0, n.toString());
            // a tiling that computed the wrong thing fails here: bf16 products in f32 against float64
            assertTrue(n.get("max_rel_err_sampled").asDouble() < 1e-5, n.toString());
        }
        List<JsonNode> async = lines.subList(5 + plain, 5 + plain + asyncCount);
        for (int i = 0; i < async.size(); i++) {
            JsonNode n = async.get(i);
            AsyncPairTiling t = GemmKernels.ASYNC_PAIR_TILINGS.get(i);
            assertTrue(n.get("case").asText().endsWith("mmaGemmBF16PairsAsync " + t.label() + ")"), n.toString());
            assertEquals(t.stages(), n.get("stages").asInt(), n.toString());
            assertTrue(n.get("median_ms").asDouble() > 0, n.toString());
            assertTrue(n.get("max_rel_err_sampled").asDouble() < 1e-5, n.toString());
        }
    }

    @Test
    void refusesBadGemmVariants() {
        CliRun word = CliRun.of("kernel-bench", "--backend", "opencl", "--gemm-variants", "some");
        assertEquals(2, word.exit(), word.toString());
        assertTrue(word.err().contains("'some' in 'some': expected default, all, or a comma list of tiled, async,"
                + " pipelined"), word.toString());
        CliRun odd = CliRun.of("kernel-bench", "--backend", "opencl", "--gemm", "71", "--gemm-variants", "all");
        assertEquals(2, odd.exit(), odd.toString());
        assertTrue(odd.err().contains("expected an even --gemm"), odd.toString());
    }

    @Test
    void refusesTheEmulatorAndBadSizes() {
        CliRun emulator = CliRun.of("kernel-bench", "--backend", "emulator");
        assertEquals(2, emulator.exit(), emulator.toString());
        assertTrue(emulator.err().contains("expected cuda or opencl"), emulator.toString());
        CliRun reps = CliRun.of("kernel-bench", "--backend", "opencl", "--reps", "0");
        assertEquals(2, reps.exit(), reps.toString());
        assertTrue(reps.err().contains("--reps 0"), reps.toString());
    }
}
