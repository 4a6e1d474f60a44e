package io.sparge4j.engine.device.cuda;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.compute.NativeDeviceMemory;

/** Device memory from {@code cuMemAlloc}; {@link CudaDevice} does the native work. */
final class CudaBuffer implements NativeDeviceMemory {
    private final CudaDevice device;
    private final long pointer;
    private final long byteSize;
    private volatile boolean freed;

    CudaBuffer(CudaDevice device, long pointer, long byteSize) {
        this.device = device;
        this.pointer = pointer;
        this.byteSize = byteSize;
    }

    @Override
    public long byteSize() {
        return byteSize;
    }

    @Override
    public ComputeDevice device() {
        return device;
    }

    /** @return the {@code CUdeviceptr} */
    long pointer() {
        if (freed) {
            throw new IllegalStateException("CUDA buffer of " + byteSize + " bytes on " + device.deviceName()
                    + " is used after it (or its device) was closed");
        }
        return pointer;
    }

    @Override
    public long deviceAddress() {
        return pointer();
    }

    @Override
    public int deviceOrdinal() {
        return device.ordinal();
    }

    /** @return the {@code CUdeviceptr} without the closed check, for freeing */
    long rawPointer() {
        return pointer;
    }

    boolean freed() {
        return freed;
    }

    /** Called by the device once the memory is freed (or is about to be, on device close). */
    void markFreed() {
        freed = true;
    }

    @Override
    public void close() {
        device.free(this);
    }

    @Override
    public String toString() {
        return "CudaBuffer[" + byteSize + " bytes" + (freed ? ", closed" : "") + "]";
    }
}
