package io.sparge4j.engine.gpu;

import io.sparge4j.engine.tensor.DType;

/** How a device linear layer multiplies: the choice is per call. */
public enum GemmPrecision {
    /** f32 operands on CUDA cores ({@code GemmKernels.sgemm}). */
    F32(DType.F32),
    /**
     * bf16 operands (rounded to nearest even on the device) with f32 accumulation on tensor cores
     * ({@code GemmKernels.mmaGemmBF16Pairs}; a plain FMA fallback where the device has none); needs an even
     * reduction length.
     */
    BF16(DType.BF16),
    /**
     * IEEE binary16 operands (rounded to nearest even on the device) with f32 accumulation on tensor cores
     * ({@code GemmKernels.mmaGemmF16Pairs}; a plain FMA fallback where the device has none); needs an even
     * reduction length. Three more mantissa bits than {@link #BF16} but f16's range: operands beyond 65504 round to
     * infinity, below 2^-14 lose precision (subnormals), below 2^-25 become 0.
     */
    F16(DType.F16);

    private final DType operandType;

    GemmPrecision(DType operandType) {
        this.operandType = operandType;
    }

    /** @return the dtype the operands are rounded to, which a weight may also have already */
    public DType operandType() {
        return operandType;
    }
}
