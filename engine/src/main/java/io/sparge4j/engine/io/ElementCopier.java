package io.sparge4j.engine.io;

import io.sparge4j.engine.cpu.CpuRuntime;
import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.HalfFloats;
import io.sparge4j.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Copies little-endian file bytes (any alignment) into a tensor's native memory, converting dtypes.
 *
 * <p>Same-dtype copies are bulk copies (a plain memory copy on little-endian machines); the common
 * half-precision conversions have their own loops; everything else goes through float (when either
 * side is floating point) or long, with {@link Tensor#setFloat}/{@link Tensor#setLong} semantics.
 * Large tensors are split into chunks that run on all cores.
 */
final class ElementCopier {
    private static final ValueLayout.OfShort SHORT_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG_LE =
            ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Elements per parallel chunk: large enough that scheduling is noise, small enough to balance. */
    private static final long CHUNK = 1 << 18;

    private ElementCopier() {
    }

    /**
     * @param src little-endian elements of {@code srcType}, exactly {@code dst.numel()} of them
     * @param srcType the file's dtype
     * @param dst the destination (any dtype, same element count)
     */
    static void copy(MemorySegment src, DType srcType, Tensor dst) {
        long n = dst.numel();
        int chunks = Math.toIntExact((n + CHUNK - 1) / CHUNK);
        if (chunks <= 1) {
            copyRange(src, srcType, dst, 0, n);
        } else {
            CpuRuntime.parallelFor(chunks, c -> {
                long from = c * CHUNK;
                copyRange(src, srcType, dst, from, Math.min(n, from + CHUNK));
            });
        }
    }

    private static void copyRange(MemorySegment src, DType srcType, Tensor dst, long from, long to) {
        DType dstType = dst.dtype();
        MemorySegment out = dst.segment();
        if (srcType == dstType) {
            copySame(src, out, srcType, from, to - from);
        } else if (srcType == DType.BF16 && dstType == DType.F32) {
            for (long i = from; i < to; i++) {
                // bf16 is the top half of a binary32: move bits, so NaN payloads survive exactly.
                out.setAtIndex(ValueLayout.JAVA_INT, i, (src.getAtIndex(SHORT_LE, i) & 0xffff) << 16);
            }
        } else if (srcType == DType.F16 && dstType == DType.F32) {
            for (long i = from; i < to; i++) {
                out.setAtIndex(ValueLayout.JAVA_FLOAT, i, Float.float16ToFloat(src.getAtIndex(SHORT_LE, i)));
            }
        } else if (srcType == DType.F32 && dstType == DType.BF16) {
            for (long i = from; i < to; i++) {
                out.setAtIndex(ValueLayout.JAVA_SHORT, i, HalfFloats.floatToBf16(src.getAtIndex(FLOAT_LE, i)));
            }
        } else if (srcType == DType.F32 && dstType == DType.F16) {
            for (long i = from; i < to; i++) {
                out.setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16(src.getAtIndex(FLOAT_LE, i)));
            }
        } else if (srcType.isFloatingPoint() || dstType.isFloatingPoint()) {
            for (long i = from; i < to; i++) {
                dst.setFloat(i, readFloat(src, srcType, i));
            }
        } else {
            for (long i = from; i < to; i++) {
                dst.setLong(i, readLong(src, srcType, i));
            }
        }
    }

    private static void copySame(MemorySegment src, MemorySegment out, DType type, long first, long count) {
        switch (type.byteSize()) {
            case 1 -> MemorySegment.copy(src, first, out, first, count);
            case 2 -> MemorySegment.copy(src, SHORT_LE, first * 2, out, ValueLayout.JAVA_SHORT, first * 2, count);
            case 4 -> MemorySegment.copy(src, INT_LE, first * 4, out, ValueLayout.JAVA_INT, first * 4, count);
            case 8 -> MemorySegment.copy(src, LONG_LE, first * 8, out, ValueLayout.JAVA_LONG, first * 8, count);
            default -> throw new AssertionError("unexpected element size " + type.byteSize());
        }
    }

    private static float readFloat(MemorySegment src, DType type, long i) {
        return switch (type) {
            case F32 -> src.getAtIndex(FLOAT_LE, i);
            case BF16 -> HalfFloats.bf16ToFloat(src.getAtIndex(SHORT_LE, i));
            case F16 -> Float.float16ToFloat(src.getAtIndex(SHORT_LE, i));
            case I32 -> src.getAtIndex(INT_LE, i);
            case I64 -> src.getAtIndex(LONG_LE, i);
            case U8, BOOL -> src.get(ValueLayout.JAVA_BYTE, i) & 0xff;
        };
    }

    private static long readLong(MemorySegment src, DType type, long i) {
        return switch (type) {
            case I32 -> src.getAtIndex(INT_LE, i);
            case I64 -> src.getAtIndex(LONG_LE, i);
            case U8, BOOL -> src.get(ValueLayout.JAVA_BYTE, i) & 0xff;
            default -> (long) readFloat(src, type, i);
        };
    }
}
