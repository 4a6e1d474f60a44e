package io.sparge4j.engine.gpu;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@link DeviceScope}: newest first, nulls ignored, every close tried before the first failure is thrown. */
class DeviceScopeTest {
    @Test
    void closesNewestFirstAndIgnoresNull() {
        List<String> closed = new ArrayList<>();
        AutoCloseable a = () -> closed.add("a");
        AutoCloseable b = () -> closed.add("b");
        try (DeviceScope s = new DeviceScope()) {
            assertSame(a, s.own(a));
            assertNull(s.own(null));
            assertSame(b, s.own(b));
        }
        assertEquals(List.of("b", "a"), closed);
    }

    @Test
    void aFailedCloseIsThrownAfterTheOthersClosed() {
        List<String> closed = new ArrayList<>();
        IllegalStateException first = new IllegalStateException("c failed");
        DeviceScope s = new DeviceScope();
        s.own(() -> closed.add("a"));
        s.own(() -> {
            throw new java.io.IOException("b failed");
        });
        s.own(() -> {
            throw first;
        });
        s.own(() -> closed.add("d"));
        IllegalStateException thrown = assertThrows(IllegalStateException.class, s::close);
        assertSame(first, thrown, "the first failure in closing order (c, the newer of the two)");
        assertEquals(List.of("d", "a"), closed);
    }
}
