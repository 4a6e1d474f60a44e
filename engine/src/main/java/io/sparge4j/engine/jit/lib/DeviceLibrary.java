package io.sparge4j.engine.jit.lib;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;

import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Definitions of the {@link LibraryFunction}s for one dialect and device: native where the device has the
 * feature, else a fallback (sub-groups through local memory, MMA through FMA, half through bit operations).
 */
public final class DeviceLibrary {
    private final Dialect dialect;
    private final DeviceFeatures features;

    private DeviceLibrary(Dialect dialect, DeviceFeatures features) {
        this.dialect = Objects.requireNonNull(dialect, "dialect");
        this.features = Objects.requireNonNull(features, "features");
    }

    /**
     * @param dialect the generated language
     * @param features what the device offers
     * @return the library for that target
     */
    public static DeviceLibrary forTarget(Dialect dialect, DeviceFeatures features) {
        return new DeviceLibrary(dialect, features);
    }

    /**
     * @param used the functions a kernel calls
     * @return C definitions of them (and of anything they need), to place before the kernel; "" when none
     */
    public String functions(Set<LibraryFunction> used) {
        throw new UnsupportedOperationException("DeviceLibrary.functions: not written yet");
    }

    /**
     * @param used the functions a kernel calls
     * @param workGroupSize work-items per group of the launch the kernel is compiled for
     * @return C statements for the top of the kernel body that define {@code sp_scratch} and {@code sp_llid} when a
     *     collective function is used; "" otherwise
     */
    public String kernelPrologue(Set<LibraryFunction> used, int workGroupSize) {
        throw new UnsupportedOperationException("DeviceLibrary.kernelPrologue: not written yet");
    }

    /**
     * @param used the functions a kernel calls
     * @return one line per feature path taken, e.g. {@code "mma: tensor cores (mma.sync)"},
     *     {@code "sub-groups: local-memory fallback"}; empty when none applies
     */
    public List<String> paths(Set<LibraryFunction> used) {
        throw new UnsupportedOperationException("DeviceLibrary.paths: not written yet");
    }
}
