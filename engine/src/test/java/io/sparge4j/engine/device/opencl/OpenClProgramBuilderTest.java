package io.sparge4j.engine.device.opencl;

import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelCache;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The program-binary cache on PoCL: a build stores the binary, a fresh process (a new cache over the same folder)
 * loads it, and a corrupt file is a miss that rebuilds. The program is a comment only: no kernel is needed to
 * build one, so no OpenCL C is written here.
 */
class OpenClProgramBuilderTest {
    private static final GeneratedKernel EMPTY = new GeneratedKernel("none", "/* no kernels */", Dialect.OPENCL,
            List.of(), "test-program-builder-empty", List.of(), "io.example.Kernels", "none", 0);

    @Test
    void binaryIsCachedReloadedAndACorruptOneRebuilt(@TempDir Path folder) throws IOException {
        assumeTrue(OpenClDevice.list().stream().anyMatch(d -> d.platformName().equals("Portable Computing Language")),
                () -> "OpenCL test skipped: no PoCL platform; found " + OpenClDevice.list());
        OpenClRuntime cl = OpenClRuntime.load();
        try (OpenClDevice first = OpenClDevice.open("portable", null, new KernelCache(folder))) {
            OpenClProgramBuilder.Built built = first.programBuilder().build(EMPTY);
            cl.releaseProgram(built.program());
            assertFalse(built.fromCache());
        }
        Path file = onlyBinary(folder);
        assertTrue(Files.size(file) > 0, file.toString());

        try (OpenClDevice second = OpenClDevice.open("portable", null, new KernelCache(folder))) {
            OpenClProgramBuilder.Built cached = second.programBuilder().build(EMPTY);
            cl.releaseProgram(cached.program());
            assertTrue(cached.fromCache(), "a new cache over the same folder should load the binary");
        }

        Files.write(file, new byte[] {1, 2, 3, 4, 5});
        try (OpenClDevice third = OpenClDevice.open("portable", null, new KernelCache(folder))) {
            OpenClProgramBuilder.Built rebuilt = third.programBuilder().build(EMPTY);
            cl.releaseProgram(rebuilt.program());
            assertFalse(rebuilt.fromCache(), "a corrupt binary must be rebuilt from source");
        }
        assertTrue(Files.size(onlyBinary(folder)) > 5, "the rebuilt binary replaces the corrupt file");
    }

    private static Path onlyBinary(Path folder) throws IOException {
        try (Stream<Path> files = Files.list(folder)) {
            List<Path> binaries = files.filter(f -> f.toString().endsWith(".clbin")).toList();
            assertEquals(1, binaries.size(), binaries.toString());
            return binaries.get(0);
        }
    }
}
