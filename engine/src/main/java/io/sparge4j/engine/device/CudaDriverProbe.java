package io.sparge4j.engine.device;

import io.sparge4j.engine.device.cuda.CudaDevice;

import java.util.ArrayList;
import java.util.List;

/**
 * Describes the CUDA backend: the driver's version, whether NVRTC (the run-time compiler that CUDA
 * kernels need) is present, and each device's name, memory, SM count and compute capability.
 */
public final class CudaDriverProbe {
    private static final String NAME = "cuda";

    private CudaDriverProbe() {
    }

    /** @return the CUDA backend, or why it is unavailable; never throws */
    public static BackendInfo probe() {
        CudaDriver driver;
        try {
            driver = CudaDriver.load();
        } catch (BackendException e) {
            return BackendInfo.unavailable(NAME, e.getMessage(), List.of());
        }
        List<String> details = new ArrayList<>();
        details.add("library " + driver.libraryName());
        try {
            int version = driver.driverVersion();
            details.add("driver API " + version / 1000 + "." + version % 1000 / 10);
            details.add(nvrtcDetail());
            driver.init();
            int count = driver.deviceCount();
            if (count == 0) {
                return BackendInfo.unavailable(NAME, "the CUDA driver is installed but sees no device", details);
            }
            List<DeviceInfo> devices = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                devices.add(describe(driver, i));
            }
            return BackendInfo.available(NAME, details, devices);
        } catch (CudaException e) {
            String reason = e.code() == CudaDriver.ERROR_NO_DEVICE
                    ? "the CUDA driver is installed but found no CUDA device: " + e.getMessage()
                    : e.getMessage();
            return BackendInfo.unavailable(NAME, reason, details);
        } catch (RuntimeException e) {
            return BackendInfo.unavailable(NAME, String.valueOf(e.getMessage()), details);
        }
    }

    private static DeviceInfo describe(CudaDriver driver, int ordinal) {
        int device = driver.device(ordinal);
        int major = driver.attribute(device, CudaDriver.ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        int minor = driver.attribute(device, CudaDriver.ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        int sms = driver.attribute(device, CudaDriver.ATTRIBUTE_MULTIPROCESSOR_COUNT);
        return new DeviceInfo(ordinal, driver.deviceName(device), "gpu", driver.totalMemory(device), sms,
                "compute " + major + "." + minor + " (sm_" + major + minor + ")", List.of());
    }

    /** NVRTC is a separate library; its absence does not stop the driver from listing devices. */
    static String nvrtcDetail() {
        return CudaDevice.nvrtcDescription();
    }
}
