package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.KernelCache;
import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.opencl.OpenClDevice;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Test fixture: an {@link OpenClDevice} (a GPU if there is one, else the first device, e.g. PoCL) with a fresh
 * memory-only kernel cache, so every kernel is built from its source rather than loaded as a cached binary; or,
 * where there is none, the reason, for tests to skip visibly.
 */
public final class OpenClTestDevice implements AutoCloseable {
    private final OpenClDevice device;
    private final String unavailable;

    private OpenClTestDevice(OpenClDevice device, String unavailable) {
        this.device = device;
        this.unavailable = unavailable;
    }

    /** @return the opened device, or none with the reason; never throws for a missing library or device */
    public static OpenClTestDevice open() {
        try {
            return new OpenClTestDevice(OpenClDevice.open(null, null, new KernelCache(null)), null);
        } catch (BackendException | UnsatisfiedLinkError e) {
            return new OpenClTestDevice(null, e.getMessage());
        }
    }

    /**
     * @param purpose what the test needs the device for, for the skip message, e.g. {@code "run the library on"}
     * @return the device; where there is none the calling test is skipped (a JUnit assumption) with the reason
     */
    public OpenClDevice device(String purpose) {
        assumeTrue(device != null, () -> "no OpenCL device to " + purpose + ": " + unavailable);
        return device;
    }

    /** @return a device buffer holding a copy of {@code host} */
    public DeviceBuffer upload(MemorySegment host) {
        DeviceBuffer buffer = device.allocate(host.byteSize());
        device.copyToDevice(host, buffer, 0);
        return buffer;
    }

    /** Copies {@code buffer} into {@code host} after the work enqueued before, and waits. */
    public void read(DeviceBuffer buffer, MemorySegment host) {
        device.copyToHost(buffer, 0, host);
    }

    /** Closes the device, which frees its buffers and kernels. */
    @Override
    public void close() {
        if (device != null) {
            device.close();
        }
    }
}
