package io.sparge4j.engine.device;

import java.util.List;
import java.util.Objects;

/**
 * One device of a backend.
 *
 * @param index the device's index within its backend ({@code --device N})
 * @param name the device's name as its driver reports it
 * @param type {@code cpu}, {@code gpu}, {@code accelerator} or {@code other}
 * @param memoryBytes the device's global memory in bytes (system memory for the CPU)
 * @param computeUnits cores (CPU), streaming multiprocessors (CUDA) or compute units (OpenCL)
 * @param capability what code it runs: the Vector API width (CPU), the compute capability (CUDA) or the
 *                   OpenCL version (OpenCL)
 * @param notes further facts, one short phrase each (features present or absent, platform)
 */
public record DeviceInfo(int index, String name, String type, long memoryBytes, int computeUnits,
                         String capability, List<String> notes) {
    /** Copies the notes so that the record stays immutable. */
    public DeviceInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(capability, "capability");
        notes = List.copyOf(notes);
    }
}
