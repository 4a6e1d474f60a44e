package io.sparge4j.engine.device.opencl;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.OpenCl;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Device selection rules on a made-up machine: no OpenCL needed. */
class OpenClSelectorTest {
    private static final OpenClDeviceRef CPU = new OpenClDeviceRef(0, "Portable Computing Language", 0,
            "pthread-skylake", "GenuineIntel", "OpenCL 3.0 PoCL", OpenCl.DEVICE_TYPE_CPU);
    private static final OpenClDeviceRef GPU_A = new OpenClDeviceRef(1, "NVIDIA CUDA", 0, "NVIDIA H200",
            "NVIDIA Corporation", "OpenCL 3.0 CUDA", OpenCl.DEVICE_TYPE_GPU);
    private static final OpenClDeviceRef GPU_B = new OpenClDeviceRef(1, "NVIDIA CUDA", 1, "NVIDIA A100",
            "NVIDIA Corporation", "OpenCL 3.0 CUDA", OpenCl.DEVICE_TYPE_GPU);
    private static final List<OpenClDeviceRef> ALL = List.of(CPU, GPU_A, GPU_B);

    @Test
    void noSelectorsPrefersTheFirstGpu() {
        assertEquals(GPU_A, OpenClSelector.select(ALL, null, null));
        assertEquals(GPU_A, OpenClSelector.select(ALL, "", " "));
        assertEquals(CPU, OpenClSelector.select(List.of(CPU), null, null));
    }

    @Test
    void platformSelectorByIndexOrNameRestrictsTheChoice() {
        assertEquals(CPU, OpenClSelector.select(ALL, "0", null));
        assertEquals(CPU, OpenClSelector.select(ALL, "portable", ""));
        assertEquals(GPU_B, OpenClSelector.select(ALL, "1", "1"));
        assertEquals(GPU_B, OpenClSelector.select(ALL, "nvidia", "1"));
    }

    @Test
    void deviceIndexCountsWithinTheFirstPlatformWhenNoneIsChosen() {
        assertEquals(CPU, OpenClSelector.select(ALL, null, "0"));
        BackendException e = assertThrows(BackendException.class, () -> OpenClSelector.select(ALL, null, "1"));
        assertTrue(e.getMessage().contains("device \"1\""), e.getMessage());
    }

    @Test
    void deviceNameIsACaseInsensitiveSubstringSearchedInEveryPlatform() {
        assertEquals(GPU_B, OpenClSelector.select(ALL, null, "a100"));
        assertEquals(CPU, OpenClSelector.select(ALL, null, "PTHREAD"));
        assertEquals(GPU_A, OpenClSelector.select(ALL, null, "nvidia"));
    }

    @Test
    void noMatchListsEveryDevice() {
        BackendException e = assertThrows(BackendException.class,
                () -> OpenClSelector.select(ALL, "portable", "h200"));
        assertTrue(e.getMessage().contains("platform \"portable\", device \"h200\""), e.getMessage());
        for (OpenClDeviceRef d : ALL) {
            assertTrue(e.getMessage().contains(d.deviceName()), e.getMessage());
        }
        BackendException platform = assertThrows(BackendException.class,
                () -> OpenClSelector.select(ALL, "7", null));
        assertTrue(platform.getMessage().contains("platform \"7\"") && platform.getMessage().contains("NVIDIA A100"),
                platform.getMessage());
    }

    @Test
    void noDeviceAtAllSaysWhatToInstall() {
        BackendException e = assertThrows(BackendException.class, () -> OpenClSelector.select(List.of(), null, null));
        assertTrue(e.getMessage().contains("pocl-opencl-icd"), e.getMessage());
    }
}
