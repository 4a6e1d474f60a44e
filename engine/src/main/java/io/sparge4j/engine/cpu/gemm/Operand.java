package io.sparge4j.engine.cpu.gemm;

import io.sparge4j.engine.tensor.DType;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * A matrix operand of {@link Gemm}: a row-major matrix inside a memory segment, optionally used
 * transposed. Element (r, c) of the stored matrix is at element index {@code offset + r * ld + c}.
 *
 * @param segment the memory holding the matrix
 * @param dtype element type: F32, or BF16/F16 (for B only)
 * @param offset element index of the stored matrix's first element
 * @param ld leading dimension: elements between the starts of consecutive stored rows
 * @param transposed whether the op uses the transpose of the stored matrix
 */
public record Operand(MemorySegment segment, DType dtype, long offset, long ld, boolean transposed) {
    /** Validates the fields that do not depend on the matrix's size. */
    public Operand {
        Objects.requireNonNull(segment, "segment");
        Objects.requireNonNull(dtype, "dtype");
        if (offset < 0) {
            throw new IllegalArgumentException("gemm: operand offset is " + offset + ", expected >= 0");
        }
        if (ld < 0) {
            throw new IllegalArgumentException("gemm: operand leading dimension is " + ld + ", expected >= 0");
        }
    }

    /**
     * A dense f32 matrix.
     *
     * @param segment the memory
     * @param offset element index of the first element
     * @param ld leading dimension in elements
     * @param transposed whether to use the transpose
     * @return the operand
     */
    public static Operand f32(MemorySegment segment, long offset, long ld, boolean transposed) {
        return new Operand(segment, DType.F32, offset, ld, transposed);
    }
}
