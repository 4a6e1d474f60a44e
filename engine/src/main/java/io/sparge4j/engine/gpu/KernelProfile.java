package io.sparge4j.engine.gpu;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Device time per kernel of one {@link DeviceSession}, for {@code SPARGE_PROFILE=1}: every launch is timed on the
 * device on its own (the launch waits for the device, so the run is slower, but each kernel's time is its own), and
 * the session prints the table when it closes. The question it answers: which kernels a model's step spends its
 * device time in, which the step's wall time and a host profiler cannot tell.
 */
final class KernelProfile {
    /** The environment variable that turns profiling on for every session ({@code 1}). */
    static final String VARIABLE = "SPARGE_PROFILE";

    /** One kernel's launches. */
    record Entry(String kernel, long launches, long nanos) {
    }

    private final Map<String, long[]> byKernel = new LinkedHashMap<>();

    /** @return a profile when {@value #VARIABLE} is 1, else null (no timing, launches stay asynchronous) */
    static KernelProfile fromEnvironment() {
        return "1".equals(System.getenv(VARIABLE)) ? new KernelProfile() : null;
    }

    /** Adds one launch of {@code kernel} that took {@code nanos} of device time. */
    void add(String kernel, long nanos) {
        long[] c = byKernel.computeIfAbsent(kernel, k -> new long[2]);
        c[0]++;
        c[1] += nanos;
    }

    /** @return the kernels, most device time first */
    List<Entry> entries() {
        List<Entry> out = new ArrayList<>();
        byKernel.forEach((k, c) -> out.add(new Entry(k, c[0], c[1])));
        out.sort((a, b) -> Long.compare(b.nanos(), a.nanos()));
        return out;
    }

    /**
     * @param device the device's name, for the heading
     * @return the table: per kernel its share of the device time, total ms, launches and mean microseconds
     */
    String report(String device) {
        List<Entry> entries = entries();
        long total = entries.stream().mapToLong(Entry::nanos).sum();
        long launches = entries.stream().mapToLong(Entry::launches).sum();
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT,
                "%s: device time per kernel on %s: %.3f ms in %d launches%n", VARIABLE, device, total / 1e6, launches));
        sb.append(String.format(Locale.ROOT, "%7s %11s %9s %11s  %s%n", "share", "total ms", "launches", "mean us",
                "kernel"));
        for (Entry e : entries) {
            sb.append(String.format(Locale.ROOT, "%6.1f%% %11.3f %9d %11.1f  %s%n",
                    total == 0 ? 0 : 100.0 * e.nanos() / total, e.nanos() / 1e6, e.launches(),
                    e.nanos() / 1e3 / e.launches(), e.kernel()));
        }
        return sb.toString();
    }
}
