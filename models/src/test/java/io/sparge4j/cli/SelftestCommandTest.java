package io.sparge4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.engine.execution.DeviceCatalog;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@code sparge selftest} on the emulator, its JSON, its exit codes, and {@code sparge info}'s selectors. */
@Timeout(value = 300, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class SelftestCommandTest {
    private static CliRun run(Map<String, String> env, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = SpargeCli.execute(new PrintWriter(out, true), new PrintWriter(err, true), env, args);
        return new CliRun(exit, out.toString(), err.toString());
    }

    @Test
    void emulatorPassesEveryKernelOneLineEach() {
        CliRun r = CliRun.of("selftest", "--backend", "emulator");
        assertEquals(0, r.exit(), r.toString());
        List<String> lines = r.out().lines().toList();
        assertTrue(lines.getFirst().startsWith("selftest on emulator: CPU kernel emulator"), r.toString());
        List<String> kernels = lines.stream().filter(l -> l.startsWith("PASS ") || l.startsWith("FAIL ")).toList();
        assertEquals(13, kernels.size(), r.toString());
        for (String l : kernels) {
            assertTrue(l.matches("PASS \\w+ +path=emulator  max_err=\\S+  max_rel=\\S+  time=[0-9.]+ ms  compile=[0-9.]+ ms"),
                    l);
        }
        assertTrue(kernels.getFirst().startsWith("PASS saxpy "), kernels.getFirst());
        assertEquals("13 passed, 0 failed", lines.getLast());
    }

    @Test
    void jsonAndTheEnvironmentVariable() throws Exception {
        CliRun r = run(Map.of("SPARGE_BACKEND", "cpu"), "selftest", "--json");
        assertEquals(0, r.exit(), r.toString());
        JsonNode json = new ObjectMapper().readTree(r.out());
        assertEquals("emulator", json.get("backend").asText());
        assertEquals(13, json.get("passed").asInt());
        assertEquals(0, json.get("failed").asInt());
        assertEquals(13, json.get("results").size());
        JsonNode first = json.get("results").get(0);
        assertEquals("saxpy", first.get("kernel").asText());
        assertTrue(first.get("passed").asBoolean());
        assertTrue(first.get("maxAbsError").asDouble() <= first.get("atol").asDouble() + first.get("rtol").asDouble() * 10);
    }

    @Test
    void unknownBackendIsBadUsage() {
        CliRun r = CliRun.of("selftest", "--backend", "vulkan");
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().startsWith("sparge: backend: got 'vulkan', expected one of cpu, emulator, cuda, opencl"),
                r.err());
        r = run(Map.of("SPARGE_BACKEND", "metal"), "selftest");
        assertEquals(2, r.exit(), r.toString());
    }

    @Test
    void backendThatCannotBeOpenedExitsWithTwo() {
        assumeTrue(DeviceCatalog.cudaDevices().isEmpty(), "this machine has a CUDA device, so cuda can be opened");
        CliRun r = CliRun.of("selftest", "--backend", "cuda", "--device", "0");
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().startsWith("sparge selftest: cannot open cuda device 0: "), r.err());
        assertEquals("", r.out());
    }

    @Test
    void infoSaysHowToSelectDevices() {
        CliRun r = CliRun.of("info", "--backend", "cpu");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("  kernels run on the CPU emulator: --backend cpu (or emulator)"), r.out());
    }
}
