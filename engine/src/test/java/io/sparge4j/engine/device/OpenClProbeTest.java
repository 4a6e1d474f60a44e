package io.sparge4j.engine.device;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Runs against the real OpenCL driver; PoCL (pocl-opencl-icd) gives every Linux machine a CPU device. */
class OpenClProbeTest {
    private static OpenCl cl;
    private static String missing;

    @BeforeAll
    static void load() {
        try {
            cl = OpenCl.load();
        } catch (BackendException e) {
            missing = e.getMessage();
        }
    }

    private static void assumeOpenCl() {
        assumeTrue(cl != null, () -> "OpenCL test skipped: " + missing
                + "; install it with apt-get install pocl-opencl-icd ocl-icd-libopencl1");
    }

    @Test
    void listsPoclCpuDeviceWithMemory() {
        assumeOpenCl();
        BackendInfo opencl = OpenClProbe.probe();
        assumeTrue(opencl.details().stream().anyMatch(d -> d.contains("Portable Computing Language")),
                () -> "OpenCL test skipped: the PoCL platform is not installed; platforms: " + opencl.details()
                        + (opencl.reason().isEmpty() ? "" : "; " + opencl.reason()));
        assertTrue(opencl.available(), opencl.reason());
        DeviceInfo pocl = opencl.devices().stream()
                .filter(d -> d.notes().contains("platform Portable Computing Language") && d.type().equals("cpu"))
                .findFirst().orElseThrow(() -> new AssertionError("no PoCL CPU device in " + opencl.devices()));
        assertTrue(pocl.memoryBytes() > 0, "memory " + pocl.memoryBytes());
        assertTrue(pocl.computeUnits() > 0, "compute units " + pocl.computeUnits());
        assertTrue(pocl.capability().startsWith("OpenCL "), pocl.capability());
        assertTrue(!pocl.name().isBlank());
        for (int i = 0; i < opencl.devices().size(); i++) {
            assertEquals(i, opencl.devices().get(i).index());
        }
    }

    @Test
    void badInfoQueryThrowsNamedError() {
        assumeOpenCl();
        List<MemorySegment> platforms = cl.platforms();
        assumeTrue(!platforms.isEmpty(), "OpenCL test skipped: no OpenCL platform installed");
        // 0x7FFF is no cl_platform_info, so the driver must answer CL_INVALID_VALUE.
        OpenClException e = assertThrows(OpenClException.class, () -> cl.platformString(platforms.get(0), 0x7FFF));
        assertEquals(-30, e.code());
        assertEquals("clGetPlatformInfo failed: CL_INVALID_VALUE (-30)", e.getMessage());
    }

    @Test
    void errorCodesHaveTheirHeaderNames() {
        assertEquals("CL_SUCCESS", OpenClErrors.name(0));
        assertEquals("CL_DEVICE_NOT_FOUND", OpenClErrors.name(-1));
        assertEquals("CL_BUILD_PROGRAM_FAILURE", OpenClErrors.name(-11));
        assertEquals("CL_INVALID_KERNEL_ARGS", OpenClErrors.name(-52));
        assertEquals("CL_PLATFORM_NOT_FOUND_KHR", OpenClErrors.name(-1001));
        assertEquals("CL_ERROR_-9999", OpenClErrors.name(-9999));
        assertEquals("clFinish failed: CL_OUT_OF_RESOURCES (-5)", new OpenClException("clFinish", -5).getMessage());
    }

    @Test
    void deviceTypeBitsMapToNames() {
        assertEquals("gpu", OpenClProbe.typeName(OpenCl.DEVICE_TYPE_GPU | 1));
        assertEquals("cpu", OpenClProbe.typeName(OpenCl.DEVICE_TYPE_CPU));
        assertEquals("accelerator", OpenClProbe.typeName(OpenCl.DEVICE_TYPE_ACCELERATOR));
        assertEquals("other", OpenClProbe.typeName(16));
    }
}
