package io.sparge4j.engine.device;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.cpu.SimdSupport;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BackendsTest {
    @Test
    void discoverListsCpuCudaOpenClInOrderWithCpuAlwaysAvailable() {
        List<BackendInfo> backends = Backends.discover();
        assertEquals(Backends.NAMES, backends.stream().map(BackendInfo::name).toList());
        for (BackendInfo b : backends) {
            // An unavailable backend must say why; an available one must have devices.
            assertEquals(b.available(), b.reason().isEmpty(), b.name() + ": reason '" + b.reason() + "'");
            assertEquals(b.available(), !b.devices().isEmpty(), b.name() + ": devices " + b.devices());
        }
        BackendInfo cpu = backends.get(0);
        assertTrue(cpu.available());
        DeviceInfo device = cpu.devices().get(0);
        assertEquals("cpu", device.type());
        assertEquals(Runtime.getRuntime().availableProcessors(), device.computeUnits());
        assertTrue(device.memoryBytes() > 0, "memory " + device.memoryBytes());
        assertTrue(device.notes().contains("threads " + CpuRuntime.threads()), device.notes().toString());
    }

    @Test
    void cpuCapabilityReportsTheVectorWidth() {
        String capability = CpuProbe.probe().devices().get(0).capability();
        if (SimdSupport.available()) {
            int lanes = SimdSupport.floatLanes();
            assertEquals("Vector API on, " + lanes + " float lanes (" + lanes * 32 + "-bit)", capability);
        } else {
            assertEquals("Vector API off, scalar code", capability);
        }
    }

    @Test
    void cpuNotesFollowSetThreads() {
        int before = CpuRuntime.threads();
        try {
            CpuRuntime.setThreads(before + 3);
            assertTrue(CpuProbe.probe().devices().get(0).notes().contains("threads " + (before + 3)));
        } finally {
            CpuRuntime.setThreads(before);
        }
    }

    @Test
    void probeByNameRejectsUnknownBackend() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.probe("metal"));
        assertEquals("backend: got 'metal', expected one of cpu, cuda, opencl", e.getMessage());
        assertEquals("cpu", Backends.probe("cpu").name());
    }

    @Test
    void availableBackendNeedsADevice() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BackendInfo.available("cuda", List.of(), List.of()));
        assertTrue(e.getMessage().contains("devices is empty"), e.getMessage());
    }

    @Test
    void missingLibraryNamesEveryCandidate() {
        BackendException e = assertThrows(BackendException.class,
                () -> NativeLibrary.open("the test library", "libsparge-missing-a.so", "libsparge-missing-b.so"));
        assertEquals("the test library not found: the system loader could not open libsparge-missing-a.so"
                + " or libsparge-missing-b.so", e.getMessage());
        assertFalse(e.getMessage().isBlank());
    }
}
