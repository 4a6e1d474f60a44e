package io.sparge4j.engine.compute;

/**
 * A {@link DeviceBuffer} with a raw address that libraries outside the engine can be given directly (a CUDA
 * {@code CUdeviceptr}, for NCCL's collectives), so that they read and write it without a copy through the host.
 */
public interface NativeDeviceMemory extends DeviceBuffer {
    /** @return the buffer's device address; valid while the buffer is open */
    long deviceAddress();

    /** @return the index of the GPU the memory lives on, as the driver counts them */
    int deviceOrdinal();
}
