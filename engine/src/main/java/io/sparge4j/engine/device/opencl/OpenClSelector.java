package io.sparge4j.engine.device.opencl;

import io.sparge4j.engine.device.BackendException;

import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * Picks a device from {@link OpenClDevice#list()} by a platform and a device selector. Each selector is
 * {@code null} or {@code ""} (no preference), an index ({@code "1"}), or a case-insensitive substring of the
 * name. A device index counts within the chosen platform; with no platform selector, the first platform.
 * A device name is searched in every chosen platform (all of them without a platform selector). With no device
 * selector a GPU is preferred, else the first device.
 */
final class OpenClSelector {
    private OpenClSelector() {
    }

    /**
     * @param devices every device, in platform order
     * @param platform the platform selector
     * @param device the device selector
     * @return the chosen device
     * @throws BackendException when nothing matches, listing what exists
     */
    static OpenClDeviceRef select(List<OpenClDeviceRef> devices, String platform, String device) {
        if (devices.isEmpty()) {
            throw new BackendException("no OpenCL device found: no platform (vendor driver) is installed or none has"
                    + " a device; install pocl-opencl-icd or the GPU vendor's OpenCL driver");
        }
        List<OpenClDeviceRef> candidates = devices;
        if (!blank(platform)) {
            candidates = matching(devices, platform, OpenClDeviceRef::platformIndex, OpenClDeviceRef::platformName);
            if (candidates.isEmpty()) {
                throw noMatch("platform \"" + platform + "\"", devices);
            }
        }
        if (blank(device)) {
            return candidates.stream().filter(OpenClDeviceRef::gpu).findFirst().orElse(candidates.get(0));
        }
        if (isIndex(device)) {
            int firstPlatform = candidates.get(0).platformIndex();
            candidates = candidates.stream().filter(d -> d.platformIndex() == firstPlatform).toList();
        }
        List<OpenClDeviceRef> chosen = matching(candidates, device, OpenClDeviceRef::deviceIndex,
                OpenClDeviceRef::deviceName);
        if (chosen.isEmpty()) {
            throw noMatch((blank(platform) ? "" : "platform \"" + platform + "\", ") + "device \"" + device + "\"",
                    devices);
        }
        return chosen.get(0);
    }

    private static List<OpenClDeviceRef> matching(List<OpenClDeviceRef> devices, String selector,
            Function<OpenClDeviceRef, Integer> index, Function<OpenClDeviceRef, String> name) {
        String wanted = selector.strip();
        if (isIndex(wanted)) {
            int i = Integer.parseInt(wanted);
            return devices.stream().filter(d -> index.apply(d) == i).toList();
        }
        String lower = wanted.toLowerCase(Locale.ROOT);
        return devices.stream().filter(d -> name.apply(d).toLowerCase(Locale.ROOT).contains(lower)).toList();
    }

    private static BackendException noMatch(String what, List<OpenClDeviceRef> devices) {
        StringBuilder message = new StringBuilder("no OpenCL device matches ").append(what)
                .append(" (a selector is an index or a case-insensitive part of the name); available:");
        for (OpenClDeviceRef d : devices) {
            message.append("\n  ").append(d);
        }
        return new BackendException(message.toString());
    }

    private static boolean blank(String selector) {
        return selector == null || selector.isBlank();
    }

    private static boolean isIndex(String selector) {
        String s = selector.strip();
        return !s.isEmpty() && s.length() < 10 && s.chars().allMatch(Character::isDigit);
    }
}
