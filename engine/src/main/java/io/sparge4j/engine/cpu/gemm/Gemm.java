package io.sparge4j.engine.cpu.gemm;

import io.sparge4j.engine.cpu.SimdSupport;
import io.sparge4j.engine.tensor.DType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

/**
 * Single-precision general matrix multiply on the CPU: {@code C = alpha * op(A) * op(B) + beta * C}.
 *
 * <p>op(A) is m x k, op(B) is k x n and C is m x n, all row-major inside memory segments at an element
 * offset with a leading dimension, so tensors, views and slices are used in place. A and C are f32;
 * B may be f32, bf16 or f16 (half-precision weights are widened to f32 while packing). Accumulation is
 * in f32 with fused multiply-adds. With {@code beta == 0} C is not read, so it may hold garbage.
 * Segments of a confined arena are only usable from their owner thread, so the product then runs on
 * the calling thread alone; use shared, global or automatic memory (as tensors do) for all threads.
 *
 * <p>Blocked and packed like BLIS, with an AVX-512 register-tiled micro-kernel (Vector API), on all of
 * {@link io.sparge4j.engine.cpu.CpuRuntime}'s threads; plain Java when the Vector API is absent.
 */
public final class Gemm {
    private Gemm() {
    }

    /**
     * Computes {@code C = alpha * op(A) * op(B) + beta * C}.
     *
     * @param m rows of op(A) and C
     * @param n columns of op(B) and C
     * @param k columns of op(A), rows of op(B)
     * @param alpha scale of the product
     * @param a operand A (f32); stored m x k, or k x m when transposed
     * @param b operand B (f32, bf16 or f16); stored k x n, or n x k when transposed
     * @param beta scale of the old C (0: C is only written)
     * @param c C's memory (f32)
     * @param cOffset element index of C's first element
     * @param ldc leading dimension of C in elements (at least n)
     * @throws IllegalArgumentException on negative sizes, wrong dtypes, leading dimensions too small or
     *         operands that do not fit in their segments
     */
    public static void gemm(int m, int n, int k, float alpha, Operand a, Operand b, float beta, MemorySegment c,
            long cOffset, long ldc) {
        gemm(defaultKernel(), m, n, k, alpha, a, b, beta, c, cOffset, ldc);
    }

    /** The same, with a chosen micro-kernel (tests run both paths through this). */
    static void gemm(MicroKernel kernel, int m, int n, int k, float alpha, Operand a, Operand b, float beta,
            MemorySegment c, long cOffset, long ldc) {
        validate(m, n, k, a, b, c, cOffset, ldc);
        if (m == 0 || n == 0) {
            return;
        }
        if (k == 0 || alpha == 0) {
            scaleC(m, n, beta, c, cOffset, ldc);
            return;
        }
        GemmDriver.run(kernel, m, n, k, alpha, a, b, beta, c, cOffset, ldc);
    }

    static MicroKernel defaultKernel() {
        return SimdSupport.available() ? Simd.kernel() : ScalarMicroKernel.INSTANCE;
    }

    /** Isolated so that the Vector API classes load only when present. */
    private static final class Simd {
        static MicroKernel kernel() {
            return SimdMicroKernel.INSTANCE;
        }
    }

    private static void scaleC(int m, int n, float beta, MemorySegment c, long cOffset, long ldc) {
        for (int i = 0; i < m; i++) {
            long row = cOffset + i * ldc;
            for (int j = 0; j < n; j++) {
                float v = beta == 0 ? 0f : beta * c.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, row + j);
                c.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, row + j, v);
            }
        }
    }

    private static void validate(int m, int n, int k, Operand a, Operand b, MemorySegment c, long cOffset, long ldc) {
        if (m < 0 || n < 0 || k < 0) {
            throw new IllegalArgumentException("gemm: sizes are m=" + m + " n=" + n + " k=" + k + ", expected all >= 0");
        }
        Objects.requireNonNull(a, "gemm: a");
        Objects.requireNonNull(b, "gemm: b");
        Objects.requireNonNull(c, "gemm: c");
        if (a.dtype() != DType.F32) {
            throw new IllegalArgumentException("gemm: a has dtype " + a.dtype() + ", expected " + DType.F32);
        }
        if (!Packing.isFloat(b.dtype())) {
            throw new IllegalArgumentException("gemm: b has dtype " + b.dtype() + ", expected " + DType.F32 + ", " + DType.BF16 + " or " + DType.F16);
        }
        checkFits("a", a.segment(), a.dtype().byteSize(), a.offset(), a.ld(),
                a.transposed() ? k : m, a.transposed() ? m : k);
        checkFits("b", b.segment(), b.dtype().byteSize(), b.offset(), b.ld(),
                b.transposed() ? n : k, b.transposed() ? k : n);
        if (cOffset < 0) {
            throw new IllegalArgumentException("gemm: c offset is " + cOffset + ", expected >= 0");
        }
        checkFits("c", c, Float.BYTES, cOffset, ldc, m, n);
    }

    /** Checks that a stored rows x cols matrix with leading dimension ld lies inside the segment. */
    private static void checkFits(String name, MemorySegment seg, long elemBytes, long offset, long ld, int rows,
            int cols) {
        if (rows == 0 || cols == 0) {
            return;
        }
        if (rows > 1 && ld < cols) {
            throw new IllegalArgumentException("gemm: " + name + " has leading dimension " + ld + ", expected at least "
                    + cols + " (the stored row length)");
        }
        long lastElement = offset + (rows - 1) * ld + cols;
        long available = seg.byteSize() / elemBytes;
        if (lastElement > available) {
            throw new IllegalArgumentException("gemm: " + name + " (stored " + rows + " x " + cols + ", offset " + offset
                    + ", ld " + ld + ") needs " + lastElement + " elements, expected at most " + available
                    + " (the segment's size)");
        }
    }
}
