package io.sparge4j.engine.execution;

/**
 * One OpenCL device by its platform's index and its index within the platform, as {@code sparge info} lists
 * them and {@code --device P:D} selects them.
 *
 * @param platformIndex index of the platform in {@code clGetPlatformIDs}' order
 * @param deviceIndex index of the device within the platform
 * @param flatIndex index over all platforms' devices, as {@code --device N} counts them
 * @param platformName the platform's name
 * @param deviceName the device's name
 */
public record OpenClAddress(int platformIndex, int deviceIndex, int flatIndex, String platformName,
        String deviceName) {
    /** @return {@code "P:D"}, the selector of this device */
    public String selector() {
        return platformIndex + ":" + deviceIndex;
    }
}
