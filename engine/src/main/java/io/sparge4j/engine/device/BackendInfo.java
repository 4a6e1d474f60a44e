package io.sparge4j.engine.device;

import java.util.List;
import java.util.Objects;

/**
 * What one backend offers on this machine.
 *
 * @param name the backend's name as the command line spells it: {@code cpu}, {@code cuda} or {@code opencl}
 * @param available true when the backend can run work here (its library loaded and it has a device)
 * @param reason why the backend is unavailable, or the empty string when it is available
 * @param details facts about the backend as a whole (driver and runtime versions, platforms)
 * @param devices the devices found, indexed as {@code --device N} counts them
 */
public record BackendInfo(String name, boolean available, String reason, List<String> details,
                          List<DeviceInfo> devices) {
    /** Copies the lists so that the record stays immutable. */
    public BackendInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(reason, "reason");
        details = List.copyOf(details);
        devices = List.copyOf(devices);
    }

    /**
     * A backend that can run work.
     *
     * @param name the backend's name
     * @param details facts about the backend as a whole
     * @param devices its devices, at least one
     * @return the record
     */
    public static BackendInfo available(String name, List<String> details, List<DeviceInfo> devices) {
        if (devices.isEmpty()) {
            throw new IllegalArgumentException("BackendInfo: devices is empty, expected at least one device for an available backend");
        }
        return new BackendInfo(name, true, "", details, devices);
    }

    /**
     * A backend that cannot run work here.
     *
     * @param name the backend's name
     * @param reason why, in words a user can act on
     * @param details what was learnt before it failed (may be empty)
     * @return the record
     */
    public static BackendInfo unavailable(String name, String reason, List<String> details) {
        return new BackendInfo(name, false, reason, details, List.of());
    }
}
