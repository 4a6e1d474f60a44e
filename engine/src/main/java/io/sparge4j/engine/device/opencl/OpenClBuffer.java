package io.sparge4j.engine.device.opencl;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.compute.DeviceBuffer;

import java.lang.foreign.MemorySegment;

/** A {@code cl_mem} buffer of an {@link OpenClDevice}. */
final class OpenClBuffer implements DeviceBuffer {
    private final OpenClDevice device;
    private final MemorySegment handle;
    private final long byteSize;
    private boolean closed;

    OpenClBuffer(OpenClDevice device, MemorySegment handle, long byteSize) {
        this.device = device;
        this.handle = handle;
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

    /** @return the {@code cl_mem} handle */
    MemorySegment handle() {
        if (closed) {
            throw new IllegalStateException("OpenCL buffer of " + byteSize + " bytes is closed");
        }
        return handle;
    }

    boolean closed() {
        return closed;
    }

    @Override
    public void close() {
        device.free(this);
    }

    /** Marks it closed; {@code true} the first time, when the caller must release the handle. */
    boolean markClosed() {
        if (closed) {
            return false;
        }
        closed = true;
        return true;
    }

    MemorySegment rawHandle() {
        return handle;
    }

    @Override
    public String toString() {
        return "OpenCL buffer of " + byteSize + " bytes on " + device.deviceName() + (closed ? " (closed)" : "");
    }
}
