package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.selftest.PortabilityKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code SPARGE_PRINT_KERNELS=1} prints each generated source once, with its kernel, dialect and cache key, and not
 * the emulator's subset checks. The variable is read from the process environment, so a child JVM runs
 * {@link Main} with and without it.
 */
class PrintKernelsTest {
    @Test
    void printsEachGeneratedSourceOnlyWhenAsked() throws IOException, InterruptedException {
        String printed = run("1");
        String header = "===== sparge kernel " + PortabilityKernels.class.getName() + ".saxpy (CUDA, cache key ";
        assertTrue(printed.contains(header), printed);
        assertTrue(printed.contains("extern \"C\" __global__ void saxpy("), printed);
        assertEquals(1, printed.split("===== sparge kernel", -1).length - 1, "one source, printed once: " + printed);
        assertFalse(printed.contains("reduceSum"), "the subset check prints nothing: " + printed);
        String quiet = run(null);
        assertFalse(quiet.contains("===== sparge kernel"), quiet);
        assertTrue(quiet.contains("compiled saxpy"), quiet);
    }

    private static String run(String print) throws IOException, InterruptedException {
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                Main.class.getName());
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().remove("SPARGE_PRINT_KERNELS");
        if (print != null) {
            pb.environment().put("SPARGE_PRINT_KERNELS", print);
        }
        Process p = pb.start();
        String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM did not finish");
        assertEquals(0, p.exitValue(), () -> "child JVM failed:\n" + text);
        return text;
    }

    /** The child: translates saxpy for CUDA twice (the second from the memo) and checks reduceSum's subset. */
    static final class Main {
        public static void main(String[] args) throws ReflectiveOperationException {
            Method saxpy = PortabilityKernels.class.getMethod("saxpy", KernelContext.class, float.class,
                    FloatArray.class, FloatArray.class, int.class);
            Method reduceSum = PortabilityKernels.class.getMethod("reduceSum", KernelContext.class, FloatArray.class,
                    FloatArray.class, int.class);
            for (int i = 0; i < 2; i++) {
                KernelJit.shared().compile(saxpy, null, Dialect.CUDA, KernelJitCompileTest.H200, 256);
            }
            KernelJit.shared().checkSubset(reduceSum, null, 256);
            System.out.println("compiled saxpy");
        }
    }
}
