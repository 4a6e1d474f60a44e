package io.sparge4j.engine.kernel;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;

/**
 * The reference semantics of the fragment-level m16n8k16 MMA in PTX's register layout: where each element of A,
 * B and C lives (lane, fragment index), and one lane's share of {@code D = A * B + C}.
 */
final class MmaFragments {
    static final int LANES = 32;

    private MmaFragments() {
    }

    static void checkRanges(String op, short[] a, int aOffset, short[] b, int bOffset, float[] c, int cOffset) {
        checkRange(op, "a", a.length, aOffset, KernelContext.MMA_A_FRAGMENT);
        checkRange(op, "b", b.length, bOffset, KernelContext.MMA_B_FRAGMENT);
        checkRange(op, "c", c.length, cOffset, KernelContext.MMA_C_FRAGMENT);
    }

    private static void checkRange(String op, String name, int length, int offset, int needed) {
        if (offset < 0 || offset + needed > length) {
            throw new IllegalArgumentException(op + ": fragment " + name + " at offset " + offset + " needs "
                    + needed + " elements, its array has " + length);
        }
    }

    /** Lane holding A(row, k): g = row % 8, t = (k % 8) / 2. */
    static int aLane(int row, int k) {
        return 4 * (row % 8) + (k % 8) / 2;
    }

    /** Fragment index of A(row, k) in its lane. */
    static int aIndex(int row, int k) {
        return (k & 1) + 2 * (row / 8) + 4 * (k / 8);
    }

    /** Lane holding B(k, col): g = col, t = (k % 8) / 2. */
    static int bLane(int k, int col) {
        return 4 * col + (k % 8) / 2;
    }

    /** Fragment index of B(k, col) in its lane. */
    static int bIndex(int k) {
        return (k & 1) + 2 * (k / 8);
    }

    /**
     * @param a every lane's A fragment
     * @param b every lane's B fragment
     * @param c this lane's accumulator, from {@code cOffset}
     * @param lane this lane
     * @return this lane's new accumulator: for each element, {@code acc = C; acc += A[r][k] * B[k][col]} for k in order
     */
    static float[] multiplyAccumulate(boolean bf16, short[][] a, short[][] b, float[] c, int cOffset, int lane) {
        int g = lane >> 2;
        int t = lane & 3;
        float[] d = new float[KernelContext.MMA_C_FRAGMENT];
        for (int i = 0; i < d.length; i++) {
            int row = g + 8 * (i >> 1);
            int col = 2 * t + (i & 1);
            float acc = c[cOffset + i];
            for (int k = 0; k < 16; k++) {
                acc += toFloat(bf16, a[aLane(row, k)][aIndex(row, k)]) * toFloat(bf16, b[bLane(k, col)][bIndex(k)]);
            }
            d[i] = acc;
        }
        return d;
    }

    private static float toFloat(boolean bf16, short bits) {
        return bf16 ? KernelMath.bfloat16ToFloat(bits) : KernelMath.halfToFloat(bits);
    }
}
