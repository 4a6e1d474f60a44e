package io.sparge4j.engine.execution;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.DeviceInfo;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** --backend/--device parsing, the environment variables, and device selectors over given device lists. */
class BackendSelectionTest {
    @Test
    void flagsWinOverTheEnvironment() {
        Map<String, String> env = Map.of("SPARGE_BACKEND", "opencl", "SPARGE_DEVICE", "1:0");
        assertEquals(new BackendSelection("cuda", "2"), BackendSelection.parse("cuda", "2", env));
        assertEquals(new BackendSelection("opencl", "1:0"), BackendSelection.parse(null, null, env));
        assertEquals(new BackendSelection("emulator", null), BackendSelection.parse(null, null, Map.of()));
        BackendSelection cpu = BackendSelection.parse("CPU", " ", Map.of());
        assertEquals("emulator", cpu.backend(), "cpu runs kernels on the emulator");
        assertNull(cpu.device());
        assertTrue(cpu.isEmulator());
    }

    @Test
    void unknownBackendListsTheValidOnes() {
        var e = assertThrows(IllegalArgumentException.class, () -> BackendSelection.parse("vulkan", null, Map.of()));
        assertEquals("backend: got 'vulkan', expected one of cpu, emulator, cuda, opencl (from --backend or"
                + " SPARGE_BACKEND)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> BackendSelection.parse(null, null, Map.of("SPARGE_BACKEND", "metal")));
        assertTrue(e.getMessage().startsWith("backend: got 'metal'"));
    }

    @Test
    void cudaSelectors() {
        List<DeviceInfo> devices = List.of(
                new DeviceInfo(0, "NVIDIA H200", "gpu", 1L << 37, 132, "compute 9.0 (sm_90)", List.of()),
                new DeviceInfo(1, "NVIDIA L4", "gpu", 1L << 34, 58, "compute 8.9 (sm_89)", List.of()));
        assertEquals(0, DeviceCatalog.cudaOrdinal(null, devices));
        assertEquals(1, DeviceCatalog.cudaOrdinal("1", devices));
        assertEquals(1, DeviceCatalog.cudaOrdinal("l4", devices));
        var e = assertThrows(BackendException.class, () -> DeviceCatalog.cudaOrdinal("a100", devices));
        assertEquals("--device: got 'a100', expected a CUDA ordinal or part of a device name: [0 NVIDIA H200,"
                + " 1 NVIDIA L4]", e.getMessage());
    }

    @Test
    void openClSelectors() {
        List<OpenClAddress> devices = List.of(
                new OpenClAddress(0, 0, 0, "Portable Computing Language", "cpu-haswell"),
                new OpenClAddress(1, 0, 1, "NVIDIA CUDA", "NVIDIA H200"),
                new OpenClAddress(1, 1, 2, "NVIDIA CUDA", "NVIDIA L4"));
        assertEquals(devices.get(0), DeviceCatalog.openClDevice(null, devices));
        assertEquals(devices.get(2), DeviceCatalog.openClDevice("1:1", devices));
        assertEquals(devices.get(1), DeviceCatalog.openClDevice("1", devices), "a plain number is the flat index");
        assertEquals(devices.get(1), DeviceCatalog.openClDevice("h200", devices));
        assertEquals(devices.get(1), DeviceCatalog.openClDevice("nvidia", devices), "first match, platform names too");
        assertEquals("1:1", devices.get(2).selector());
        var e = assertThrows(BackendException.class, () -> DeviceCatalog.openClDevice("2:0", devices));
        assertTrue(e.getMessage().startsWith("--device: got '2:0', expected P:D, a flat index or part of a name of"
                + " one of [0:0 (0) cpu-haswell [Portable Computing Language]"), e.getMessage());
        e = assertThrows(BackendException.class, () -> DeviceCatalog.openClDevice(null, List.of()));
        assertTrue(e.getMessage().contains("no OpenCL device found"), e.getMessage());
    }

    @Test
    void unwiredBackendsSayWhatToDo() {
        // Until the coordinator wires the JIT and the runtimes, CUDA and OpenCL refuse clearly.
        var e = assertThrows(BackendException.class,
                () -> ExecutionBackends.openExecutor(new BackendSelection("cuda", null)));
        assertTrue(e.getMessage().contains("(use --backend emulator)") || !e.getMessage().contains("not wired"),
                e.getMessage());
    }
}
