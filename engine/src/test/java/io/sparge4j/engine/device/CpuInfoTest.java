package io.sparge4j.engine.device;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CpuInfoTest {
    @Test
    void parsesX86ModelAndReportsOnlyInterestingFlagsInFixedOrder() {
        CpuInfo info = CpuInfo.parse(List.of(
                "processor\t: 0",
                "vendor_id\t: GenuineIntel",
                "model name\t: Intel(R) Xeon(R)   Platinum 8480+",
                "flags\t\t: fpu sse2 avx512f fma avx2 avx512_bf16 amx_tile",
                "",
                "processor\t: 1",
                "model name\t: Something Else",
                "flags\t\t: fpu"));
        assertEquals("Intel(R) Xeon(R) Platinum 8480+", info.model());
        assertEquals(List.of("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile"), info.features());
    }

    @Test
    void parsesArmFeaturesAndModelLine() {
        CpuInfo info = CpuInfo.parse(List.of(
                "processor\t: 0",
                "Features\t: fp asimd evtstrm sve bf16 sve2",
                "",
                "Model\t: Raspberry Pi 5 Model B Rev 1.0"));
        assertEquals("Raspberry Pi 5 Model B Rev 1.0", info.model());
        assertEquals(List.of("asimd", "bf16", "sve", "sve2"), info.features());
    }

    @Test
    void fallsBackToArchitectureWhenNoModelLine() {
        CpuInfo info = CpuInfo.parse(List.of("processor : 0", "garbage without colon"));
        assertEquals(System.getProperty("os.arch") + " processor", info.model());
        assertTrue(info.features().isEmpty());
    }

    @Test
    void readsThisMachine() {
        CpuInfo info = CpuInfo.read();
        assertTrue(!info.model().isBlank(), "model is blank");
    }
}
