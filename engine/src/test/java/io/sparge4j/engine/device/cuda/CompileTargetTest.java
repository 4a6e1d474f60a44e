package io.sparge4j.engine.device.cuda;

import io.sparge4j.engine.device.BackendException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CompileTargetTest {
    private static final int[] NVRTC_13 = {75, 80, 86, 87, 88, 89, 90, 100, 103, 110, 120, 121};

    @Test
    void aKnownArchitectureGetsACubinForItself() {
        CompileTarget t = CompileTarget.choose(90, NVRTC_13, true);
        assertEquals(new CompileTarget(true, 90), t);
        assertEquals("cubin", t.cacheKind());
        assertEquals("cubin sm_90", t.binaryKind());
        assertEquals("--gpu-architecture=sm_90", t.options().getFirst());
    }

    @Test
    void aDeviceNewerThanNvrtcGetsPtxForTheNewestArchitectureItCanRun() {
        CompileTarget t = CompileTarget.choose(100, new int[] {52, 60, 70, 75, 80, 86, 89, 90}, true);
        assertEquals(new CompileTarget(false, 90), t);
        assertEquals("ptx", t.cacheKind());
        assertEquals("ptx compute_90", t.binaryKind());
        assertTrue(t.options().contains("--gpu-architecture=compute_90"), t.options().toString());
    }

    @Test
    void withoutCubinSupportItIsPtxForTheDevicesArchitecture() {
        assertEquals(new CompileTarget(false, 86), CompileTarget.choose(86, NVRTC_13, false));
        assertEquals(new CompileTarget(false, 90), CompileTarget.choose(90, new int[0], false));
        assertEquals(new CompileTarget(true, 90), CompileTarget.choose(90, new int[0], true));
    }

    @Test
    void aDeviceOlderThanEveryArchitectureIsRefusedWithTheList() {
        BackendException e = assertThrows(BackendException.class, () -> CompileTarget.choose(61, NVRTC_13, true));
        assertTrue(e.getMessage().contains("sm_61"), e.getMessage());
        assertTrue(e.getMessage().contains("[75, 80"), e.getMessage());
    }

    @Test
    void optionsAreC17WithoutFastMath() {
        var options = CompileTarget.choose(80, NVRTC_13, true).options();
        assertTrue(options.contains("--std=c++17"), options.toString());
        assertFalse(options.stream().anyMatch(o -> o.contains("fast_math")), options.toString());
    }
}
