package io.sparge4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.cpu.SimdSupport;
import io.sparge4j.engine.device.CpuInfo;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SpargeCliTest {
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();
    private int threadsBefore;

    @BeforeEach
    void rememberThreads() {
        threadsBefore = CpuRuntime.threads();
    }

    @AfterEach
    void restoreThreads() {
        CpuRuntime.setThreads(threadsBefore);
        System.clearProperty("sparge.threads");
    }

    private int run(Map<String, String> env, String... args) {
        return SpargeCli.execute(new PrintWriter(out, true), new PrintWriter(err, true), env, args);
    }

    private int run(String... args) {
        return run(Map.of(), args);
    }

    @Test
    void versionPrintsProjectJavaAndVectorApi() {
        assertEquals(0, run("--version"), err.toString());
        List<String> lines = out.toString().lines().toList();
        String expected = System.getProperty("sparge.expectedVersion");
        assertTrue(expected != null && !expected.isBlank(), "surefire must pass sparge.expectedVersion");
        assertEquals("sparge " + expected, lines.get(0));
        assertTrue(lines.get(1).startsWith("Java " + Runtime.version().feature() + "."), lines.get(1));
        if (SimdSupport.available()) {
            assertEquals("Vector API on, " + SimdSupport.floatLanes() + " float lanes ("
                    + SimdSupport.floatLanes() * 32 + "-bit)", lines.get(2));
        } else {
            assertTrue(lines.get(2).startsWith("Vector API off, scalar code ("), lines.get(2));
        }
        assertEquals("", err.toString());
    }

    @Test
    void infoListsCpuWithModelThreadsAndVectorWidth() {
        assertEquals(0, run("info"), err.toString());
        String text = out.toString();
        assertTrue(text.contains("\ncpu: 1 device\n"), text);
        assertTrue(text.contains("  [0] " + CpuInfo.read().model() + "\n"), text);
        assertTrue(text.contains("threads " + CpuRuntime.threads()), text);
        assertTrue(text.contains(Runtime.getRuntime().availableProcessors() + " logical core"), text);
        if (SimdSupport.available()) {
            assertTrue(text.contains(SimdSupport.floatLanes() + " float lanes"), text);
        }
        // CUDA and OpenCL are listed either way: with devices, or with the reason they are missing.
        assertTrue(text.contains("\ncuda: "), text);
        assertTrue(text.contains("\nopencl: "), text);
    }

    @Test
    void infoJsonParsesWithBackendsArray() throws Exception {
        assertEquals(0, run("info", "--json"), err.toString());
        JsonNode root = new ObjectMapper().readTree(out.toString());
        assertEquals(System.getProperty("sparge.expectedVersion"), root.get("version").asText());
        assertEquals(SimdSupport.available(), root.get("vectorApi").asBoolean());
        assertEquals(SimdSupport.floatLanes(), root.get("floatLanes").asInt());
        JsonNode backends = root.get("backends");
        assertTrue(backends.isArray(), out.toString());
        List<String> names = new ArrayList<>();
        backends.forEach(b -> names.add(b.get("name").asText()));
        assertEquals(List.of("cpu", "cuda", "opencl"), names);
        JsonNode cpu = backends.get(0);
        assertTrue(cpu.get("available").asBoolean());
        JsonNode device = cpu.get("devices").get(0);
        assertEquals(Runtime.getRuntime().availableProcessors(), device.get("computeUnits").asInt());
        assertTrue(device.get("memoryBytes").asLong() > 0, device.toString());
        for (JsonNode b : backends) {
            assertEquals(b.get("available").asBoolean(), b.get("reason").asText().isEmpty(), b.toString());
        }
    }

    @Test
    void infoBackendProbesOnlyThatBackend() throws Exception {
        assertEquals(0, run("info", "--backend", "cpu", "--json"), err.toString());
        JsonNode backends = new ObjectMapper().readTree(out.toString()).get("backends");
        assertEquals(1, backends.size());
        assertEquals("cpu", backends.get(0).get("name").asText());
    }

    @Test
    void infoRejectsUnknownBackend() {
        assertEquals(2, run("info", "--backend", "metal"));
        assertTrue(err.toString().contains("--backend"), err.toString());
        assertTrue(err.toString().contains("cpu, cuda, opencl"), err.toString());
    }

    @Test
    void threadsSetsTheCpuRuntimeBeforeAndAfterTheCommand() {
        int n = threadsBefore + 2;
        assertEquals(0, run("--threads", Integer.toString(n), "info", "--backend", "cpu"), err.toString());
        assertEquals(n, CpuRuntime.threads());
        assertTrue(out.toString().contains("threads " + n), out.toString());
        assertEquals(0, run("info", "--backend", "cpu", "--threads", "1"), err.toString());
        assertEquals(1, CpuRuntime.threads());
    }

    @Test
    void zeroThreadsIsBadUsageWithClearMessage() {
        assertEquals(2, run("--threads", "0", "info"));
        assertEquals("sparge: Invalid value for option '--threads': got 0, expected a whole number from 1 to 32767\n"
                + "Run 'sparge --help' for usage.\n", err.toString());
        assertEquals("", out.toString());
        assertEquals(threadsBefore, CpuRuntime.threads());
    }

    @Test
    void nonNumericThreadsIsBadUsage() {
        assertEquals(2, run("info", "--threads", "many"));
        assertTrue(err.toString().startsWith("sparge: Invalid value for option '--threads': 'many' is not an int"),
                err.toString());
    }

    @Test
    void unknownCommandAndMissingCommandAreBadUsage() {
        assertEquals(2, run("infoo"));
        assertTrue(err.toString().contains("Unmatched argument at index 0: 'infoo'"), err.toString());
        assertTrue(err.toString().contains("info"), err.toString());
        err.getBuffer().setLength(0);
        assertEquals(2, run());
        assertTrue(err.toString().startsWith("sparge: Missing command: try 'sparge info'"), err.toString());
    }

    @Command(name = "fail")
    static final class Failing implements Callable<Integer> {
        @Override
        public Integer call() {
            throw new IllegalStateException("the disk is full\nsecond line of detail");
        }
    }

    private int runFailing(Map<String, String> env, String... args) {
        CommandLine cl = SpargeCli.commandLine(new PrintWriter(out, true), new PrintWriter(err, true), env);
        cl.addSubcommand("fail", new Failing());
        return cl.execute(args);
    }

    @Test
    void runtimeFailureIsOneLineAndExitCodeOne() {
        assertEquals(1, runFailing(Map.of(), "fail"));
        assertEquals("sparge: the disk is full\n", err.toString());
    }

    @Test
    void verboseOrSpargeDebugAddsTheStackTrace() {
        assertEquals(1, runFailing(Map.of(), "fail", "--verbose"));
        assertTrue(err.toString().startsWith("sparge: the disk is full\n"), err.toString());
        assertTrue(err.toString().contains("at io.sparge4j.cli.SpargeCliTest$Failing.call"), err.toString());
        err.getBuffer().setLength(0);
        assertEquals(1, runFailing(Map.of("SPARGE_DEBUG", "1"), "fail"));
        assertTrue(err.toString().contains("java.lang.IllegalStateException: the disk is full"), err.toString());
        err.getBuffer().setLength(0);
        assertEquals(1, runFailing(Map.of("SPARGE_DEBUG", "0"), "fail"));
        assertFalse(err.toString().contains("\tat "), err.toString());
    }

    @Test
    void byteSizesUseBinaryUnits() {
        assertEquals("0 B", ByteSizes.format(0));
        assertEquals("1023 B", ByteSizes.format(1023));
        assertEquals("1.0 KiB", ByteSizes.format(1024));
        assertEquals("1.5 MiB", ByteSizes.format(3L << 19));
        assertEquals("141.0 GiB", ByteSizes.format(141L << 30));
    }
}
