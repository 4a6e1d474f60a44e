package io.sparge4j.engine.compute;

/**
 * Memory on a device, owned by the {@link ComputeDevice} that allocated it. Closing frees it; closing twice is
 * harmless. A buffer must not be used after it or its device is closed.
 */
public interface DeviceBuffer extends AutoCloseable {
    /** @return the size in bytes */
    long byteSize();

    /** @return the device that owns it */
    ComputeDevice device();

    /** Frees the device memory. */
    @Override
    void close();
}
