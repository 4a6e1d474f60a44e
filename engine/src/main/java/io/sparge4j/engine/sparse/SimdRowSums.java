package io.sparge4j.engine.sparse;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/** {@link RowSums} with the Vector API; loaded only when {@code SimdSupport.available()}. */
final class SimdRowSums {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private SimdRowSums() {
    }

    static void add(MemorySegment seg, long first, long stride, int rows, int d, double[] out, int outOff) {
        int lanes = F.length();
        int vectorCols = d - d % lanes;
        float[] lane = new float[lanes];
        for (int c = 0; c < vectorCols; c += lanes) {
            for (int r0 = 0; r0 < rows; r0 += RowSums.CHUNK) {
                int r1 = Math.min(rows, r0 + RowSums.CHUNK);
                FloatVector acc = FloatVector.zero(F);
                for (int r = r0; r < r1; r++) {
                    long byteOffset = (first + r * stride + c) * Float.BYTES;
                    acc = acc.add(FloatVector.fromMemorySegment(F, seg, byteOffset, ByteOrder.nativeOrder()));
                }
                acc.intoArray(lane, 0);
                for (int l = 0; l < lanes; l++) {
                    out[outOff + c + l] += lane[l];
                }
            }
        }
        if (vectorCols < d) {
            // The columns past the last whole vector: a narrow slice of each row, summed the scalar way.
            double[] tail = new double[d - vectorCols];
            RowSums.scalar(seg, first + vectorCols, stride, rows, d - vectorCols, tail, 0);
            for (int c = 0; c < tail.length; c++) {
                out[outOff + vectorCols + c] += tail[c];
            }
        }
    }
}
