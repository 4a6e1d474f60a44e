package io.sparge4j.engine.device.cuda;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.CudaDriver;
import org.junit.jupiter.api.Test;

import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** What a machine without the CUDA driver sees (CI); skipped where a driver is installed. */
class CudaDeviceNoDriverTest {
    private static boolean driverPresent() {
        try {
            CudaDriver.load();
            return true;
        } catch (BackendException e) {
            return false;
        }
    }

    @Test
    void withoutADriverThereAreNoDevicesAndOpenSaysWhatToDo() {
        assumeTrue(!driverPresent(), "this machine has a CUDA driver, so the missing-driver path is not taken");
        assertEquals(0, CudaDevice.deviceCount());
        BackendException e = assertThrows(BackendException.class, () -> CudaDevice.open(0));
        assertTrue(e.getMessage().startsWith("no CUDA device: "), e.getMessage());
        assertTrue(e.getMessage().contains("libcuda.so.1"), e.getMessage());
        assertTrue(e.getMessage().contains("--backend cpu"), e.getMessage());
    }

    @Test
    void identityNamesDeviceArchitectureDriverAndNvrtc() {
        assertEquals("cuda|NVIDIA H200|sm_90|driver 13000|nvrtc 13.0",
                CudaDevice.identity("NVIDIA H200", 90, 13000, Optional.of(new int[] {13, 0})));
        assertEquals("cuda|NVIDIA A10|sm_86|driver 12040|nvrtc none",
                CudaDevice.identity("NVIDIA A10", 86, 12040, Optional.empty()));
    }
}
