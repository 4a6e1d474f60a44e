package io.sparge4j.engine.device.cuda;

import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.CudaException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Memory, copies, events and errors on a real CUDA GPU; skipped with the reason where there is none. Kernels are
 * exercised by the JIT's end-to-end tests, since no CUDA C is written by hand.
 */
class CudaDeviceGpuTest {
    private static CudaDevice device;
    private static String missing;

    @BeforeAll
    static void open() {
        try {
            device = CudaDevice.open(0);
        } catch (BackendException e) {
            missing = e.getMessage();
        }
    }

    @AfterAll
    static void close() {
        if (device != null) {
            device.close();
        }
    }

    private static void needDevice() {
        assumeTrue(device != null, () -> "CUDA GPU test skipped: " + missing);
    }

    private static float[] randomFloats(long seed, int n) {
        Random random = new Random(seed);
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = (float) random.nextGaussian() * 100f;
        }
        return values;
    }

    @Test
    void featuresComeFromTheDevice() {
        needDevice();
        DeviceFeatures f = device.features();
        assertEquals(32, f.subGroupSize());
        assertTrue(f.maxWorkGroupSize() >= 512, f.toString());
        assertTrue(f.localMemoryBytes() >= 48 * 1024, f.toString());
        assertEquals(device.computeCapability() >= 80, f.tensorCoreMma());
        assertTrue(f.fp64());
        assertTrue(f.identity().startsWith("cuda|" + device.deviceName() + "|sm_" + device.computeCapability()
                + "|driver "), f.identity());
        assertTrue(f.identity().matches(".*\\|nvrtc (\\d+\\.\\d+|none)"), f.identity());
        assertEquals("cuda", device.backendName());
        assertFalse(device.deviceName().isBlank());
    }

    @Test
    void randomDataSurvivesARoundTripThroughNativeAndHeapSegments() {
        needDevice();
        int n = 1 << 20;
        float[] values = randomFloats(42, n);
        try (Arena arena = Arena.ofConfined(); DeviceBuffer buffer = device.allocate(4L * n)) {
            MemorySegment host = arena.allocate(JAVA_FLOAT, n);
            MemorySegment.copy(values, 0, host, JAVA_FLOAT, 0, n);
            device.copyToDevice(host, buffer, 0);
            host.fill((byte) 0); // the host copy may be reused once copyToDevice returns
            MemorySegment back = arena.allocate(JAVA_FLOAT, n);
            device.copyToHost(buffer, 0, back);
            assertArrayEquals(values, back.toArray(JAVA_FLOAT));

            // Heap segments go through a native staging copy; offsets address bytes within the buffer.
            float[] patch = randomFloats(7, 1000);
            device.copyToDevice(MemorySegment.ofArray(patch), buffer, 4L * 5000);
            float[] heapBack = new float[1010];
            device.copyToHost(buffer, 4L * 4995, MemorySegment.ofArray(heapBack));
            for (int i = 0; i < 1010; i++) {
                float expected = i < 5 || i >= 1005 ? values[4995 + i] : patch[i - 5];
                assertEquals(expected, heapBack[i], "element " + (4995 + i));
            }
        }
    }

    @Test
    void copiesOutsideTheBufferAreRefusedWithTheRange() {
        needDevice();
        try (DeviceBuffer buffer = device.allocate(1024)) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> device.copyToDevice(MemorySegment.ofArray(new byte[100]), buffer, 1000));
            assertTrue(e.getMessage().contains("dstOffset 1000 + 100 bytes exceeds the buffer's 1024 bytes"),
                    e.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> device.copyToHost(buffer, -1, MemorySegment.ofArray(new byte[8])));
            assertThrows(IllegalArgumentException.class, () -> device.allocate(0));
        }
    }

    @Test
    void callersOnManyVirtualThreadsEachGetTheirOwnDataBack() throws Exception {
        needDevice();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> results = new ArrayList<>();
            for (int t = 0; t < 16; t++) {
                int seed = t;
                results.add(pool.submit(() -> {
                    float[] values = randomFloats(1000 + seed, 4096 + seed);
                    float[] back = new float[values.length];
                    try (DeviceBuffer buffer = device.allocate(4L * values.length)) {
                        device.copyToDevice(MemorySegment.ofArray(values), buffer, 0);
                        device.copyToHost(buffer, 0, MemorySegment.ofArray(back));
                    }
                    assertArrayEquals(values, back, "thread " + seed);
                    return null;
                }));
            }
            for (Future<?> result : results) {
                result.get();
            }
        }
    }

    @Test
    void eventsTimeDeviceWork() {
        needDevice();
        long bytes = 256L << 20;
        try (Arena arena = Arena.ofConfined(); DeviceBuffer buffer = device.allocate(bytes)) {
            MemorySegment host = arena.allocate(bytes, 64);
            host.fill((byte) 3);
            long nanos = device.timeNanos(() -> device.copyToDevice(host, buffer, 0));
            // 256 MiB over PCIe or NVLink takes at least a few microseconds and well under a minute.
            assertTrue(nanos > 1_000 && nanos < 60_000_000_000L, nanos + " ns");
            MemorySegment probe = arena.allocate(JAVA_LONG);
            device.copyToHost(buffer, bytes - 8, probe);
            assertEquals(0x0303030303030303L, probe.get(JAVA_LONG, 0));
        }
    }

    @Test
    void closingABufferTwiceIsHarmlessAndUsingItAfterIsRefused() {
        needDevice();
        DeviceBuffer buffer = device.allocate(64);
        buffer.close();
        assertDoesNotThrow(buffer::close);
        var e = assertThrows(IllegalStateException.class,
                () -> device.copyToHost(buffer, 0, MemorySegment.ofArray(new byte[8])));
        assertTrue(e.getMessage().contains("after it (or its device) was closed"), e.getMessage());
    }

    @Test
    void askingForMoreMemoryThanTheGpuHasSaysOutOfMemory() {
        needDevice();
        CudaException e = assertThrows(CudaException.class, () -> device.allocate(1L << 50));
        assertEquals("CUDA_ERROR_OUT_OF_MEMORY", e.errorName());
        assertTrue(e.getMessage().contains("cuMemAlloc_v2") && e.getMessage().contains("smaller shapes"),
                e.getMessage());
        // The failure is not sticky: the device still works.
        try (DeviceBuffer small = device.allocate(16)) {
            device.copyToDevice(MemorySegment.ofArray(new long[] {5, 6}), small, 0);
        }
    }

    @Test
    void aSourceNvrtcRejectsIsReportedWithItsLogAndNumberedLines() {
        needDevice();
        try {
            Nvrtc.load();
        } catch (BackendException e) {
            assumeTrue(false, "NVRTC test skipped: " + e.getMessage());
        }
        // Not CUDA C at all: only the error path is under test.
        GeneratedKernel garbage = new GeneratedKernel("entry", "first line\nsecond line is not C++ either\n",
                Dialect.CUDA, List.of(), "garbage-" + System.nanoTime(), List.of(), "demo.Broken", "kernel", 0);
        BackendException e = assertThrows(BackendException.class, () -> device.load(garbage));
        assertTrue(e.getMessage().contains("demo.Broken.kernel") && e.getMessage().contains("NVRTC_ERROR_COMPILATION")
                && e.getMessage().contains("demo.Broken.kernel.cu(1): error"), e.getMessage());
        assertTrue(e.getMessage().contains("    1| first line"), e.getMessage());
        var opencl = assertThrows(IllegalArgumentException.class, () -> device.load(new GeneratedKernel("k", "",
                Dialect.OPENCL, List.of(), "k", List.of(), "demo.K", "k", 0)));
        assertTrue(opencl.getMessage().contains("dialect OPENCL, expected CUDA"), opencl.getMessage());
    }

    @Test
    void aMissingOrdinalSaysHowManyDevicesThereAre() {
        needDevice();
        int count = CudaDevice.deviceCount();
        assertTrue(count >= 1);
        BackendException e = assertThrows(BackendException.class, () -> CudaDevice.open(count));
        assertTrue(e.getMessage().contains("the driver sees " + count + " device"), e.getMessage());
        assertTrue(e.getMessage().contains("--device between 0 and " + (count - 1)), e.getMessage());
    }

    @Test
    void aClosedDeviceFreesItsBuffersAndRefusesUse() {
        needDevice();
        CudaDevice second = CudaDevice.open(0);
        DeviceBuffer buffer = second.allocate(1 << 20);
        second.close();
        assertDoesNotThrow(second::close);
        assertDoesNotThrow(buffer::close);
        assertThrows(IllegalStateException.class, () -> second.allocate(8));
        assertThrows(IllegalStateException.class, second::synchronize);
        // The primary context is shared and reference-counted: the first device still works.
        try (DeviceBuffer mine = device.allocate(8)) {
            device.copyToDevice(MemorySegment.ofArray(new long[] {9}), mine, 0);
        }
    }
}
