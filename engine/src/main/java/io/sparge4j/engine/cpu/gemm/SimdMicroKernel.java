package io.sparge4j.engine.cpu.gemm;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API micro-kernel with a 9 x 2L register tile (L = float lanes; 16 with AVX-512): 18
 * accumulators, 2 B vectors and the broadcast A values fit in the 32 vector registers without spilling.
 * (C2 hoists all 9 broadcasts of a k step before the FMAs, so taller tiles spill accumulators.)
 * Accumulators are named locals, not an array, so that C2 keeps them in registers; the k loop is the
 * whole method, which keeps it small enough for every JIT tier to compile.
 * Load only after {@code SimdSupport.available()} is true.
 */
final class SimdMicroKernel implements MicroKernel {
    static final SimdMicroKernel INSTANCE = new SimdMicroKernel();
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final int MR = 9;
    private static final int NR = 2 * L;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    private SimdMicroKernel() {
    }

    @Override
    public int mr() {
        return MR;
    }

    @Override
    public int nr() {
        return NR;
    }

    @Override
    public void tile(int kc, float[] a, int aOff, float[] b, int bOff, float[] acc) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        FloatVector c60 = FloatVector.zero(S), c61 = FloatVector.zero(S);
        FloatVector c70 = FloatVector.zero(S), c71 = FloatVector.zero(S);
        FloatVector c80 = FloatVector.zero(S), c81 = FloatVector.zero(S);
        FloatVector av;
        for (int p = 0, ai = aOff, bi = bOff; p < kc; p++, ai += MR, bi += NR) {
            FloatVector b0 = FloatVector.fromArray(S, b, bi);
            FloatVector b1 = FloatVector.fromArray(S, b, bi + L);
            av = FloatVector.broadcast(S, a[ai]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, a[ai + 1]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, a[ai + 2]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, a[ai + 3]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(S, a[ai + 4]);
            c40 = av.fma(b0, c40);
            c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(S, a[ai + 5]);
            c50 = av.fma(b0, c50);
            c51 = av.fma(b1, c51);
            av = FloatVector.broadcast(S, a[ai + 6]);
            c60 = av.fma(b0, c60);
            c61 = av.fma(b1, c61);
            av = FloatVector.broadcast(S, a[ai + 7]);
            c70 = av.fma(b0, c70);
            c71 = av.fma(b1, c71);
            av = FloatVector.broadcast(S, a[ai + 8]);
            c80 = av.fma(b0, c80);
            c81 = av.fma(b1, c81);
        }
        c00.intoArray(acc, 0);
        c01.intoArray(acc, L);
        c10.intoArray(acc, NR);
        c11.intoArray(acc, NR + L);
        c20.intoArray(acc, 2 * NR);
        c21.intoArray(acc, 2 * NR + L);
        c30.intoArray(acc, 3 * NR);
        c31.intoArray(acc, 3 * NR + L);
        c40.intoArray(acc, 4 * NR);
        c41.intoArray(acc, 4 * NR + L);
        c50.intoArray(acc, 5 * NR);
        c51.intoArray(acc, 5 * NR + L);
        c60.intoArray(acc, 6 * NR);
        c61.intoArray(acc, 6 * NR + L);
        c70.intoArray(acc, 7 * NR);
        c71.intoArray(acc, 7 * NR + L);
        c80.intoArray(acc, 8 * NR);
        c81.intoArray(acc, 8 * NR + L);
    }

    @Override
    public void store(float[] acc, int rows, int cols, MemorySegment c, long cIndex, long ldc, float cScale) {
        if (rows != MR || cols != NR) {
            MicroKernel.storeEdge(acc, NR, rows, cols, c, cIndex, ldc, cScale);
            return;
        }
        FloatVector scale = FloatVector.broadcast(S, cScale);
        for (int i = 0; i < MR; i++) {
            long at = (cIndex + i * ldc) * Float.BYTES;
            for (int j = 0; j < NR; j += L, at += (long) L * Float.BYTES) {
                FloatVector sum = FloatVector.fromArray(S, acc, i * NR + j);
                if (cScale != 0) {
                    sum = FloatVector.fromMemorySegment(S, c, at, ORDER).fma(scale, sum);
                }
                sum.intoMemorySegment(c, at, ORDER);
            }
        }
    }
}
