package io.sparge4j.kernels.runtime;

/**
 * Opens {@link TaskExecutor}s; found through {@link java.util.ServiceLoader} (the engine registers one in
 * {@code META-INF/services/io.sparge4j.kernels.runtime.TaskExecutorProvider}), so that this module does not
 * depend on the engine.
 */
public interface TaskExecutorProvider {
    /**
     * Opens an executor on a backend and device.
     *
     * @param backend {@code "cpu"}, {@code "emulator"}, {@code "cuda"} or {@code "opencl"}; {@code null} for the
     *     {@code SPARGE_BACKEND} environment variable, else the emulator
     * @param device a device selector ({@code "0"}, OpenCL {@code "platform:device"} or a name substring);
     *     {@code null} for {@code SPARGE_DEVICE}, else the first device
     * @return a new executor owning its device
     */
    TaskExecutor open(String backend, String device);
}
