package io.sparge4j.engine.device;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.cpu.SimdSupport;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;

/** Describes the CPU backend: the processor, memory, SPARGE's thread count and the Vector API width. */
public final class CpuProbe {
    private CpuProbe() {
    }

    /** @return the CPU backend, always available */
    public static BackendInfo probe() {
        CpuInfo cpu = CpuInfo.read();
        boolean simd = SimdSupport.available();
        int lanes = SimdSupport.floatLanes();
        String capability = simd
                ? "Vector API on, " + lanes + " float lanes (" + lanes * Float.SIZE + "-bit)"
                : "Vector API off, scalar code";
        List<String> notes = new ArrayList<>();
        notes.add("threads " + CpuRuntime.threads());
        if (!cpu.features().isEmpty()) {
            notes.add("features " + String.join(" ", cpu.features()));
        }
        DeviceInfo device = new DeviceInfo(0, cpu.model(), "cpu", totalMemoryBytes(),
                Runtime.getRuntime().availableProcessors(), capability, notes);
        List<String> details = List.of(
                "Java " + Runtime.version() + " (" + System.getProperty("java.vendor") + ")",
                System.getProperty("os.name") + " " + System.getProperty("os.arch"));
        return BackendInfo.available("cpu", details, List.of(device));
    }

    /** The memory the OS gives this process's machine or container; 0 when the JVM cannot tell. */
    private static long totalMemoryBytes() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getTotalMemorySize();
        }
        return 0;
    }
}
