package io.sparge4j.engine.device;

/**
 * Checks a kernel's local (shared) memory against what a device grants one work-group, before a launch would fail
 * with a bare "too many resources" (CUDA) or "out of resources" (OpenCL) error.
 */
public final class SharedMemoryLimit {
    private SharedMemoryLimit() {
    }

    /**
     * @param kernel the kernel's Java name ({@code Class.method}), for the message
     * @param askedBytes local memory the kernel needs per work-group (static and dynamic together)
     * @param availableBytes the most the device grants one work-group (CUDA: the opt-in maximum; OpenCL:
     *     {@code CL_DEVICE_LOCAL_MEM_SIZE})
     * @param device the device's name, for the message
     * @param limitName where {@code availableBytes} came from, e.g. the attribute's name
     * @throws BackendException naming the kernel, the bytes asked and available, when they do not fit
     */
    public static void check(String kernel, long askedBytes, long availableBytes, String device, String limitName) {
        if (askedBytes > availableBytes) {
            throw new BackendException("kernel " + kernel + " needs " + askedBytes + " bytes of local (shared) memory "
                    + "per work-group, but " + device + " has " + availableBytes + " (" + limitName + "). Use a "
                    + "kernel variant with smaller tiles (e.g. unset SPARGE_FLASH_MMA_VARIANT) or a device with more "
                    + "shared memory");
        }
    }
}
