package io.sparge4j.engine.device.opencl;

import io.sparge4j.engine.device.OpenCl;

/**
 * One OpenCL device as {@link OpenClDevice#list()} finds it.
 *
 * @param platformIndex the platform's index among the loader's platforms
 * @param platformName the platform's name, e.g. {@code "Portable Computing Language"}
 * @param deviceIndex the device's index within its platform
 * @param deviceName the device's name
 * @param vendor the device's vendor
 * @param version the device's OpenCL version string, e.g. {@code "OpenCL 3.0 PoCL ..."}
 * @param type its {@code cl_device_type} bits ({@link OpenCl#DEVICE_TYPE_GPU}, ...)
 */
public record OpenClDeviceRef(int platformIndex, String platformName, int deviceIndex, String deviceName,
        String vendor, String version, long type) {
    /** @return whether the device is a GPU */
    public boolean gpu() {
        return (type & OpenCl.DEVICE_TYPE_GPU) != 0;
    }

    /** @return {@code "gpu"}, {@code "cpu"}, {@code "accelerator"} or {@code "other"} */
    public String typeName() {
        if (gpu()) {
            return "gpu";
        }
        if ((type & OpenCl.DEVICE_TYPE_CPU) != 0) {
            return "cpu";
        }
        return (type & OpenCl.DEVICE_TYPE_ACCELERATOR) != 0 ? "accelerator" : "other";
    }

    /** @return e.g. {@code "platform 0 (Portable Computing Language) device 0: pthread-... (cpu)"} */
    @Override
    public String toString() {
        return "platform " + platformIndex + " (" + platformName + ") device " + deviceIndex + ": " + deviceName
                + " (" + typeName() + ", " + version + ")";
    }
}
