package io.sparge4j.engine.sparse;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/** {@link PoolingKernels} with the Vector API; loaded only when {@code SimdSupport.available()}. */
final class SimdPoolingKernels {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;

    private SimdPoolingKernels() {
    }

    static void add(MemorySegment seg, long first, long stride, int rows, int d, double[] out, int outOff) {
        int lanes = F.length();
        int vectorCols = F.length() == 2 * D.length() ? d - d % lanes : 0;
        for (int c = 0; c < vectorCols; c += lanes) {
            DoubleVector lo = DoubleVector.zero(D);
            DoubleVector hi = DoubleVector.zero(D);
            for (int r0 = 0; r0 < rows; r0 += PoolingKernels.CHUNK) {
                int r1 = Math.min(rows, r0 + PoolingKernels.CHUNK);
                FloatVector acc = FloatVector.zero(F);
                for (int r = r0; r < r1; r++) {
                    long byteOffset = (first + r * stride + c) * Float.BYTES;
                    acc = acc.add(FloatVector.fromMemorySegment(F, seg, byteOffset, ByteOrder.nativeOrder()));
                }
                // Fold the float partial sums into float64 lanes, still in registers.
                lo = lo.add((DoubleVector) acc.convertShape(VectorOperators.F2D, D, 0));
                hi = hi.add((DoubleVector) acc.convertShape(VectorOperators.F2D, D, 1));
            }
            lo.add(DoubleVector.fromArray(D, out, outOff + c)).intoArray(out, outOff + c);
            hi.add(DoubleVector.fromArray(D, out, outOff + c + D.length())).intoArray(out, outOff + c + D.length());
        }
        if (vectorCols < d) {
            // The columns past the last whole vector: a narrow slice of each row, summed the scalar way.
            PoolingKernels.scalar(seg, first + vectorCols, stride, rows, d - vectorCols, out, outOff + vectorCols);
        }
    }

    static double dot(double[] a, int aOff, double[] b, int bOff, int n) {
        int c = 0;
        DoubleVector acc = DoubleVector.zero(D);
        for (; c + D.length() <= n; c += D.length()) {
            acc = DoubleVector.fromArray(D, a, aOff + c).fma(DoubleVector.fromArray(D, b, bOff + c), acc);
        }
        // lane order, not reduceLanes(ADD): its order is unspecified and changes once the JIT compiles it
        double s = 0;
        for (int l = 0; l < acc.length(); l++) {
            s += acc.lane(l);
        }
        for (; c < n; c++) {
            s += a[aOff + c] * b[bOff + c];
        }
        return s;
    }
}
