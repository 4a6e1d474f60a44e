package io.sparge4j.engine.device.cuda;

import io.sparge4j.engine.device.CudaException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The wording of driver errors, with the driver's name and text given as a real driver would give them. */
class CudaErrorsTest {
    @Test
    void outOfMemorySaysWhatToFree() {
        CudaException e = CudaErrors.exception("cuMemAlloc_v2", 2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory");
        assertEquals("cuMemAlloc_v2", e.function());
        assertEquals(2, e.code());
        assertEquals("CUDA_ERROR_OUT_OF_MEMORY", e.errorName());
        assertTrue(e.getMessage().startsWith("cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory). "),
                e.getMessage());
        assertTrue(e.getMessage().contains("smaller shapes"), e.getMessage());
        assertFalse(CudaErrors.sticky("CUDA_ERROR_OUT_OF_MEMORY"));
    }

    @Test
    void aFaultSaysTheProcessMustRestartAndHowToFindTheKernel() {
        for (String name : new String[] {"CUDA_ERROR_ILLEGAL_ADDRESS", "CUDA_ERROR_LAUNCH_FAILED",
                "CUDA_ERROR_MISALIGNED_ADDRESS", "CUDA_ERROR_ILLEGAL_INSTRUCTION"}) {
            CudaException e = CudaErrors.exception("cuStreamSynchronize", 700, name, "an illegal memory access");
            assertTrue(CudaErrors.sticky(name), name);
            assertTrue(e.getMessage().contains("process must restart"), e.getMessage());
            assertTrue(e.getMessage().contains("sparge selftest --backend cuda"), e.getMessage());
            assertTrue(e.getMessage().contains("cuStreamSynchronize failed: " + name), e.getMessage());
        }
    }

    @Test
    void anUnknownCodeKeepsTheDriversWordsWithoutInventedAdvice() {
        CudaException e = CudaErrors.exception("cuEventRecord", 999, "CUDA_ERROR_UNKNOWN", "unknown error");
        assertEquals("cuEventRecord failed: CUDA_ERROR_UNKNOWN (unknown error)", e.getMessage());
        CudaException noText = CudaErrors.exception("cuEventRecord", 12345, "CUresult 12345", "");
        assertEquals("cuEventRecord failed: CUresult 12345", noText.getMessage());
    }

    @Test
    void ptxTooNewForTheDriverPointsAtTheDriverOrNvrtc() {
        CudaException e = CudaErrors.exception("cuModuleLoadData", 222, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
                "the provided PTX was compiled with an unsupported toolchain.");
        assertTrue(e.getMessage().contains("update the NVIDIA driver"), e.getMessage());
        assertTrue(e.getMessage().contains(Nvrtc.PATH_VARIABLE), e.getMessage());
    }
}
