package io.sparge4j.engine.compute;

import java.util.List;
import java.util.Objects;

/**
 * A kernel as the JIT generated it, ready for a {@link ComputeDevice} to compile.
 *
 * @param entryName the kernel function's name in {@code source}
 * @param source the complete, self-contained source
 * @param dialect its language
 * @param parameters the generated signature's parameters, in order
 * @param cacheKey a hash covering the JIT's version, the bytecode of the kernel and of every method it inlines,
 *     the specialisation constants, the dialect and {@link DeviceFeatures#identity()}: equal keys mean equal
 *     source, so a device may reuse a binary compiled for the same key
 * @param paths which path each feature took, for reports, e.g. {@code "mma: tensor cores"} or
 *     {@code "sub-groups: local-memory fallback"}; empty when the kernel uses none
 * @param kernelClass the Java class the kernel came from, for messages
 * @param kernelMethod the Java method's name
 * @param parallelDimensions 0 for a {@code KernelContext} kernel, whose launch grid the caller gives; for a
 *     loop-style kernel the number of {@code @Parallel} loops (1 to 3), which the JIT turned into grid-stride
 *     loops over dimensions x, y, z, so any grid computes the whole result
 * @param localBytes bytes of the kernel's own local (shared) arrays, each rounded up to 16 bytes (the fallbacks'
 *     scratch not included): what a device must hold per work-group, checked when the kernel is loaded
 * @param dynamicLocalBytes bytes of local memory the launch must ask for dynamically (CUDA: the kernel's local
 *     arrays are carve-outs of {@code extern __shared__} memory because they exceed the 48 KiB of static shared
 *     memory; the runtime raises the function's limit and passes this at launch); 0 when all are static
 */
public record GeneratedKernel(String entryName, String source, Dialect dialect, List<KernelParameter> parameters,
        String cacheKey, List<String> paths, String kernelClass, String kernelMethod, int parallelDimensions,
        long localBytes, int dynamicLocalBytes) {
    /** Validates and freezes the lists. */
    public GeneratedKernel {
        Objects.requireNonNull(entryName, "entryName");
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(dialect, "dialect");
        Objects.requireNonNull(cacheKey, "cacheKey");
        parameters = List.copyOf(parameters);
        paths = List.copyOf(paths);
        if (parallelDimensions < 0 || parallelDimensions > 3) {
            throw new IllegalArgumentException("GeneratedKernel: parallelDimensions is " + parallelDimensions
                    + ", expected 0 to 3");
        }
        if (localBytes < 0 || dynamicLocalBytes < 0 || dynamicLocalBytes > localBytes) {
            throw new IllegalArgumentException("GeneratedKernel: localBytes is " + localBytes + " and dynamicLocalBytes "
                    + dynamicLocalBytes + ", expected 0 <= dynamicLocalBytes <= localBytes");
        }
    }

    /**
     * A kernel whose local arrays (if any) are all static and not counted, as hand-made test kernels and the
     * emulator's descriptors are.
     *
     * @param entryName the kernel function's name in {@code source}
     * @param source the complete, self-contained source
     * @param dialect its language
     * @param parameters the generated signature's parameters, in order
     * @param cacheKey see the record's description
     * @param paths which path each feature took
     * @param kernelClass the Java class the kernel came from
     * @param kernelMethod the Java method's name
     * @param parallelDimensions 0 for a {@code KernelContext} kernel, else the number of {@code @Parallel} loops
     */
    public GeneratedKernel(String entryName, String source, Dialect dialect, List<KernelParameter> parameters,
            String cacheKey, List<String> paths, String kernelClass, String kernelMethod, int parallelDimensions) {
        this(entryName, source, dialect, parameters, cacheKey, paths, kernelClass, kernelMethod, parallelDimensions,
                0, 0);
    }

    /** @return whether the kernel takes a {@code KernelContext} (and so needs an explicit grid) */
    public boolean contextKernel() {
        return parallelDimensions == 0;
    }

    /** @return {@code Class.method}, for messages */
    public String javaName() {
        return kernelClass + "." + kernelMethod;
    }
}
