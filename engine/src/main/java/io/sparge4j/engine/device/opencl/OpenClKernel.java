package io.sparge4j.engine.device.opencl;

import io.sparge4j.engine.compute.DeviceKernel;
import io.sparge4j.engine.compute.GeneratedKernel;

import java.lang.foreign.MemorySegment;

/**
 * A built {@code cl_program} and its {@code cl_kernel} on one {@link OpenClDevice}.
 *
 * @param generated the kernel as generated
 * @param program the program handle
 * @param kernel the kernel handle
 * @param maxWorkGroupSize {@code CL_KERNEL_WORK_GROUP_SIZE}: the largest work-group this kernel can run with
 * @param compileMillis time spent building, or reading the cache and loading the binary
 * @param fromDiskCache whether the program came from a cached binary
 * @param binaryKind {@code "binary"} from the cache, {@code "source"} when built from OpenCL C
 * @param owner the device that loaded it
 */
record OpenClKernel(GeneratedKernel generated, MemorySegment program, MemorySegment kernel, long maxWorkGroupSize,
        double compileMillis, boolean fromDiskCache, String binaryKind, OpenClDevice owner) implements DeviceKernel {
    @Override
    public String toString() {
        return "OpenCL kernel " + generated.javaName() + " (" + generated.entryName() + ", " + binaryKind + ")";
    }
}
