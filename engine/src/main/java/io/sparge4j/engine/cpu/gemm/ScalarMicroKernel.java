package io.sparge4j.engine.cpu.gemm;

import java.lang.foreign.MemorySegment;

/** Plain Java micro-kernel: the fallback when the Vector API is not available. */
final class ScalarMicroKernel implements MicroKernel {
    static final ScalarMicroKernel INSTANCE = new ScalarMicroKernel();
    private static final int MR = 4;
    private static final int NR = 8;

    private ScalarMicroKernel() {
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
        java.util.Arrays.fill(acc, 0, MR * NR, 0f);
        for (int p = 0, ap = aOff, bp = bOff; p < kc; p++, ap += MR, bp += NR) {
            for (int i = 0; i < MR; i++) {
                float ai = a[ap + i];
                for (int j = 0; j < NR; j++) {
                    acc[i * NR + j] = Math.fma(ai, b[bp + j], acc[i * NR + j]);
                }
            }
        }
    }

    @Override
    public void store(float[] acc, int rows, int cols, MemorySegment c, long cIndex, long ldc, float cScale) {
        MicroKernel.storeEdge(acc, NR, rows, cols, c, cIndex, ldc, cScale);
    }
}
