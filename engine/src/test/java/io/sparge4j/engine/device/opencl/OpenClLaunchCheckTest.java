package io.sparge4j.engine.device.opencl;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Grid validation before the driver: messages name the sizes and what to change. */
class OpenClLaunchCheckTest {
    private static final long[] ITEMS = {1024, 1024, 64};

    @Test
    void validGridPassesThroughAsSizeT() {
        assertArrayEquals(new long[] {16, 8}, OpenClLaunchCheck.check(() -> "K.k", new long[] {64, 24},
                new int[] {16, 8}, ITEMS, 256));
    }

    @Test
    void globalNotAMultipleOfLocalSaysWhatToRoundTo() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OpenClLaunchCheck.check(() -> "K.k", new long[] {100}, new int[] {32}, ITEMS, 256));
        assertTrue(e.getMessage().contains("100") && e.getMessage().contains("round the global size up to 128"),
                e.getMessage());
    }

    @Test
    void tooLargeAWorkGroupNamesTheLimit() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OpenClLaunchCheck.check(() -> "K.k", new long[] {64, 64}, new int[] {32, 16}, ITEMS, 256));
        assertTrue(e.getMessage().contains("512 work-items") && e.getMessage().contains("limit of 256"),
                e.getMessage());
        IllegalArgumentException z = assertThrows(IllegalArgumentException.class,
                () -> OpenClLaunchCheck.check(() -> "K.k", new long[] {1, 1, 128}, new int[] {1, 1, 128}, ITEMS, 256));
        assertTrue(z.getMessage().contains("CL_DEVICE_MAX_WORK_ITEM_SIZES"), z.getMessage());
    }

    @Test
    void dimensionsMustAgreeAndBePositive() {
        assertThrows(IllegalArgumentException.class,
                () -> OpenClLaunchCheck.check(() -> "K.k", new long[] {64}, new int[] {8, 8}, ITEMS, 256));
        assertThrows(IllegalArgumentException.class,
                () -> OpenClLaunchCheck.check(() -> "K.k", new long[] {}, new int[] {}, ITEMS, 256));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OpenClLaunchCheck.check(() -> "K.k", new long[] {0}, new int[] {1}, ITEMS, 256));
        assertTrue(e.getMessage().contains("global size 0"), e.getMessage());
    }
}
