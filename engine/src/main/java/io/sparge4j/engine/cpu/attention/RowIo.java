package io.sparge4j.engine.cpu.attention;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.HalfFloats;
import io.sparge4j.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Moves runs of elements between tensors (f32, bf16 or f16) and float arrays, converting as it goes. */
final class RowIo {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT;

    private RowIo() {
    }

    /** Reads {@code len} elements starting at flat index {@code index}, multiplied by {@code mul}, into dst. */
    static void read(Tensor t, long index, float[] dst, int off, int len, float mul) {
        MemorySegment seg = t.segment();
        DType dtype = t.dtype();
        if (dtype == DType.F32) {
            MemorySegment.copy(seg, F32, index * 4, dst, off, len);
            if (mul != 1f) {
                for (int i = 0; i < len; i++) {
                    dst[off + i] *= mul;
                }
            }
        } else if (dtype == DType.BF16) {
            for (int i = 0; i < len; i++) {
                dst[off + i] = HalfFloats.bf16ToFloat(seg.getAtIndex(I16, index + i)) * mul;
            }
        } else {
            for (int i = 0; i < len; i++) {
                dst[off + i] = Float.float16ToFloat(seg.getAtIndex(I16, index + i)) * mul;
            }
        }
    }

    /**
     * Writes {@code len} floats from src, each multiplied by {@code mul}, to an f32 tensor at flat index
     * {@code index}. A scaled row is formed in src itself (which the caller no longer needs) and copied in
     * bulk: per-element segment stores cost several times more.
     */
    static void writeF32(Tensor t, long index, float[] src, int off, int len, float mul) {
        if (mul != 1f) {
            for (int i = off; i < off + len; i++) {
                src[i] *= mul;
            }
        }
        MemorySegment.copy(src, off, t.segment(), F32, index * 4, len);
    }
}
