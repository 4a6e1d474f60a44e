package io.sparge4j.engine.device.opencl;

import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelCache;
import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.OpenClErrors;
import io.sparge4j.engine.device.OpenClException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Runs against PoCL's CPU device (pocl-opencl-icd), which every Linux CI machine can install. */
class OpenClDeviceTest {
    private static final String POCL = "Portable Computing Language";
    private static OpenClDevice device;

    @BeforeAll
    static void openPocl() {
        if (OpenClDevice.list().stream().anyMatch(d -> d.platformName().equals(POCL))) {
            device = OpenClDevice.open("portable computing", null, new KernelCache(null));
        }
    }

    @AfterAll
    static void close() {
        if (device != null) {
            device.close();
        }
    }

    static void assumePocl() {
        assumeTrue(device != null, () -> "OpenCL test skipped: no PoCL platform; found " + OpenClDevice.list()
                + "; install it with apt-get install pocl-opencl-icd ocl-icd-libopencl1");
    }

    @Test
    void listFindsPoclWithNamesAndVersions() {
        assumePocl();
        List<OpenClDeviceRef> all = OpenClDevice.list();
        OpenClDeviceRef pocl = all.stream().filter(d -> d.platformName().equals(POCL)).findFirst().orElseThrow();
        assertFalse(pocl.deviceName().isBlank());
        assertTrue(pocl.version().startsWith("OpenCL "), pocl.version());
        assertEquals("cpu", pocl.typeName());
        assertEquals(pocl, device.ref());
    }

    @Test
    void opensByIndexNameAndSubstring() {
        assumePocl();
        OpenClDeviceRef pocl = device.ref();
        String index = Integer.toString(pocl.platformIndex());
        String fragment = pocl.deviceName().substring(0, Math.min(7, pocl.deviceName().length())).toUpperCase();
        for (String[] selectors : new String[][] {{index, Integer.toString(pocl.deviceIndex())},
                {POCL, pocl.deviceName()}, {"COMPUTING", fragment}}) {
            try (OpenClDevice other = OpenClDevice.open(selectors[0], selectors[1], new KernelCache(null))) {
                assertEquals(pocl, other.ref(), String.join(" / ", selectors));
                assertEquals("opencl", other.backendName());
                assertEquals(Dialect.OPENCL, other.dialect());
            }
        }
    }

    @Test
    void badSelectorListsTheDevicesThatExist() {
        assumePocl();
        BackendException e = assertThrows(BackendException.class,
                () -> OpenClDevice.open(null, "no-such-device-xyz"));
        assertTrue(e.getMessage().contains("no-such-device-xyz"), e.getMessage());
        assertTrue(e.getMessage().contains(device.deviceName()) && e.getMessage().contains(POCL), e.getMessage());
    }

    @Test
    void buffersRoundTripRandomFloatsAtOddSizesAndOffsets() {
        assumePocl();
        Random random = new Random(4);
        for (int floats : new int[] {1, 7, 1001, 65_537}) {
            long bytes = 4L * floats + 13;
            try (Arena arena = Arena.ofConfined(); DeviceBuffer buffer = device.allocate(bytes)) {
                MemorySegment whole = randomBytes(arena, bytes, random);
                device.copyToDevice(whole, buffer, 0);
                // Overwrite floats at an odd byte offset, from a heap segment (staged through native memory).
                long offset = 5 + random.nextInt(7);
                float[] values = new float[floats];
                for (int i = 0; i < floats; i++) {
                    values[i] = (float) random.nextGaussian() * 100;
                }
                device.copyToDevice(MemorySegment.ofArray(values), buffer, offset);
                MemorySegment.copy(MemorySegment.ofArray(values), 0, whole, offset, 4L * floats);

                MemorySegment back = arena.allocate(bytes);
                device.copyToHost(buffer, 0, back);
                assertArrayEquals(whole.toArray(JAVA_BYTE), back.toArray(JAVA_BYTE), floats + " floats");
                float[] read = new float[floats];
                device.copyToHost(buffer, offset, MemorySegment.ofArray(read));
                assertArrayEquals(values, read, 0f, floats + " floats at offset " + offset);
            }
        }
    }

    @Test
    void copyToHostOfAnOffsetReadsThatSlice() {
        assumePocl();
        Random random = new Random(5);
        try (Arena arena = Arena.ofConfined(); DeviceBuffer buffer = device.allocate(4096)) {
            MemorySegment source = randomBytes(arena, 4096, random);
            device.copyToDevice(source, buffer, 0);
            MemorySegment slice = arena.allocate(333);
            device.copyToHost(buffer, 1001, slice);
            assertArrayEquals(source.asSlice(1001, 333).toArray(JAVA_BYTE), slice.toArray(JAVA_BYTE));
            assertThrows(IndexOutOfBoundsException.class, () -> device.copyToHost(buffer, 3800, slice));
            assertThrows(IndexOutOfBoundsException.class, () -> device.copyToDevice(slice, buffer, -1));
        }
    }

