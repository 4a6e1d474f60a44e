package io.sparge4j.engine.bench;

import org.junit.jupiter.api.Test;

import java.util.EnumSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GemmFamilyTest {
    @Test
    void parsesDefaultAllAndCommaLists() {
        assertEquals(EnumSet.noneOf(GemmFamily.class), GemmFamily.parse("default"));
        assertEquals(EnumSet.allOf(GemmFamily.class), GemmFamily.parse("ALL"));
        assertEquals(EnumSet.of(GemmFamily.TILED, GemmFamily.ASYNC), GemmFamily.parse("tiled, async"));
        assertEquals(EnumSet.of(GemmFamily.PIPELINED), GemmFamily.parse("pipelined"));
    }

    @Test
    void anUnknownWordIsNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> GemmFamily.parse("tiled,fast"));
        assertTrue(e.getMessage().startsWith("'fast' in 'tiled,fast': expected default, all"), e.getMessage());
    }
}
