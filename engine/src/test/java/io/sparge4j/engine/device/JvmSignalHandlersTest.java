package io.sparge4j.engine.device;

import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.selftest.SelfTest;
import io.sparge4j.engine.selftest.SelfTestReport;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * PoCL's LLVM takes over the JVM's SIGSEGV handler (the cause of bare segmentation faults in long GPU test runs);
 * {@code libjsig.so} preloaded keeps the JVM's. Each case runs a fresh JVM that builds OpenCL kernels on PoCL,
 * then reports who handles SIGSEGV, so the detection and the cure are both checked against a real driver.
 */
class JvmSignalHandlersTest {
    private static final Path JSIG = Path.of(System.getProperty("java.home"), "lib", "libjsig.so");

    /** The child: runs the OpenCL self-test on PoCL and prints the handler's owner and the warning, if any. */
    public static final class Probe {
        public static void main(String[] args) {
            SelfTestReport report = SelfTest.run(new BackendSelection("opencl", "Portable"));
            System.out.println("kernels=" + report.results().size());
            System.out.println("owner=" + JvmSignalHandlers.handlerLibrary(JvmSignalHandlers.SIGSEGV).orElse("?"));
            System.out.println("jsig=" + JvmSignalHandlers.jsigLoaded());
            System.out.println("warning=" + JvmSignalHandlers.takeoverWarning().isPresent());
        }
    }

    /**
     * Whether PoCL's LLVM takes the handler over depends on the machine (it does on dev-2c and the GPU machine, it
     * did not on one CI runner), so the claim checked everywhere is that the warning tells the truth.
     */
    @Test
    void withoutJsigTheWarningSaysWhetherPoclTookTheHandlerOver() throws Exception {
        Map<String, String> out = probe(false);
        assertEquals("false", out.get("jsig"));
        boolean takenOver = !out.get("owner").contains("libjvm");
        assertEquals(String.valueOf(takenOver), out.get("warning"), () -> "warning disagrees with the owner: " + out);
        assumeTrue(takenOver, () -> "PoCL's LLVM left the JVM's SIGSEGV handler in place on this machine: " + out);
    }

    @Test
    void preloadedJsigKeepsTheJvmHandlers() throws Exception {
        Map<String, String> out = probe(true);
        assertEquals("true", out.get("jsig"), () -> out.toString());
        assertEquals("false", out.get("warning"), () -> out.toString());
    }

    private static Map<String, String> probe(boolean jsig) throws IOException, InterruptedException {
        assumeTrue(System.getProperty("os.name").toLowerCase().contains("linux"), "signal handlers: Linux only");
        assumeTrue(Files.isRegularFile(JSIG), () -> "no " + JSIG + " in this JDK");
        assumePocl();
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                Probe.class.getName()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().remove("LD_PRELOAD");
        if (jsig) {
            pb.environment().put("LD_PRELOAD", JSIG.toString());
        }
        Process p = pb.start();
        String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "probe JVM did not finish");
        assertEquals(0, p.exitValue(), () -> "probe JVM failed:\n" + text);
        Map<String, String> values = new java.util.HashMap<>();
        text.lines().filter(l -> l.matches("^(kernels|owner|jsig|warning)=.*")).forEach(l -> {
            int eq = l.indexOf('=');
            values.put(l.substring(0, eq), l.substring(eq + 1));
        });
        assertEquals(4, values.size(), () -> "probe output:\n" + text);
        return values;
    }

    private static void assumePocl() {
        BackendInfo opencl;
        try {
            opencl = OpenClProbe.probe();
        } catch (BackendException e) {
            assumeTrue(false, () -> "OpenCL absent: " + e.getMessage());
            return;
        }
        assumeTrue(opencl.details().stream().anyMatch(d -> d.contains("Portable Computing Language")),
                () -> "signal-handler test skipped: PoCL is not installed; platforms: " + opencl.details());
    }
}