    @Test
    void closedBufferIsRejectedAndClosingTwiceIsHarmless() {
        assumePocl();
        DeviceBuffer buffer = device.allocate(64);
        assertEquals(64, buffer.byteSize());
        assertEquals(device, buffer.device());
        buffer.close();
        buffer.close();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> device.copyToHost(buffer, 0, MemorySegment.ofArray(new byte[4])));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> device.allocate(0));
    }

    @Test
    void closedDeviceRejectsUseAndFreesItsBuffers() {
        assumePocl();
        OpenClDevice other = OpenClDevice.open("portable", null, new KernelCache(null));
        DeviceBuffer buffer = other.allocate(128);
        other.close();
        other.close();
        buffer.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> other.allocate(16));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(IllegalStateException.class,
                () -> other.copyToHost(buffer, 0, MemorySegment.ofArray(new byte[4])));
    }

    @Test
    void timeNanosIsPositiveForACopy() {
        assumePocl();
        try (Arena arena = Arena.ofConfined(); DeviceBuffer buffer = device.allocate(1 << 22)) {
            MemorySegment host = randomBytes(arena, 1 << 22, new Random(6));
            long nanos = device.timeNanos(() -> {
                device.copyToDevice(host, buffer, 0);
                device.copyToHost(buffer, 0, host);
            });
            assertTrue(nanos > 0, "device time " + nanos + " ns");
            assertEquals(0, device.timeNanos(() -> { }));
        }
    }

    @Test
    void featuresAreSaneForPocl() {
        assumePocl();
        DeviceFeatures f = device.features();
        assertEquals(0, f.subGroupSize());
        assertFalse(f.tensorCoreMma());
        assertTrue(f.maxWorkGroupSize() >= 1, "maxWorkGroupSize " + f.maxWorkGroupSize());
        assertTrue(f.localMemoryBytes() >= 16 * 1024, "localMemoryBytes " + f.localMemoryBytes());
        assertTrue(f.identity().startsWith("opencl|" + POCL + "|" + device.deviceName() + "|OpenCL "),
                f.identity());
        assertEquals(5, f.identity().split("\\|", -1).length, f.identity());
        assertTrue(f.fp64(), "PoCL's CPU device has cl_khr_fp64");
    }

    @Test
    void buildFailureCarriesTheBuildLogAndTheKernelName() {
        assumePocl();
        GeneratedKernel broken = new GeneratedKernel("broken", "this is not OpenCL C", Dialect.OPENCL, List.of(),
                "test-broken-" + System.nanoTime(), List.of(), "io.example.Kernels", "broken", 0);
        OpenClException e = assertThrows(OpenClException.class, () -> device.load(broken));
        assertEquals(OpenClErrors.BUILD_PROGRAM_FAILURE, e.code());
        assertTrue(e.getMessage().contains("CL_BUILD_PROGRAM_FAILURE"), e.getMessage());
        assertTrue(e.getMessage().contains("io.example.Kernels.broken"), e.getMessage());
        String log = e.getMessage().substring(e.getMessage().indexOf("build log:") + "build log:".length());
        assertTrue(log.contains("error"), "the compiler's log should say what is wrong: " + e.getMessage());
    }

    @Test
    void wrongDialectAndMissingEntryAreNamed() {
        assumePocl();
        GeneratedKernel cuda = new GeneratedKernel("k", "", Dialect.CUDA, List.of(), "test-cuda", List.of(),
                "io.example.Kernels", "k", 0);
        assertThrows(IllegalArgumentException.class, () -> device.load(cuda));
        // A source with no kernel in it builds, so the missing entry point is what fails.
        GeneratedKernel empty = new GeneratedKernel("missingEntry", "/* nothing */", Dialect.OPENCL, List.of(),
                "test-empty-" + System.nanoTime(), List.of(), "io.example.Kernels", "missing", 0);
        BackendException e = assertThrows(BackendException.class, () -> device.load(empty));
        assertTrue(e.getMessage().contains("missingEntry") && e.getMessage().contains("io.example.Kernels.missing"),
                e.getMessage());
    }

    static MemorySegment randomBytes(Arena arena, long bytes, Random random) {
        byte[] data = new byte[(int) bytes];
        random.nextBytes(data);
        MemorySegment segment = arena.allocate(bytes);
        MemorySegment.copy(data, 0, segment, JAVA_BYTE, 0, data.length);
        return segment;
    }
}
