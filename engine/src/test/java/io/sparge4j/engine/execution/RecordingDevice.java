package io.sparge4j.engine.execution;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.DeviceKernel;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * A fake GPU for executor tests: host-memory buffers and emulator launches ({@link EmulatorDevice}), with every
 * call counted so that tests see what the executor copied, allocated, compiled and launched.
 */
final class RecordingDevice implements ComputeDevice {
    final EmulatorDevice inner = new EmulatorDevice();
    final List<Long> allocations = new ArrayList<>();
    final List<MemorySegment> copiedToDevice = new ArrayList<>();
    final List<MemorySegment> copiedToHost = new ArrayList<>();
    final List<GeneratedKernel> loads = new ArrayList<>();
    final List<List<Object>> launches = new ArrayList<>();
    final List<long[]> launchGlobal = new ArrayList<>();
    final List<int[]> launchLocal = new ArrayList<>();
    int maxWorkGroupSize = 1024;
    boolean closed;

    @Override
    public String backendName() {
        return "fake";
    }

    @Override
    public String deviceName() {
        return "recording fake device";
    }

    @Override
    public DeviceFeatures features() {
        return new DeviceFeatures(32, true, true, true, maxWorkGroupSize, 48 * 1024, "fake");
    }

    @Override
    public Dialect dialect() {
        return Dialect.CUDA;
    }

    @Override
    public DeviceBuffer allocate(long bytes) {
        allocations.add(bytes);
        return inner.allocate(bytes);
    }

    @Override
    public void copyToDevice(MemorySegment host, DeviceBuffer dst, long dstOffset) {
        copiedToDevice.add(host);
        inner.copyToDevice(host, dst, dstOffset);
    }

    @Override
    public void copyToHost(DeviceBuffer src, long srcOffset, MemorySegment host) {
        copiedToHost.add(host);
        inner.copyToHost(src, srcOffset, host);
    }

    @Override
    public DeviceKernel load(GeneratedKernel kernel) {
        loads.add(kernel);
        return inner.load(kernel);
    }

    @Override
    public void launch(DeviceKernel kernel, long[] globalSize, int[] localSize, List<Object> arguments) {
        launches.add(List.copyOf(arguments));
        launchGlobal.add(globalSize.clone());
        launchLocal.add(localSize.clone());
        inner.launch(kernel, globalSize, localSize, arguments);
    }

    @Override
    public void synchronize() {
        inner.synchronize();
    }

    @Override
    public long timeNanos(Runnable work) {
        return inner.timeNanos(work);
    }

    @Override
    public void close() {
        closed = true;
        inner.close();
    }

    /** @return how many times {@code array}'s memory was copied to the device */
    long sentCount(MemorySegment array) {
        return copiedToDevice.stream().filter(s -> s.address() == array.address()).count();
    }

    /** @return how many times {@code array}'s memory was copied back */
    long fetchedCount(MemorySegment array) {
        return copiedToHost.stream().filter(s -> s.address() == array.address()).count();
    }
}
