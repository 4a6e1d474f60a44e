package io.sparge4j.engine.jit.lib;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Compiles the CUDA library (every function, called from generated driver kernels so that ptxas assembles the
 * inline PTX) with nvcc for sm_90 and sm_80, per feature set, and checks that the PTX takes the path the
 * features ask for. No GPU needed; skipped when nvcc is absent. Numerics of the shared C text are checked on
 * OpenCL ({@link DeviceLibraryOpenClTest}).
 */
class DeviceLibraryCudaCompileTest {
    private static final Path NVCC = Path.of(System.getProperty("sparge4j.nvcc", "/usr/local/bin/nvcc"));

    @TempDir
    Path dir;

    @ParameterizedTest(name = "sub-group size {0}, tensor cores {1}, {2}")
    @CsvSource({"32, true, sm_90", "32, true, sm_80", "32, false, sm_90", "0, false, sm_90"})
    void everyFunctionCompilesAndTakesItsPath(int subGroupSize, boolean tensorCores, String arch) throws Exception {
        assumeTrue(Files.isExecutable(NVCC), "nvcc not found at " + NVCC + " (set -Dsparge4j.nvcc=...)");
        DeviceFeatures features = new DeviceFeatures(subGroupSize, true, tensorCores, true, 1024, 49152,
                "cuda|test|" + arch);
        DeviceLibrary library = DeviceLibrary.forTarget(Dialect.CUDA, features);
        DriverSources driver = new DriverSources(Dialect.CUDA, library);
        String source = library.functions(EnumSet.allOf(LibraryFunction.class))
                + driver.halves() + driver.simd(128) + driver.mmaFragments(64, false)
                + driver.mmaFragments(64, true).replace("t_mma", "t_mma_bf16") + driver.mmaTile(2, false)
                + driver.mmaTile(2, true).replace("t_tile", "t_tile_bf16") + driver.atomics();
        Path cu = dir.resolve("library.cu");
        Files.writeString(cu, source);
        Path ptx = dir.resolve("library.ptx");
        run(cu, List.of(NVCC.toString(), "-arch=" + arch, "-ptx", "-o", ptx.toString(), cu.toString()));
        run(cu, List.of(NVCC.toString(), "-arch=" + arch, "-cubin", "-o", dir.resolve("library.cubin").toString(),
                cu.toString()));
        String text = Files.readString(ptx);
        assertEquals(tensorCores, text.contains("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"),
                "f16 mma.sync in the PTX");
        assertEquals(tensorCores, text.contains("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"),
                "bf16 mma.sync in the PTX");
        assertEquals(subGroupSize > 0, text.contains("shfl.sync"), "warp shuffles in the PTX");
        assertTrue(text.contains("atom.global.add.f32") || text.contains("red.global.add.f32"),
                "a float atomic add in the PTX");
    }

    /** Runs nvcc; a failure or a warning fails the test with the numbered source. */
    private static void run(Path cu, List<String> command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(new ArrayList<>(command)).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(300, TimeUnit.SECONDS), "nvcc did not finish in 300 s");
        String source = numbered(Files.readString(cu));
        assertEquals(0, process.exitValue(), () -> String.join(" ", command) + " failed:\n" + output + "\n" + source);
        assertFalse(output.toLowerCase().contains("warning"), () -> "nvcc warned:\n" + output + "\n" + source);
    }

    private static String numbered(String source) {
        StringBuilder out = new StringBuilder();
        String[] lines = source.split("\n");
        for (int i = 0; i < lines.length; i++) {
            out.append(i + 1).append(": ").append(lines[i]).append('\n');
        }
        return out.toString();
    }
}
