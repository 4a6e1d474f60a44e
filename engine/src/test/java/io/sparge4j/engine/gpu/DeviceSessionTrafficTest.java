package io.sparge4j.engine.gpu;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.DeviceKernel;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.execution.EmulatorCompiler;
import io.sparge4j.engine.execution.EmulatorDevice;
import io.sparge4j.engine.ops.Rope;
import io.sparge4j.engine.sparse.MaskMode;
import io.sparge4j.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the device sees while a chain of ops runs (on the emulator, through a device that counts its calls): no copy
 * to the host and no wait between ops, only launches; one copy when the result is read; and a second run of the
 * same chain on new tensors compiles and loads nothing.
 */
class DeviceSessionTrafficTest {
    @Test
    void opsEnqueueWithoutReadsOrWaitsAndReuseCompiledKernels() {
        CountingDevice device = new CountingDevice(new EmulatorDevice());
        try (DeviceSession s = DeviceSession.on(device, new EmulatorCompiler())) {
            chain(s, device, 1);
            int loads = device.loads;
            assertTrue(loads >= 8, "kernels loaded by the first chain: " + loads);
            int allocations = device.allocations;
            chain(s, device, 2);
            assertEquals(loads, device.loads, "kernels loaded again by the second chain on new tensors");
            assertEquals(allocations, device.allocations, "device allocations by the second chain: its tensors and"
                    + " mask lists have the first chain's sizes, so every buffer comes from the session's cache");
        }
    }

    /** Freed buffers wait in the cache (not counted as in use), come back for the same size, and emptyCache frees them. */
    @Test
    void freedBuffersAreCachedByExactSizeAndEmptyCacheReturnsThem() {
        CountingDevice device = new CountingDevice(new EmulatorDevice());
        try (DeviceSession s = DeviceSession.on(device, new EmulatorCompiler()); Tensor x = Tensor.randn(5, 100)) {
            long base = s.memory().bytesInUse();
            s.memory().resetPeak();
            DeviceTensor a = s.upload(x);
            assertEquals(base + 400, s.memory().bytesInUse(), "one f32 tensor of 100 elements in use");
            a.close();
            assertEquals(base, s.memory().bytesInUse(), "a closed tensor is not in use");
            assertEquals(400, s.cachedBytes(), "its buffer is cached");
            int allocations = device.allocations;
            try (DeviceTensor b = s.upload(x); DeviceTensor c = s.zeros(50, 2)) {
                assertEquals(allocations + 1, device.allocations, "b reuses the cached buffer; c, at the same size,"
                        + " needs a new one as the cache is empty again");
                assertEquals(0, s.cachedBytes());
                assertEquals(base + 800, s.memory().peakBytes(), "peak: b and c");
                try (Tensor back = b.toHost()) {
                    org.junit.jupiter.api.Assertions.assertArrayEquals(x.toFloatArray(), back.toFloatArray(),
                            "a reused buffer holds the new upload");
                }
            }
            assertEquals(800, s.cachedBytes());
            s.emptyCache();
            assertEquals(0, s.cachedBytes());
            int before = device.allocations;
            s.upload(x).close();
            assertEquals(before + 1, device.allocations, "after emptyCache a tensor needs a new buffer");
        }
    }

    /** zeros fills on the device: no host copy, and a reused buffer that held other values reads back as zeros. */
    @Test
    void zerosAreFilledOnTheDeviceEvenInAReusedBuffer() {
        CountingDevice device = new CountingDevice(new EmulatorDevice());
        try (DeviceSession s = DeviceSession.on(device, new EmulatorCompiler()); Tensor x = Tensor.randn(7, 3, 333)) {
            s.upload(x).close();
            int allocations = device.allocations;
            int copies = device.copiesToDevice;
            try (DeviceTensor z = s.zeros(3, 333)) {
                assertEquals(allocations, device.allocations, "the random tensor's cached buffer is reused");
                assertEquals(copies, device.copiesToDevice, "no host copy");
                float[] values = DeviceSessions.host(z);
                float[] held = x.toFloatArray();
                assertEquals(999, values.length);
                for (int i = 0; i < values.length; i++) {
                    assertEquals(0f, values[i], "element " + i + " (the buffer held " + held[i] + ")");
                }
            }
            try (DeviceTensor empty = s.zeros(0, 4)) {
                assertEquals(0, empty.numel(), "a zero-size tensor launches nothing");
            }
        }
    }

