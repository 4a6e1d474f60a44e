package io.sparge4j.models.report;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PlotFontsTest {
    @Test
    void aRuntimeWithoutFontsGetsAdviceNotAnAwtError() {
        // what AWT throws on a server without fontconfig's fonts (seen on the GPU machine)
        var e = assertThrows(IllegalStateException.class, () -> PlotFonts.require("sparge concentration", () -> {
            throw new InternalError("Fontconfig head is null, check your fonts or fonts configuration");
        }));
        assertTrue(e.getMessage().startsWith("sparge concentration draws PNG plots"), e.getMessage());
        assertTrue(e.getMessage().contains("Fontconfig head is null"), e.getMessage());
        assertTrue(e.getMessage().contains("apt-get install fontconfig fonts-dejavu-core"), e.getMessage());
        var zero = assertThrows(IllegalStateException.class, () -> PlotFonts.require("sparge report", () -> 0));
        assertTrue(zero.getMessage().contains("no usable font"), zero.getMessage());
    }

    @Test
    void thisMachinesFontsPass() {
        System.setProperty("java.awt.headless", "true");
        assertDoesNotThrow(() -> PlotFonts.require("the test"));
    }
}
