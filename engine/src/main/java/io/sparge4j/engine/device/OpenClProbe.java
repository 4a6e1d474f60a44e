package io.sparge4j.engine.device;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * Describes the OpenCL backend: every platform (vendor driver) and its devices, with memory, compute
 * units, OpenCL version and the extensions the kernels care about (half precision, sub-groups).
 */
public final class OpenClProbe {
    private static final String NAME = "opencl";

    private OpenClProbe() {
    }

    /** @return the OpenCL backend, or why it is unavailable; never throws */
    public static BackendInfo probe() {
        OpenCl cl;
        try {
            cl = OpenCl.load();
        } catch (BackendException e) {
            return BackendInfo.unavailable(NAME, e.getMessage(), List.of());
        }
        List<String> details = new ArrayList<>();
        details.add("library " + cl.libraryName());
        List<MemorySegment> platforms;
        try {
            platforms = cl.platforms();
        } catch (RuntimeException e) {
            return BackendInfo.unavailable(NAME, String.valueOf(e.getMessage()), details);
        }
        if (platforms.isEmpty()) {
            return BackendInfo.unavailable(NAME, cl.libraryName()
                    + " loaded, but no OpenCL platform is installed (no vendor driver, e.g. pocl-opencl-icd)", details);
        }
        List<DeviceInfo> devices = new ArrayList<>();
        for (int p = 0; p < platforms.size(); p++) {
            // One broken vendor driver must not hide the others' devices.
            try {
                MemorySegment platform = platforms.get(p);
                String platformName = cl.platformString(platform, OpenCl.PLATFORM_NAME);
                details.add("platform " + p + ": " + platformName + ", "
                        + cl.platformString(platform, OpenCl.PLATFORM_VERSION));
                for (MemorySegment device : cl.devices(platform, OpenCl.DEVICE_TYPE_ALL)) {
                    devices.add(describe(cl, device, devices.size(), platformName));
                }
            } catch (RuntimeException e) {
                details.add("platform " + p + ": " + e.getMessage());
            }
        }
        if (devices.isEmpty()) {
            return BackendInfo.unavailable(NAME, "no OpenCL device found on " + platforms.size() + " platform(s)",
                    details);
        }
        return BackendInfo.available(NAME, details, devices);
    }

    private static DeviceInfo describe(OpenCl cl, MemorySegment device, int index, String platformName) {
        Set<String> extensions = Set.copyOf(Arrays.asList(
                cl.deviceString(device, OpenCl.DEVICE_EXTENSIONS).split("\\s+")));
        List<String> notes = new ArrayList<>();
        notes.add("platform " + platformName);
        notes.add(extensions.contains("cl_khr_fp16") ? "cl_khr_fp16" : "no cl_khr_fp16");
        List<String> subgroups = extensions.stream()
                .filter(e -> e.equals("cl_khr_subgroups") || e.equals("cl_intel_subgroups"))
                .sorted().toList();
        notes.add(subgroups.isEmpty() ? "no sub-groups" : String.join(" ", subgroups));
        return new DeviceInfo(index, cl.deviceString(device, OpenCl.DEVICE_NAME),
                typeName(cl.deviceLong(device, OpenCl.DEVICE_TYPE)),
                cl.deviceLong(device, OpenCl.DEVICE_GLOBAL_MEM_SIZE),
                cl.deviceInt(device, OpenCl.DEVICE_MAX_COMPUTE_UNITS),
                cl.deviceString(device, OpenCl.DEVICE_VERSION), notes);
    }

    static String typeName(long type) {
        if ((type & OpenCl.DEVICE_TYPE_GPU) != 0) {
            return "gpu";
        }
        if ((type & OpenCl.DEVICE_TYPE_CPU) != 0) {
            return "cpu";
        }
        if ((type & OpenCl.DEVICE_TYPE_ACCELERATOR) != 0) {
            return "accelerator";
        }
        return "other";
    }
}
