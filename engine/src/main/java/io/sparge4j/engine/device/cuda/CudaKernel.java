package io.sparge4j.engine.device.cuda;

import io.sparge4j.engine.compute.DeviceKernel;
import io.sparge4j.engine.compute.GeneratedKernel;

import java.lang.foreign.MemorySegment;

/**
 * A kernel loaded into a {@code CUmodule} on one device.
 *
 * @param generated the kernel as generated
 * @param compileMillis time to produce the binary (compile, or read the cache)
 * @param fromDiskCache whether the binary came from the kernel cache
 * @param binaryKind e.g. {@code cubin sm_90}
 * @param device the device it is loaded on
 * @param module the {@code CUmodule}
 * @param function the {@code CUfunction}
 */
record CudaKernel(GeneratedKernel generated, double compileMillis, boolean fromDiskCache, String binaryKind,
        CudaDevice device, MemorySegment module, MemorySegment function) implements DeviceKernel {
    @Override
    public String toString() {
        return "CudaKernel[" + generated.javaName() + ", " + binaryKind + (fromDiskCache ? ", cached" : "")
                + String.format(", %.1f ms]", compileMillis);
    }
}
