package io.sparge4j.engine.execution;

import io.sparge4j.engine.compute.ComputeDevice;

/**
 * Opens the {@link ComputeDevice} a {@link BackendSelection} names. The CUDA runtime implements it with
 * {@code CudaDevice.open(selection.cudaOrdinal())}, the OpenCL runtime with
 * {@code OpenClDevice.open(platform, device)} from {@link BackendSelection#openClAddress()}.
 */
@FunctionalInterface
public interface DeviceOpener {
    /**
     * @param selection the backend and device
     * @return the opened device, owned by the caller
     * @throws io.sparge4j.engine.device.BackendException when the device cannot be opened
     */
    ComputeDevice open(BackendSelection selection);
}
