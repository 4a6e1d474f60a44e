package io.sparge4j.engine.compute;

import java.util.Objects;

/**
 * What a device offers the JIT; where a feature is missing the JIT emits a fallback.
 *
 * @param subGroupSize sub-group (warp) width of native sub-group operations; 0 when the device has none, and
 *     the JIT then emulates 32-wide sub-groups through local memory
 * @param fp16Arithmetic half-precision arithmetic in the kernel language (else: float math on half storage)
 * @param tensorCoreMma tensor-core {@code mma.sync.m16n8k16} (f16 and bf16 in, f32 out); else plain FMA
 * @param fp64 double-precision arithmetic
 * @param maxWorkGroupSize the largest work-group
 * @param localMemoryBytes local (shared) memory per work-group
 * @param identity what identifies the device and its compiler for the kernel cache, e.g.
 *     {@code "cuda|NVIDIA H200|sm_90|driver 13000|nvrtc 13.0"}
 */
public record DeviceFeatures(int subGroupSize, boolean fp16Arithmetic, boolean tensorCoreMma, boolean fp64,
        int maxWorkGroupSize, long localMemoryBytes, String identity) {
    /** Validates. */
    public DeviceFeatures {
        Objects.requireNonNull(identity, "identity");
        if (subGroupSize < 0 || maxWorkGroupSize < 1 || localMemoryBytes < 0) {
            throw new IllegalArgumentException("DeviceFeatures: subGroupSize " + subGroupSize + ", maxWorkGroupSize "
                    + maxWorkGroupSize + ", localMemoryBytes " + localMemoryBytes + ": expected >= 0, >= 1, >= 0");
        }
    }

    /** @return whether sub-group shuffles and reductions are native */
    public boolean nativeSubGroups() {
        return subGroupSize > 0;
    }
}
