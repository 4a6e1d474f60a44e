package io.sparge4j.engine.cpu.gemm;

import io.sparge4j.engine.tensor.DType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Copies blocks of op(A) and op(B) into the contiguous micro-panel layout the micro-kernels read, so the
 * k loop touches memory sequentially whatever the operands' transposes, strides and dtypes. Rows or
 * columns past the matrix edge are zero-filled, so edge tiles compute with full-size panels.
 */
final class Packing {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    private Packing() {
    }

    /**
     * Packs alpha * op(A)[i0 .. i0+mc, p0 .. p0+kc] into panels of {@code mr} rows: panel r starts at
     * {@code r * mr * kc}, and holds the {@code mr} values of column p at {@code p * mr}.
     */
    static void packA(Operand a, int i0, int mc, int p0, int kc, float alpha, int mr, float[] dst) {
        MemorySegment seg = a.segment();
        long ld = a.ld();
        for (int r = 0; r * mr < mc; r++) {
            int base = r * mr * kc;
            int rows = Math.min(mr, mc - r * mr);
            int firstRow = i0 + r * mr;
            if (!a.transposed()) {
                // row-major M x K: each row is contiguous in k, scattered to stride mr
                for (int i = 0; i < rows; i++) {
                    long src = a.offset() + (firstRow + i) * ld + p0;
                    for (int p = 0, d = base + i; p < kc; p++, d += mr) {
                        dst[d] = alpha * seg.getAtIndex(F32, src + p);
                    }
                }
            } else {
                // stored K x M: the mr values of one k step are contiguous
                for (int p = 0; p < kc; p++) {
                    long src = a.offset() + (p0 + p) * ld + firstRow;
                    int d = base + p * mr;
                    for (int i = 0; i < rows; i++) {
                        dst[d + i] = alpha * seg.getAtIndex(F32, src + i);
                    }
                }
            }
            if (rows < mr) {
                for (int p = 0; p < kc; p++) {
                    for (int i = rows; i < mr; i++) {
                        dst[base + p * mr + i] = 0f;
                    }
                }
            }
        }
    }

    /**
     * Packs op(B)[p0 .. p0+kc, j0 + q*nr ...] for the panels {@code q in [q0, q1)} of {@code nr} columns
     * (converting bf16/f16 to f32): panel q starts at {@code q * nr * kc} and holds the {@code nr}
     * values of row p at {@code p * nr}. Columns at or past {@code j0 + nc} are zero-filled.
     */
    static void packB(Operand b, int p0, int kc, int j0, int nc, int nr, int q0, int q1, float[] dst) {
        for (int q = q0; q < q1; q++) {
            int base = q * nr * kc;
            int cols = Math.min(nr, nc - q * nr);
            int firstCol = j0 + q * nr;
            if (!b.transposed()) {
                for (int p = 0; p < kc; p++) {
                    long src = b.offset() + (p0 + p) * b.ld() + firstCol;
                    readRun(b, src, cols, dst, base + p * nr, 1);
                }
            } else {
                // stored N x K (a weight matrix): each column of op(B) is a contiguous row, scattered to stride nr
                for (int j = 0; j < cols; j++) {
                    long src = b.offset() + (long) (firstCol + j) * b.ld() + p0;
                    readRun(b, src, kc, dst, base + j, nr);
                }
            }
            if (cols < nr) {
                for (int p = 0; p < kc; p++) {
                    for (int j = cols; j < nr; j++) {
                        dst[base + p * nr + j] = 0f;
                    }
                }
            }
        }
    }

    /** Reads {@code count} consecutive elements from {@code src} into dst[d], dst[d + stride], ... as f32. */
    private static void readRun(Operand m, long src, int count, float[] dst, int d, int stride) {
        MemorySegment seg = m.segment();
        switch (m.dtype()) {
            case F32 -> {
                if (stride == 1) {
                    MemorySegment.copy(seg, F32, src * Float.BYTES, dst, d, count);
                    return;
                }
                for (int i = 0; i < count; i++, d += stride) {
                    dst[d] = seg.getAtIndex(F32, src + i);
                }
            }
            case BF16 -> {
                for (int i = 0; i < count; i++, d += stride) {
                    dst[d] = Float.intBitsToFloat((seg.getAtIndex(I16, src + i) & 0xffff) << 16);
                }
            }
            case F16 -> {
                for (int i = 0; i < count; i++, d += stride) {
                    dst[d] = Float.float16ToFloat(seg.getAtIndex(I16, src + i));
                }
            }
            default -> throw new IllegalStateException("unsupported dtype " + m.dtype());
        }
    }

    static boolean isFloat(DType t) {
        return t == DType.F32 || t == DType.BF16 || t == DType.F16;
    }
}
