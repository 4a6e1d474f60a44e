package io.sparge4j.engine.device.opencl;

import io.sparge4j.engine.device.LargeStack;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelCache;
import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.OpenClErrors;
import io.sparge4j.engine.device.OpenClException;

import java.lang.foreign.MemorySegment;
import java.util.Optional;

/**
 * Builds a generated kernel's {@code cl_program} for one device: from a cached program binary when the
 * {@link KernelCache} has one that loads, else from the OpenCL C source, whose binary then goes into the cache.
 */
final class OpenClProgramBuilder {
    /** OpenCL C 1.2 and no fast-math: results must match the Java reference. */
    static final String BUILD_OPTIONS = "-cl-std=CL1.2";
    /** The cache's file extension for OpenCL program binaries. */
    static final String CACHE_KIND = "clbin";

    /**
     * @param program the built program
     * @param fromCache whether it was loaded from a cached binary
     * @param millis time spent building or loading
     */
    record Built(MemorySegment program, boolean fromCache, double millis) {
    }

    private final OpenClRuntime cl;
    private final MemorySegment context;
    private final MemorySegment device;
    private final String identity;
    private final KernelCache cache;

    OpenClProgramBuilder(OpenClRuntime cl, MemorySegment context, MemorySegment device, String identity,
            KernelCache cache) {
        this.cl = cl;
        this.context = context;
        this.device = device;
        this.identity = identity;
        this.cache = cache;
    }

    /**
     * @param kernel the kernel
     * @return its built program
     * @throws OpenClException with the build log when the device compiler rejects the source
     */
    Built build(GeneratedKernel kernel) {
        long start = System.nanoTime();
        // The JIT's key covers the device identity already; adding it and the options keeps hand-made keys safe.
        String key = kernel.cacheKey() + "|" + identity + "|" + BUILD_OPTIONS;
        Optional<byte[]> binary = cache.get(key, CACHE_KIND);
        if (binary.isPresent()) {
            MemorySegment program = fromBinary(binary.get());
            if (program != null) {
                return new Built(program, true, millisSince(start));
            }
        }
        MemorySegment program = fromSource(kernel);
        try {
            byte[] built = cl.binary(program);
            if (built.length > 0) {
                cache.put(key, CACHE_KIND, built);
            }
        } catch (BackendException e) {
            // A driver that cannot hand out binaries still runs the kernel; it just rebuilds next time.
        }
        return new Built(program, false, millisSince(start));
    }

    /** @return the built program, or {@code null} when the binary does not load (a miss: rebuild from source) */
    private MemorySegment fromBinary(byte[] binary) {
        MemorySegment program;
        try {
            program = cl.programFromBinary(context, device, binary);
        } catch (BackendException e) {
            return null;
        }
        if (LargeStack.call("clBuildProgram", () -> cl.build(program, device, BUILD_OPTIONS)) != OpenClErrors.SUCCESS) {
            cl.releaseProgram(program);
            return null;
        }
        return program;
    }

    private MemorySegment fromSource(GeneratedKernel kernel) {
        MemorySegment program = cl.programFromSource(context, kernel.source());
        int status = LargeStack.call("clBuildProgram", () -> cl.build(program, device, BUILD_OPTIONS));
        if (status != OpenClErrors.SUCCESS) {
            String log;
            try {
                log = cl.buildLog(program, device);
            } catch (BackendException e) {
                log = "(no build log: " + e.getMessage() + ")";
            } finally {
                cl.releaseProgram(program);
            }
            throw new OpenClException("clBuildProgram", status, "Kernel " + kernel.javaName() + " (entry "
                    + kernel.entryName() + ") did not compile with " + BUILD_OPTIONS + "; build log:\n" + log);
        }
        return program;
    }

    private static double millisSince(long start) {
        return (System.nanoTime() - start) / 1e6;
    }
}
