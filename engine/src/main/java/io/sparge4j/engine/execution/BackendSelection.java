package io.sparge4j.engine.execution;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where kernels run: a backend and an optional device selector, from {@code --backend}/{@code --device} or the
 * environment variables {@code SPARGE_BACKEND}/{@code SPARGE_DEVICE} (flags win).
 *
 * @param backend {@code "emulator"}, {@code "cuda"} or {@code "opencl"} ({@code "cpu"} is stored as the emulator:
 *     the CPU path of kernels is the emulator)
 * @param device the device selector as given, or {@code null} for the first device
 */
public record BackendSelection(String backend, String device) {
    /** The names {@code --backend} accepts. */
    public static final List<String> NAMES = List.of("cpu", "emulator", "cuda", "opencl");

    /** Validates and normalises the backend name. */
    public BackendSelection {
        backend = normalise(backend);
        if (device != null && device.isBlank()) {
            device = null;
        }
    }

    /** @return the emulator, first device */
    public static BackendSelection emulator() {
        return new BackendSelection("emulator", null);
    }

    /**
     * @param backendFlag {@code --backend}, or {@code null} when not given
     * @param deviceFlag {@code --device}, or {@code null} when not given
     * @param env the environment, for {@code SPARGE_BACKEND} and {@code SPARGE_DEVICE}
     * @return the selection; the emulator when nothing is set
     * @throws IllegalArgumentException for an unknown backend name, listing the valid ones
     */
    public static BackendSelection parse(String backendFlag, String deviceFlag, Map<String, String> env) {
        String backend = firstSet(backendFlag, env.get("SPARGE_BACKEND"));
        String device = firstSet(deviceFlag, env.get("SPARGE_DEVICE"));
        return new BackendSelection(backend == null ? "emulator" : backend, device);
    }

    /**
     * The backend with, for OpenCL, the device that {@code SPARGE_DEVICE} names (the first device when unset); other
     * backends take their first device. Tests open their sessions through this, so that on a machine with several
     * OpenCL platforms (PoCL next to NVIDIA's, say) the OpenCL cases can be pointed at each in turn.
     *
     * @param backend {@code "emulator"}, {@code "cpu"}, {@code "cuda"} or {@code "opencl"}
     * @return the selection
     */
    public static BackendSelection withOpenClDeviceFromEnvironment(String backend) {
        String normalised = normalise(backend);
        return new BackendSelection(normalised, normalised.equals("opencl") ? System.getenv("SPARGE_DEVICE") : null);
    }

    /** @return whether this runs on the CPU emulator */
    public boolean isEmulator() {
        return backend.equals("emulator");
    }

    /**
     * @return the CUDA ordinal: the selector's number, or the first device whose name contains it, or 0
     * @throws io.sparge4j.engine.device.BackendException if a name matches no device
     */
    public int cudaOrdinal() {
        if (device == null || device.chars().allMatch(Character::isDigit)) {
            return DeviceCatalog.cudaOrdinal(device, List.of());
        }
        return DeviceCatalog.cudaOrdinal(device, DeviceCatalog.cudaDevices());
    }

    /**
     * @return the OpenCL device the selector names ({@code "P:D"}, flat index or name substring; the first device
     *     when none)
     * @throws io.sparge4j.engine.device.BackendException if it names no device
     */
    public OpenClAddress openClAddress() {
        return DeviceCatalog.openClDevice(device, DeviceCatalog.openClDevices());
    }

    /** @return e.g. {@code "cuda device 0"} or {@code "emulator"} */
    @Override
    public String toString() {
        return backend + (device == null ? "" : " device " + device);
    }

    private static String firstSet(String flag, String env) {
        if (flag != null && !flag.isBlank()) {
            return flag;
        }
        return env != null && !env.isBlank() ? env : null;
    }

    private static String normalise(String name) {
        String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        return switch (n) {
            case "cpu", "emulator" -> "emulator";
            case "cuda", "opencl" -> n;
            default -> throw new IllegalArgumentException("backend: got '" + name + "', expected one of "
                    + String.join(", ", NAMES) + " (from --backend or SPARGE_BACKEND)");
        };
    }
}
