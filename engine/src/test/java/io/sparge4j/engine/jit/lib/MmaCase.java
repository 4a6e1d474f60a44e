package io.sparge4j.engine.jit.lib;

import io.sparge4j.kernels.KernelMath;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * One random m16n8k16 problem (A 16x16, B 16x8 of f16 or bf16 bits, C 16x8 floats, dense row-major) with its
 * references: the emulator's (float accumulation from C in k order, exact products) and float64.
 */
final class MmaCase {
    /** Allowed distance from float64: 1e-5 of the magnitude |C| + sum |A B| (16 float roundings at ~6e-8 each). */
    static final double RELATIVE_TOLERANCE = 1e-5;

    final boolean bf16;
    final short[] a = new short[256];
    final short[] b = new short[128];
    final float[] c = new float[128];

    private MmaCase(boolean bf16) {
        this.bf16 = bf16;
    }

    /** Inputs over [-2, 2) with full mantissas, never all zero; C over [-1, 1). */
    static MmaCase random(Random random, boolean bf16) {
        MmaCase m = new MmaCase(bf16);
        for (int i = 0; i < m.a.length; i++) {
            m.a[i] = m.toBits((float) (random.nextDouble() * 4 - 2));
        }
        for (int i = 0; i < m.b.length; i++) {
            m.b[i] = m.toBits((float) (random.nextDouble() * 4 - 2));
        }
        for (int i = 0; i < m.c.length; i++) {
            m.c[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return m;
    }

    private short toBits(float x) {
        return bf16 ? KernelMath.floatToBFloat16(x) : KernelMath.floatToHalf(x);
    }

    float value(short bits) {
        return bf16 ? KernelMath.bfloat16ToFloat(bits) : KernelMath.halfToFloat(bits);
    }

    /** Writes lanes base..base+31's fragments in PTX's layout (as KernelContext.mmaLoadA/B and mmaStoreC). */
    void scatterFragments(short[] fa, short[] fb, float[] fc, int base) {
        for (int lane = 0; lane < 32; lane++) {
            int g = lane >> 2;
            int t = lane & 3;
            for (int i = 0; i < 8; i++) {
                fa[(base + lane) * 8 + i] = a[(g + 8 * ((i >> 1) & 1)) * 16 + 2 * t + (i & 1) + 8 * (i >> 2)];
            }
            for (int i = 0; i < 4; i++) {
                fb[(base + lane) * 4 + i] = b[(2 * t + (i & 1) + 8 * (i >> 1)) * 8 + g];
                fc[(base + lane) * 4 + i] = c[(g + 8 * (i >> 1)) * 8 + 2 * t + (i & 1)];
            }
        }
    }

    /** @return the dense 16x8 C held in lanes base..base+31's accumulator fragments */
    float[] gatherFragments(float[] fc, int base) {
        float[] dense = new float[128];
        for (int lane = 0; lane < 32; lane++) {
            int g = lane >> 2;
            int t = lane & 3;
            for (int i = 0; i < 4; i++) {
                dense[(g + 8 * (i >> 1)) * 8 + 2 * t + (i & 1)] = fc[(base + lane) * 4 + i];
            }
        }
        return dense;
    }

    /**
     * @param got the dense 16x8 result
     * @param what names the function under test
     * @param exact whether it must equal the emulator's k-order float sum bit for bit (FMA paths); else only the
     *     float64 tolerance applies (tensor cores sum in their own order)
     */
    void check(float[] got, String what, boolean exact) {
        for (int r = 0; r < 16; r++) {
            for (int col = 0; col < 8; col++) {
                float acc = c[r * 8 + col];
                double exact64 = acc;
                double magnitude = Math.abs(acc);
                for (int k = 0; k < 16; k++) {
                    float x = value(a[r * 16 + k]);
                    float y = value(b[k * 8 + col]);
                    acc += x * y;
                    exact64 += (double) x * y;
                    magnitude += Math.abs((double) x * y);
                }
                float value = got[r * 8 + col];
                String at = what + " C(" + r + ", " + col + "): ";
                if (Math.abs(value - exact64) > RELATIVE_TOLERANCE * magnitude) {
                    fail(at + value + ", float64 " + exact64 + ", tolerance " + RELATIVE_TOLERANCE * magnitude);
                }
                if (exact && Float.floatToRawIntBits(value) != Float.floatToRawIntBits(acc)) {
                    fail(at + value + ", the emulator's k-order float sum " + acc);
                }
            }
        }
    }

    void check(float[] got, String what) {
        check(got, what, true);
    }
}
