package io.sparge4j.engine.device;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Runs against the real CUDA driver where one is installed. */
class CudaDriverProbeTest {
    private static CudaDriver driver;
    private static String missing;

    @BeforeAll
    static void load() {
        try {
            driver = CudaDriver.load();
        } catch (BackendException e) {
            missing = e.getMessage();
        }
    }

    @Test
    void withoutDriverTheBackendSaysWhy() {
        assumeTrue(driver == null, "this machine has a CUDA driver, so the missing-driver path is not taken");
        BackendInfo cuda = CudaDriverProbe.probe();
        assertFalse(cuda.available());
        assertTrue(cuda.reason().startsWith("the CUDA driver (libcuda) not found"), cuda.reason());
        assertTrue(cuda.reason().contains("libcuda.so.1"), cuda.reason());
        assertTrue(cuda.devices().isEmpty());
    }

    @Test
    void listsDevicesWithMemoryAndComputeCapability() {
        assumeTrue(driver != null, () -> "CUDA test skipped: " + missing);
        BackendInfo cuda = CudaDriverProbe.probe();
        assumeTrue(cuda.available(), () -> "CUDA test skipped: " + cuda.reason());
        assertTrue(cuda.details().stream().anyMatch(d -> d.matches("driver API \\d+\\.\\d+")), cuda.details().toString());
        for (DeviceInfo d : cuda.devices()) {
            assertTrue(d.memoryBytes() > 0, d.toString());
            assertTrue(d.computeUnits() > 0, d.toString());
            assertTrue(d.capability().matches("compute \\d+\\.\\d+ \\(sm_\\d+\\)"), d.capability());
            assertFalse(d.name().isBlank());
        }
    }

    @Test
    void errorCodesGetTheDriversNames() {
        assumeTrue(driver != null, () -> "CUDA test skipped: " + missing);
        CudaException e = assertThrows(CudaException.class, () -> driver.check("cuTest", CudaDriver.ERROR_NO_DEVICE));
        assertEquals(100, e.code());
        assertEquals("CUDA_ERROR_NO_DEVICE", e.errorName());
        assertTrue(e.getMessage().startsWith("cuTest failed: CUDA_ERROR_NO_DEVICE ("), e.getMessage());
    }

    @Test
    void exceptionMessageNamesFunctionAndError() {
        assertEquals("cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory)",
                new CudaException("cuMemAlloc_v2", 2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory").getMessage());
        assertEquals("cuInit failed: CUresult 999", new CudaException("cuInit", 999, "CUresult 999", "").getMessage());
    }
}
