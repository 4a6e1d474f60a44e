package io.sparge4j.engine.device.cuda;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelParameter;
import io.sparge4j.engine.compute.KernelParameter.Role;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KernelArgumentsTest {
    private static final GeneratedKernel KERNEL = new GeneratedKernel("k", "", Dialect.CUDA, List.of(
            new KernelParameter("x", Role.BUFFER, 1, float.class),
            new KernelParameter("x_size", Role.BUFFER_SIZE, 1, int.class),
            new KernelParameter("n", Role.SCALAR, 2, int.class),
            new KernelParameter("stride", Role.SCALAR, 3, long.class),
            new KernelParameter("alpha", Role.SCALAR, 4, float.class),
            new KernelParameter("beta", Role.SCALAR, 5, double.class),
            new KernelParameter("flag", Role.SCALAR, 6, int.class)), "key", List.of(), "demo.K", "run", 0);

    /** A buffer that is only an identity; its device pointer comes from the test's map. */
    private record FakeBuffer(long byteSize) implements DeviceBuffer {
        @Override
        public ComputeDevice device() {
            return null;
        }

        @Override
        public void close() {
        }
    }

    @Test
    @SuppressWarnings("restricted")
    void eachParameterGetsAPointerToItsValue() {
        FakeBuffer buffer = new FakeBuffer(4096);
        Map<DeviceBuffer, Long> pointers = Map.of(buffer, 0x7f00_1234_5600L);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = KernelArguments.pack(arena, KERNEL,
                    List.of(buffer, 1024, -7, 1L << 40, 2.5f, -0.125, true), pointers::get);
            MemorySegment p = params.reinterpret(7 * ADDRESS.byteSize());
            assertEquals(0x7f00_1234_5600L, p.getAtIndex(ADDRESS, 0).reinterpret(8).get(JAVA_LONG, 0));
            assertEquals(1024, p.getAtIndex(ADDRESS, 1).reinterpret(4).get(JAVA_INT, 0));
            assertEquals(-7, p.getAtIndex(ADDRESS, 2).reinterpret(4).get(JAVA_INT, 0));
            assertEquals(1L << 40, p.getAtIndex(ADDRESS, 3).reinterpret(8).get(JAVA_LONG, 0));
            assertEquals(2.5f, p.getAtIndex(ADDRESS, 4).reinterpret(4).get(JAVA_FLOAT, 0));
            assertEquals(-0.125, p.getAtIndex(ADDRESS, 5).reinterpret(8).get(JAVA_DOUBLE, 0));
            assertEquals(1, p.getAtIndex(ADDRESS, 6).reinterpret(4).get(JAVA_INT, 0));
        }
    }

    @Test
    void aWrongTypeNamesTheParameterTheValueAndTheExpectedType() {
        FakeBuffer buffer = new FakeBuffer(64);
        try (Arena arena = Arena.ofConfined()) {
            var e = assertThrows(IllegalArgumentException.class, () -> KernelArguments.pack(arena, KERNEL,
                    Arrays.asList(buffer, 16, 3, 4L, 2.5, 1.0, 0), b -> 1L));
            assertTrue(e.getMessage().contains("parameter alpha") && e.getMessage().contains("Double 2.5")
                    && e.getMessage().contains("expected a Float"), e.getMessage());
            var notBuffer = assertThrows(IllegalArgumentException.class, () -> KernelArguments.pack(arena, KERNEL,
                    Arrays.asList(7, 16, 3, 4L, 2.5f, 1.0, 0), b -> 1L));
            assertTrue(notBuffer.getMessage().contains("parameter x (BUFFER") && notBuffer.getMessage()
                    .contains("expected a DeviceBuffer"), notBuffer.getMessage());
            var size = assertThrows(IllegalArgumentException.class, () -> KernelArguments.pack(arena, KERNEL,
                    Arrays.asList(buffer, 16L, 3, 4L, 2.5f, 1.0, 0), b -> 1L));
            assertTrue(size.getMessage().contains("x_size") && size.getMessage().contains("Long 16"),
                    size.getMessage());
            var nulls = assertThrows(IllegalArgumentException.class, () -> KernelArguments.pack(arena, KERNEL,
                    Arrays.asList(buffer, 16, null, 4L, 2.5f, 1.0, 0), b -> 1L));
            assertTrue(nulls.getMessage().contains("parameter n") && nulls.getMessage().contains("is null"),
                    nulls.getMessage());
        }
    }

    @Test
    void theArgumentCountMustMatch() {
        try (Arena arena = Arena.ofConfined()) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> KernelArguments.pack(arena, KERNEL, List.of(1, 2), b -> 1L));
            assertTrue(e.getMessage().contains("got 2 arguments, expected 7"), e.getMessage());
        }
    }
}
