package io.sparge4j.engine.device.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LaunchGeometryTest {
    /** An sm_90 device's limits. */
    private static final LaunchGeometry.Limits H200 = new LaunchGeometry.Limits(1024, new int[] {1024, 1024, 64},
            new int[] {Integer.MAX_VALUE, 65535, 65535});

    @Test
    void gridIsGlobalOverLocalPaddedToThreeDimensions() {
        LaunchGeometry g = LaunchGeometry.of(new long[] {4096, 96}, new int[] {128, 8}, H200);
        assertArrayEquals(new int[] {32, 12, 1}, g.grid());
        assertArrayEquals(new int[] {128, 8, 1}, g.block());
        LaunchGeometry big = LaunchGeometry.of(new long[] {1L << 36}, new int[] {256}, H200);
        assertArrayEquals(new int[] {1 << 28, 1, 1}, big.grid());
    }

    @Test
    void globalNotAMultipleOfLocalNamesBoth() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> LaunchGeometry.of(new long[] {1000, 64}, new int[] {256, 1}, H200));
        assertTrue(e.getMessage().contains("globalSize[0] (x) is 1000")
                && e.getMessage().contains("multiple of localSize[0] = 256"), e.getMessage());
    }

    @Test
    void tooManyWorkItemsPerGroupIsRefusedWithTheLimit() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> LaunchGeometry.of(new long[] {1024, 1024}, new int[] {64, 32}, H200));
        assertTrue(e.getMessage().contains("2048 work-items") && e.getMessage().contains("at most 1024"),
                e.getMessage());
        var z = assertThrows(IllegalArgumentException.class,
                () -> LaunchGeometry.of(new long[] {1, 1, 128}, new int[] {1, 1, 128}, H200));
        assertTrue(z.getMessage().contains("localSize[2] (z) is 128, expected 1 to 64"), z.getMessage());
    }

    @Test
    void tooManyGroupsInYIsRefused() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> LaunchGeometry.of(new long[] {1, 65536}, new int[] {1, 1}, H200));
        assertTrue(e.getMessage().contains("65536 work-groups") && e.getMessage().contains("at most 65535"),
                e.getMessage());
    }

    @Test
    void missingDimensionsAreOneAndEmptyOrNonPositiveSizesAreRefused() {
        assertArrayEquals(new int[] {1, 1, 1}, LaunchGeometry.of(new long[] {64}, new int[] {64, 1}, H200).grid());
        var padded = assertThrows(IllegalArgumentException.class,
                () -> LaunchGeometry.of(new long[] {64}, new int[] {64, 2}, H200));
        assertTrue(padded.getMessage().contains("globalSize[1] (y) is 1"), padded.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> LaunchGeometry.of(new long[] {1, 1, 1, 1}, new int[] {1}, H200));
        assertThrows(IllegalArgumentException.class, () -> LaunchGeometry.of(new long[0], new int[0], H200));
        var zero = assertThrows(IllegalArgumentException.class,
                () -> LaunchGeometry.of(new long[] {0}, new int[] {64}, H200));
        assertTrue(zero.getMessage().contains("globalSize[0] (x) is 0"), zero.getMessage());
        var local = assertThrows(IllegalArgumentException.class,
                () -> LaunchGeometry.of(new long[] {64}, new int[] {0}, H200));
        assertTrue(local.getMessage().contains("localSize[0] (x) is 0"), local.getMessage());
    }
}
