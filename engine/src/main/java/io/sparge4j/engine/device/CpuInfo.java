package io.sparge4j.engine.device;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * The processor's model name and the instruction-set features that matter to the CPU kernels, read from
 * {@code /proc/cpuinfo} (Linux). Elsewhere the model falls back to the JVM's {@code os.arch}.
 *
 * @param model the processor's model name, e.g. "Intel(R) Xeon(R) Processor"
 * @param features the features found among those the kernels care about, e.g. [avx2, fma, avx512f]
 */
public record CpuInfo(String model, List<String> features) {
    /** Features worth reporting, in the order they are listed (x86 first, then Arm). */
    private static final List<String> INTERESTING = List.of(
            "avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile",
            "asimd", "asimdhp", "bf16", "sve", "sve2");
    private static final Path PROC_CPUINFO = Path.of("/proc/cpuinfo");

    /** Copies the list so that the record stays immutable. */
    public CpuInfo {
        features = List.copyOf(features);
    }

    /** @return this machine's processor, from {@code /proc/cpuinfo} when it can be read */
    public static CpuInfo read() {
        if (Files.isReadable(PROC_CPUINFO)) {
            try {
                return parse(Files.readAllLines(PROC_CPUINFO));
            } catch (IOException | RuntimeException e) {
                // Unreadable in this sandbox: report what the JVM knows.
            }
        }
        return fallback();
    }

    /**
     * Parses the text of {@code /proc/cpuinfo}; only the first processor's entries are read.
     *
     * @param lines the file's lines
     * @return the model (or the JVM's {@code os.arch} when no model line is present) and the features
     */
    public static CpuInfo parse(List<String> lines) {
        String model = null;
        Set<String> flags = Set.of();
        for (String line : lines) {
            int colon = line.indexOf(':');
            if (colon < 0) {
                if (line.isBlank() && model != null && !flags.isEmpty()) {
                    break; // end of the first processor's block
                }
                continue;
            }
            String key = line.substring(0, colon).trim();
            String value = line.substring(colon + 1).trim();
            switch (key) {
                case "model name", "Model", "Hardware", "cpu model" -> {
                    if (model == null && !value.isEmpty()) {
                        model = value.replaceAll("\\s+", " ");
                    }
                }
                case "flags", "Features" -> {
                    if (flags.isEmpty()) {
                        flags = Set.copyOf(Arrays.asList(value.split("\\s+")));
                    }
                }
                default -> {
                    // other keys are not reported
                }
            }
        }
        List<String> features = new ArrayList<>();
        for (String f : INTERESTING) {
            if (flags.contains(f)) {
                features.add(f);
            }
        }
        return new CpuInfo(model != null ? model : fallback().model(), features);
    }

    private static CpuInfo fallback() {
        return new CpuInfo(System.getProperty("os.arch") + " processor", List.of());
    }
}
