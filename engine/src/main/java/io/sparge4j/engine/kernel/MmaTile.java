package io.sparge4j.engine.kernel;

import io.sparge4j.kernels.KernelMath;

/** The reference semantics of the m16n8k16 multiply-accumulate (plain loops, float accumulation). */
final class MmaTile {
    static final int M = 16;
    static final int N = 8;
    static final int K = 16;

    private MmaTile() {
    }

    /** {@code C += A * B} with A 16x16 and B 16x8 holding f16 (or bf16) bits, C 16x8 floats. */
    static void multiplyAccumulate(String op, boolean bf16, short[] a, int aOffset, int lda, short[] b, int bOffset,
            int ldb, float[] c, int cOffset, int ldc) {
        checkTile(op, "A", a.length, aOffset, lda, M, K);
        checkTile(op, "B", b.length, bOffset, ldb, K, N);
        checkTile(op, "C", c.length, cOffset, ldc, M, N);
        float[] bf = new float[K * N];
        for (int k = 0; k < K; k++) {
            for (int j = 0; j < N; j++) {
                bf[k * N + j] = toFloat(bf16, b[bOffset + k * ldb + j]);
            }
        }
        for (int i = 0; i < M; i++) {
            float[] arow = new float[K];
            for (int k = 0; k < K; k++) {
                arow[k] = toFloat(bf16, a[aOffset + i * lda + k]);
            }
            for (int j = 0; j < N; j++) {
                float acc = c[cOffset + i * ldc + j];
                for (int k = 0; k < K; k++) {
                    acc += arow[k] * bf[k * N + j];
                }
                c[cOffset + i * ldc + j] = acc;
            }
        }
    }

    private static float toFloat(boolean bf16, short bits) {
        return bf16 ? KernelMath.bfloat16ToFloat(bits) : KernelMath.halfToFloat(bits);
    }

    private static void checkTile(String op, String name, int length, int offset, int stride, int rows, int cols) {
        if (offset < 0 || stride < cols) {
            throw new IllegalArgumentException(op + ": " + name + " offset " + offset + " and row stride " + stride
                    + ", expected offset >= 0 and stride >= " + cols);
        }
        long last = offset + (long) (rows - 1) * stride + cols;
        if (last > length) {
            throw new IllegalArgumentException(op + ": " + name + " tile (" + rows + "x" + cols + ", offset "
                    + offset + ", stride " + stride + ") needs " + last + " elements, array has " + length);
        }
    }
}
