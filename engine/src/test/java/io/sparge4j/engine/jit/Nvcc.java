package io.sparge4j.engine.jit;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Test helper that runs nvcc on CUDA C the JIT or the device library emitted, so that CUDA-only translation
 * problems show without a GPU. Finds nvcc ({@code -Dsparge4j.nvcc=...}, else {@value #DEFAULT_PATH}), compiles one
 * source to a cubin or PTX, and parses what {@code -Xptxas -v} reports per kernel.
 */
public final class Nvcc {
    /** The system property naming the nvcc executable. */
    public static final String PROPERTY = "sparge4j.nvcc";
    /** Where nvcc is looked for when the property is not set. */
    public static final String DEFAULT_PATH = "/usr/local/bin/nvcc";
    /** Flags that make ptxas print the per-kernel facts {@link Result#kernels()} parses. */
    public static final List<String> PTXAS_VERBOSE = List.of("-Xptxas", "-v");
    private static final long TIMEOUT_SECONDS = 300;

    private static final Pattern ENTRY = Pattern.compile("Compiling entry function '([^']+)'");
    private static final Pattern PROPERTIES = Pattern.compile("Function properties for (\\S+)");
    private static final Pattern FRAME = Pattern.compile(
            "(\\d+) bytes stack frame, (\\d+) bytes spill stores, (\\d+) bytes spill loads");
    private static final Pattern REGISTERS = Pattern.compile("Used (\\d+) registers");
    private static final Pattern SHARED = Pattern.compile("(\\d+) bytes smem");

    private Nvcc() {
    }

    /** What nvcc produces: the flag that asks for it and the file extension. */
    public enum Output {
        CUBIN("-cubin", ".cubin"),
        PTX("-ptx", ".ptx");

        private final String flag;
        private final String extension;

        Output(String flag, String extension) {
            this.flag = flag;
            this.extension = extension;
        }
    }

    /** The nvcc executable this helper runs (it may not exist; see {@link #absenceReason()}). */
    public static Path path() {
        return Path.of(System.getProperty(PROPERTY, DEFAULT_PATH));
    }

    /** Why nvcc cannot be run, or null when it can. */
    public static String absenceReason() {
        Path nvcc = path();
        return Files.isExecutable(nvcc) ? null
                : "nvcc not found at " + nvcc + " (set -D" + PROPERTY + "=...): CUDA compile check skipped";
    }

    /** Skips the calling test, with the reason, when nvcc is absent. */
    public static void assumePresent() {
        String reason = absenceReason();
        assumeTrue(reason == null, reason);
    }

    /**
     * Compiles {@code source} with nvcc for {@code arch} (e.g. "sm_90").
     *
     * @param name   a file-name-safe name for the source, used in the file names and messages
     * @param output cubin or PTX
     * @param flags  further nvcc flags, e.g. {@link #PTXAS_VERBOSE}
     * @return the exit code, the combined stdout and stderr, the produced file's bytes and the ptxas facts
     * @throws IOException if the temporary files cannot be written or nvcc cannot be started
     */
    public static Result compile(String name, String source, String arch, Output output, List<String> flags)
            throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("sparge-nvcc");
        try {
            Path cu = dir.resolve(name + ".cu");
            Path produced = dir.resolve(name + output.extension);
            Path log = dir.resolve("nvcc.log");
            Files.writeString(cu, source);
            List<String> command = new ArrayList<>(List.of(path().toString(), "-arch=" + arch, output.flag));
            command.addAll(flags);
            command.addAll(List.of("-o", produced.toString(), cu.toString()));
            // Output to a file, so that the timeout holds even when nvcc hangs without closing its pipes.
            Process process = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).start();
            if (!process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                fail("nvcc did not finish in " + TIMEOUT_SECONDS + " s: " + String.join(" ", command));
            }
            String text = Files.readString(log, StandardCharsets.UTF_8);
            byte[] bytes = Files.exists(produced) ? Files.readAllBytes(produced) : new byte[0];
            return new Result(name, source, List.copyOf(command), process.exitValue(), text, bytes,
                    parseKernels(text));
        } finally {
            deleteTree(dir);
        }
    }

    /** {@link #compile} to a cubin with ptxas' per-kernel report. */
    public static Result compileCubin(String name, String source, String arch)
            throws IOException, InterruptedException {
        return compile(name, source, arch, Output.CUBIN, PTXAS_VERBOSE);
    }

    /** The outcome of one nvcc run. */
    public record Result(String name, String source, List<String> command, int exitCode, String output,
            byte[] artifact, Map<String, KernelResources> kernels) {

        /** Whether nvcc printed a warning (any case). */
        public boolean warned() {
            return output.toLowerCase().contains("warning");
        }

        /** The produced file as text (PTX). */
        public String artifactText() {
            return new String(artifact, StandardCharsets.UTF_8);
        }

        /** Fails with the command, the output and the numbered source unless nvcc succeeded without warnings. */
        public Result assertCleanCompile() {
            assertEquals(0, exitCode, () -> "nvcc failed for " + name + ": " + String.join(" ", command) + "\n"
                    + output + "\n" + numbered(source));
            assertFalse(warned(), () -> "nvcc warned for " + name + ":\n" + output + "\n" + numbered(source));
            return this;
        }

        /** The ptxas facts of kernel {@code entry}; fails when ptxas reported none (was -Xptxas -v given?). */
        public KernelResources kernel(String entry) {
            KernelResources k = kernels.get(entry);
            assertNotNull(k, () -> "ptxas reported nothing for kernel " + entry + " (have " + kernels.keySet()
                    + "):\n" + output);
            return k;
        }

        /** Fails unless kernel {@code entry} has no stack frame and no spill stores or loads. */
        public KernelResources assertNoSpills(String entry) {
            KernelResources k = kernel(entry);
            assertEquals("0 0 0", k.stackFrameBytes() + " " + k.spillStoreBytes() + " " + k.spillLoadBytes(),
                    () -> "stack frame, spill stores, spill loads of " + entry + ":\n" + output);
            return k;
        }
    }

    /** What ptxas -v reports for one kernel (entry function); sizes in bytes. */
    public record KernelResources(String name, int registers, int spillStoreBytes, int spillLoadBytes,
            int stackFrameBytes, int sharedMemoryBytes) {
        @Override
        public String toString() {
            return name + ": " + registers + " registers, " + stackFrameBytes + " bytes stack frame, "
                    + spillStoreBytes + " bytes spill stores, " + spillLoadBytes + " bytes spill loads, "
                    + sharedMemoryBytes + " bytes smem";
        }
    }

    /**
     * Per kernel, the ptxas -v facts, in report order. A kernel's "Function properties" line gives the stack and
     * spills, its "Used" line the registers and shared memory; properties of device functions are not kernels'.
     */
    static Map<String, KernelResources> parseKernels(String log) {
        Map<String, KernelResources> out = new LinkedHashMap<>();
        String entry = null;
        String propertiesOf = null;
        int[] frame = null;
        for (String line : log.split("\n")) {
            Matcher m;
            if ((m = ENTRY.matcher(line)).find()) {
                entry = m.group(1);
                frame = null;
            } else if ((m = PROPERTIES.matcher(line)).find()) {
                propertiesOf = m.group(1);
            } else if ((m = FRAME.matcher(line)).find()) {
                if (propertiesOf != null && propertiesOf.equals(entry)) {
                    frame = new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)),
                        Integer.parseInt(m.group(3))};
                }
            } else if ((m = REGISTERS.matcher(line)).find() && entry != null && frame != null) {
                Matcher shared = SHARED.matcher(line);
                int smem = shared.find() ? Integer.parseInt(shared.group(1)) : 0;
                out.put(entry, new KernelResources(entry, Integer.parseInt(m.group(1)), frame[1], frame[2], frame[0],
                        smem));
                entry = null;
            }
        }
        return Collections.unmodifiableMap(out);
    }

    /** The source with 1-based line numbers, for reading nvcc's line references in a failure message. */
    public static String numbered(String source) {
        StringBuilder out = new StringBuilder();
        String[] lines = source.split("\n");
        for (int i = 0; i < lines.length; i++) {
            out.append(i + 1).append(": ").append(lines[i]).append('\n');
        }
        return out.toString();
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