    private static void chain(DeviceSession s, CountingDevice device, long seed) {
        try (Tensor x = Tensor.randn(seed, 150, 128);
                Tensor w = Tensor.randn(seed + 1, 128, 128);
                Tensor b = Tensor.randn(seed + 2, 128);
                Tensor shift = Tensor.randn(seed + 3, 1, 128);
                DeviceTensor dx = s.upload(x);
                DeviceTensor dw = s.upload(w);
                DeviceTensor db = s.upload(b);
                DeviceTensor dshift = s.upload(shift)) {
            int reads = device.copiesToHost;
            int waits = device.synchronizations;
            int launches = device.launches;
            try (DeviceTensor y = DeviceLinear.linear(dx, dw, db);
                    DeviceTensor n = DeviceNorms.layerNorm(y, null, null, 1e-6f);
                    DeviceTensor m = DeviceElementwise.modulate(n, dshift, dshift);
                    DeviceTensor g = DeviceActivations.gelu(m);
                    DeviceTensor r = DeviceNorms.rmsNorm(g, db, 1e-6f);
                    DeviceTensor split = r.reshape(1, 150, 2, 64);
                    DeviceTensor roped = DeviceRope.apply(split, new Rope.Grid(2, 5, 15));
                    DeviceTensor heads = DeviceShapes.swapTokensHeads(roped);
                    DeviceBlockMask mask = DeviceAttention.blockMask(heads, heads, MaskMode.HYBRID, 0.5, 0.5,
                            Float.NaN);
                    DeviceAttention.Result a = DeviceAttention.sparse(heads, heads, heads, mask, Float.NaN);
                    DeviceAttention.Result d = DeviceAttention.dense(heads, heads, heads, Float.NaN);
                    DeviceTensor sum = DeviceElementwise.add(a.out(), d.out());
                    DeviceAdamW opt = new DeviceAdamW(dw, 1e-3, 0.9, 0.999, 1e-8, 0.01)) {
                opt.step(dw);
                assertEquals(reads, device.copiesToHost, "copies to the host between ops");
                assertEquals(waits, device.synchronizations, "waits for the device between ops");
                assertTrue(device.launches - launches >= 14, "launches: " + (device.launches - launches));
                try (Tensor out = sum.toHost()) {
                    assertEquals(reads + 1, device.copiesToHost, "copies to the host for one toHost");
                    assertEquals(heads.numel(), out.numel());
                }
            }
        }
    }

    /** Delegates to a device and counts the calls that matter here. */
    private static final class CountingDevice implements ComputeDevice {
        private final ComputeDevice inner;
        int copiesToHost;
        int copiesToDevice;
        int synchronizations;
        int launches;
        int loads;
        int allocations;

        CountingDevice(ComputeDevice inner) {
            this.inner = inner;
        }

        @Override
        public String backendName() {
            return inner.backendName();
        }

        @Override
        public String deviceName() {
            return inner.deviceName();
        }

        @Override
        public DeviceFeatures features() {
            return inner.features();
        }

        @Override
        public Dialect dialect() {
            return inner.dialect();
        }

        @Override
        public DeviceBuffer allocate(long bytes) {
            allocations++;
            return inner.allocate(bytes);
        }

        @Override
        public void copyToDevice(MemorySegment host, DeviceBuffer dst, long dstOffset) {
            copiesToDevice++;
            inner.copyToDevice(host, dst, dstOffset);
        }

        @Override
        public void copyToHost(DeviceBuffer src, long srcOffset, MemorySegment host) {
            copiesToHost++;
            inner.copyToHost(src, srcOffset, host);
        }

        @Override
        public DeviceKernel load(GeneratedKernel kernel) {
            loads++;
            return inner.load(kernel);
        }

        @Override
        public void launch(DeviceKernel kernel, long[] globalSize, int[] localSize, List<Object> arguments) {
            launches++;
            inner.launch(kernel, globalSize, localSize, arguments);
        }

        @Override
        public void synchronize() {
            synchronizations++;
            inner.synchronize();
        }

        @Override
        public long timeNanos(Runnable work) {
            return inner.timeNanos(work);
        }

        @Override
        public void close() {
            inner.close();
        }
    }
}
