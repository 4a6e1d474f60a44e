package io.sparge4j.engine.device.cuda;

import io.sparge4j.engine.device.BackendException;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class NvrtcTest {
    @Test
    void anExplicitPathIsTriedBeforeTheLoaderNames() {
        assertEquals(List.of("libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"), Nvrtc.candidates(null));
        assertEquals(List.of("libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"), Nvrtc.candidates("  "));
        assertEquals("/opt/x/libnvrtc.so.13", Nvrtc.candidates(" /opt/x/libnvrtc.so.13 ").getFirst());
    }

    @Test
    void withoutNvrtcTheMessageSaysHowToPointAtIt() {
        String missing = null;
        try {
            Nvrtc.load();
        } catch (BackendException e) {
            missing = e.getMessage();
        }
        assumeTrue(missing != null, "NVRTC is installed here, so the missing-library path is not taken");
        BackendException again = assertThrows(BackendException.class, Nvrtc::load);
        assertTrue(again.getMessage().contains("libnvrtc.so.13") && again.getMessage().contains("SPARGE_NVRTC="),
                again.getMessage());
    }

    @Test
    void withNvrtcItReportsAVersionAndArchitectures() {
        Nvrtc nvrtc;
        try {
            nvrtc = Nvrtc.load();
        } catch (BackendException e) {
            assumeTrue(false, "NVRTC test skipped: " + e.getMessage());
            return;
        }
        int[] version = nvrtc.version();
        assertTrue(version[0] >= 11, "NVRTC " + version[0] + "." + version[1]);
        int[] archs = nvrtc.supportedArchitectures();
        assertTrue(archs.length > 0 && archs[0] >= 50, java.util.Arrays.toString(archs));
        assertEquals("NVRTC_SUCCESS", nvrtc.errorString(0));
        assertEquals("NVRTC_ERROR_COMPILATION", nvrtc.errorString(Nvrtc.ERROR_COMPILATION));
    }
}
