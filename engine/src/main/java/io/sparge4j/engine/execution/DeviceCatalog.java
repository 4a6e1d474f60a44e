package io.sparge4j.engine.execution;

import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.BackendInfo;
import io.sparge4j.engine.device.CudaDriverProbe;
import io.sparge4j.engine.device.DeviceInfo;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.device.opencl.OpenClDeviceRef;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The devices that {@code --device} selects from: CUDA devices by ordinal, OpenCL devices by
 * {@code platform:device}, flat index or name. Listing never throws; a missing driver is an empty list.
 */
public final class DeviceCatalog {
    private DeviceCatalog() {
    }

    /** @return the CUDA devices, indexed by ordinal; empty when CUDA is unavailable */
    public static List<DeviceInfo> cudaDevices() {
        BackendInfo info = CudaDriverProbe.probe();
        return info.available() ? info.devices() : List.of();
    }

    /**
     * @return every OpenCL device of every platform, in platform order, as {@link OpenClDevice#list()} finds them
     *     (so {@code P:D} here is what {@link OpenClDevice#open} opens); empty when OpenCL is unavailable
     */
    public static List<OpenClAddress> openClDevices() {
        List<OpenClAddress> out = new ArrayList<>();
        for (OpenClDeviceRef d : OpenClDevice.list()) {
            out.add(new OpenClAddress(d.platformIndex(), d.deviceIndex(), out.size(), d.platformName(),
                    d.deviceName()));
        }
        return out;
    }

    /**
     * @param selector {@code null} (ordinal 0), an ordinal, or a substring of a device's name (case-insensitive)
     * @param devices the CUDA devices
     * @return the ordinal
     * @throws BackendException if nothing matches
     */
    static int cudaOrdinal(String selector, List<DeviceInfo> devices) {
        if (selector == null) {
            return 0;
        }
        if (selector.chars().allMatch(Character::isDigit)) {
            return Integer.parseInt(selector);
        }
        for (DeviceInfo d : devices) {
            if (d.name().toLowerCase(Locale.ROOT).contains(selector.toLowerCase(Locale.ROOT))) {
                return d.index();
            }
        }
        throw new BackendException("--device: got '" + selector + "', expected a CUDA ordinal or part of a device name: "
                + (devices.isEmpty() ? "no CUDA device found" : devices.stream().map(d -> d.index() + " " + d.name()).toList()));
    }

    /**
     * @param selector {@code null} (the first device), {@code "P:D"}, a flat index {@code N}, or a substring of a
     *     device's or platform's name (case-insensitive)
     * @param devices the OpenCL devices
     * @return the device
     * @throws BackendException if nothing matches
     */
    static OpenClAddress openClDevice(String selector, List<OpenClAddress> devices) {
        if (devices.isEmpty()) {
            throw new BackendException("--device " + (selector == null ? "(first)" : "'" + selector + "'")
                    + ": no OpenCL device found (is an OpenCL driver installed? see 'sparge info --backend opencl')");
        }
        if (selector == null) {
            return devices.getFirst();
        }
        String s = selector.trim();
        if (s.matches("\\d+:\\d+")) {
            int p = Integer.parseInt(s.substring(0, s.indexOf(':')));
            int d = Integer.parseInt(s.substring(s.indexOf(':') + 1));
            for (OpenClAddress a : devices) {
                if (a.platformIndex() == p && a.deviceIndex() == d) {
                    return a;
                }
            }
        } else if (s.matches("\\d+")) {
            int n = Integer.parseInt(s);
            if (n < devices.size()) {
                return devices.get(n);
            }
        } else {
            String needle = s.toLowerCase(Locale.ROOT);
            for (OpenClAddress a : devices) {
                if (a.deviceName().toLowerCase(Locale.ROOT).contains(needle)
                        || a.platformName().toLowerCase(Locale.ROOT).contains(needle)) {
                    return a;
                }
            }
        }
        throw new BackendException("--device: got '" + selector + "', expected P:D, a flat index or part of a name of"
                + " one of " + devices.stream().map(a -> a.selector() + " (" + a.flatIndex() + ") " + a.deviceName()
                        + " [" + a.platformName() + "]").toList());
    }
}
