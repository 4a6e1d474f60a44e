package io.sparge4j.engine.gpu;

/** How a device linear layer multiplies: the choice is per call. */
public enum GemmPrecision {
    /** f32 operands on CUDA cores ({@code GemmKernels.sgemm}). */
    F32,
    /**
     * bf16 operands (rounded to nearest even on the device) with f32 accumulation on tensor cores
     * ({@code GemmKernels.mmaGemmBF16Pairs}; a plain FMA fallback where the device has none); needs an even
     * reduction length.
     */
    BF16
}
