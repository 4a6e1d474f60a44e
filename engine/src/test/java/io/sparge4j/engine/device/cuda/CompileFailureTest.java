package io.sparge4j.engine.device.cuda;

import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CompileFailureTest {
    /** Placeholder text standing in for generated source: the message only numbers and quotes lines. */
    private static final String SOURCE = IntStream.rangeClosed(1, 30).mapToObj(i -> "text of line " + i)
            .collect(Collectors.joining("\n"));
    private static final GeneratedKernel KERNEL = new GeneratedKernel("saxpy_k", SOURCE, Dialect.CUDA, List.of(),
            "key", List.of(), "demo.Kernels", "saxpy", 0);
    private static final CompileTarget TARGET = new CompileTarget(true, 90);

    @Test
    void namesTheJavaKernelQuotesTheLogAndShowsTheLinesItRefersTo() {
        String log = "demo.Kernels.saxpy.cu(12): error: identifier \"y\" is undefined\n1 error detected";
        String message = CompileFailure.message(KERNEL, TARGET, "NVRTC_ERROR_COMPILATION", log);
        assertTrue(message.contains("demo.Kernels.saxpy"), message);
        assertTrue(message.contains("sm_90"), message);
        assertTrue(message.contains("NVRTC_ERROR_COMPILATION"), message);
        assertTrue(message.contains("identifier \"y\" is undefined"), message);
        assertTrue(message.contains("   12| text of line 12"), message);
        assertTrue(message.contains("   10| text of line 10"), message);
        assertTrue(message.contains("   14| text of line 14"), message);
        assertFalse(message.contains("   15| "), message);
        assertFalse(message.contains("    9| "), message);
    }

    @Test
    void separatesDistantLinesAndShowsTheStartWhenTheLogNamesNone() {
        String log = "p.cu(3): error: a\np.cu(25): warning: b";
        String message = CompileFailure.message(KERNEL, TARGET, "NVRTC_ERROR_COMPILATION", log);
        assertTrue(message.contains("    5| text of line 5\n    ...\n   23| text of line 23"), message);
        String none = CompileFailure.message(KERNEL, TARGET, "NVRTC_ERROR_COMPILATION", "internal error");
        assertTrue(none.contains("    1| text of line 1") && none.contains("   30| text of line 30"), none);
    }
}
