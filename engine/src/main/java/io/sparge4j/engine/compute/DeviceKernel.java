package io.sparge4j.engine.compute;

/**
 * A kernel compiled and loaded on one device, launched through {@link ComputeDevice#launch}.
 */
public interface DeviceKernel {
    /** @return the kernel as generated */
    GeneratedKernel generated();

    /** @return milliseconds spent producing the loadable binary: compiling, or reading the cache on a hit */
    double compileMillis();

    /** @return whether the binary came from the disk cache instead of the device compiler */
    boolean fromDiskCache();

    /** @return how the device compiled it, e.g. {@code "cubin sm_90"} or {@code "ptx compute_90"} or {@code "binary"} */
    String binaryKind();
}
