package io.sparge4j.engine.jit;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.KernelMath;
import io.sparge4j.kernels.annotations.LaunchBounds;
import io.sparge4j.kernels.annotations.Parallel;
import io.sparge4j.kernels.types.arrays.BFloat16Array;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;

/** Kernels the JIT must refuse, and small kernels for cache-key tests. Markers name the offending lines. */
final class JitTestKernels {
    private JitTestKernels() {
    }

    static void allocatesObject(KernelContext ctx, FloatArray y) {
        int i = ctx.globalIdx;
        StringBuilder text = new StringBuilder(); // MARK:new
        y.set(i, text.length());
    }

    static void throwsException(KernelContext ctx, FloatArray y, int n) {
        int i = ctx.globalIdx;
        if (i >= n) {
            throw new IllegalStateException(); // MARK:throw
        }
        y.set(i, 1f);
    }

    static void callsMathExp(KernelContext ctx, FloatArray y) {
        int i = ctx.globalIdx;
        y.set(i, (float) Math.exp(y.get(i))); // MARK:exp
    }

    static void usesDouble(KernelContext ctx, FloatArray y) {
        int i = ctx.globalIdx;
        double d = y.get(i);
        y.set(i, (float) (d * 2.5)); // MARK:double
    }

    static void recurses(KernelContext ctx, FloatArray y) {
        y.set(ctx.globalIdx, factorial(5));
    }

    private static float factorial(int n) {
        return n <= 1 ? 1f : n * factorial(n - 1); // MARK:recursion
    }

    static void variableArray(KernelContext ctx, FloatArray y, int n) {
        float[] scratch = new float[n]; // MARK:size
        scratch[0] = 1f;
        y.set(ctx.globalIdx, scratch[0]);
    }

    static void scaleWithHelper(KernelContext ctx, FloatArray y) {
        int i = ctx.globalIdx;
        y.set(i, helper(y.get(i)));
    }

    private static float helper(float v) {
        return v * 2f;
    }

    @LaunchBounds(minWorkItemsPerComputeUnit = 1536)
    static void boundedScale(KernelContext ctx, FloatArray y) {
        int i = ctx.globalIdx;
        y.set(i, y.get(i) * 3f);
    }

    @LaunchBounds(minWorkItemsPerComputeUnit = 0)   // BAD-BOUNDS
    static void noGroupsBound(KernelContext ctx, FloatArray y) {
        y.set(ctx.globalIdx, 1f);
    }

    static void sizeAndLongs(KernelContext ctx, FloatArray x, FloatArray y, long offset) {
        int i = ctx.globalIdx;
        if (i < x.getSize()) {
            long wide = offset + i;
            y.set(i, x.get(i) + (float) (wide >>> 1) + (i >>> 3) + (i << 35) + (short) i + (byte) (i * 7));
        }
    }

    /** {@code y = exp2(x)} and {@code z = exp(x)}: KernelMath's exponentials as the JIT maps them. */
    static void exponentials(KernelContext ctx, FloatArray x, FloatArray y, FloatArray z, int n) {
        int i = ctx.globalIdx;
        if (i < n) {
            y.set(i, KernelMath.exp2(x.get(i)));
            z.set(i, KernelMath.exp(x.get(i)));
        }
    }

    /** {@code y = exp2Ftz(x)}: 2^x with results below 2^-126 flushed to zero. */
    static void exponentialsFlushed(KernelContext ctx, FloatArray x, FloatArray y, int n) {
        int i = ctx.globalIdx;
        if (i < n) {
            y.set(i, KernelMath.exp2Ftz(x.get(i)));
        }
    }

    /** Java semantics the C must keep: 16 int results per element (see KernelJitSemanticsTest). */
    static void semantics(KernelContext ctx, FloatArray x, IntArray out, int n) {
        int i = ctx.globalIdx;
        if (i < n) {
            float f = x.get(i);
            float g = x.get(n - 1 - i);
            int a = Float.floatToRawIntBits(f);
            int b = Float.floatToRawIntBits(g) | 1;
            int o = i * 16;
            out.set(o, a / b);
            out.set(o + 1, a % b);
            out.set(o + 2, a >> i);
            out.set(o + 3, a >>> i);
            out.set(o + 4, a << i);
            out.set(o + 5, (int) f);
            out.set(o + 6, (int) (((long) a * b) >>> 7));
            out.set(o + 7, (byte) a + (short) b * 3 + (char) a);
            out.set(o + 8, f < g ? 1 : 0);
            out.set(o + 9, f >= g ? 1 : 0);
            out.set(o + 10, f == g ? 1 : f != g ? 2 : 3);
            out.set(o + 11, !(f > g) && i % 3 != 0 || f <= g && i > 5 ? 1 : 0);
            out.set(o + 12, KernelMath.max(a, b) - KernelMath.min(a, b) / 2);
            out.set(o + 13, (int) ((long) (f * 1e10f) >> 20));
            long acc = 1;
            for (int k = 0; k < (i & 7); k++) {
                acc = acc * 31 + a;
            }
            out.set(o + 14, (int) (acc ^ (acc >>> 32)));
            int[] small = new int[4];
            small[i & 3] += a;
            small[(i + 1) & 3] -= b;
            out.set(o + 15, small[0] * 7 + small[1] * 5 + small[2] * 3 + small[3]);
        }
    }

    /** Half and bf16 element access with conversions: out = h + b, then h *= 2 and b *= 3. */
    static void halfAndBf16(KernelContext ctx, HalfFloatArray h, BFloat16Array b, FloatArray out, int n) {
        int i = ctx.globalIdx;
        if (i < n) {
            float sum = h.get(i) + b.get(i);
            out.set(i, sum);
            h.set(i, h.get(i) * 2.5f);
            b.set(i, b.get(i) * 3.5f);
        }
    }

    /** A @Parallel loop that steps by 2: refused. */
    static void parallelStepTwo(FloatArray y, int n) {
        for (@Parallel int i = 0; i < n; i += 2) { // MARK:step
            y.set(i, 1f);
        }
    }

    /** Three nested @Parallel loops and a sequential fourth: y[(a * n + b) * n + c] = a * 10000 + b * 100 + c + m. */
    static void fill3(FloatArray y, int n, int m) {
        for (@Parallel int a = 0; a < n; a++) {
            for (@Parallel int b = 0; b < n; b++) {
                for (@Parallel int c = 0; c < n; c++) {
                    float extra = 0f;
                    for (int d = 0; d < m; d++) {
                        extra += 1f;
                    }
                    y.set((a * n + b) * n + c, a * 10000 + b * 100 + c + extra);
                }
            }
        }
    }

    /** Control flow javac produces: multi-return helpers, while/break/continue, switches, do-while, ternary indices. */
    static void controlFlow(KernelContext ctx, FloatArray x, IntArray out, int n) {
        int i = ctx.globalIdx;
        if (i >= n) {
            return;
        }
        float v = x.get(i);
        int o = i * 8;
        out.set(o, classify(v));
        int steps = 0;
        int k = i;
        while (true) {
            if (k == 1 || steps > 200) {
                break;
            }
            steps++;
            if ((k & 1) == 0) {
                k /= 2;
                continue;
            }
            k = 3 * k + 1;
        }
        out.set(o + 1, steps);
        int s;
        switch (i % 5) {
            case 0 -> s = 10;
            case 1 -> s = 20;
            case 3 -> s = 40;
            default -> s = -1;
        }
        out.set(o + 2, s);
        int t = switch (i * 1000) {
            case 0 -> 1;
            case 7000 -> 2;
            case 99000 -> 3;
            default -> 4;
        };
        out.set(o + 3, t);
        int[] bins = new int[4];
        for (int j = 0; j < 10; j++) {
            bins[v > 0 ? j & 3 : 3 - (j & 3)] += j * (i + 1);
        }
        out.set(o + 4, bins[0] - bins[1] * 3 + bins[2] * 5 - bins[3] * 7);
        long acc = 0;
        int d = 0;
        do {
            acc += (long) d * i;
            d++;
        } while (d < (i & 15));
        out.set(o + 5, (int) acc);
        boolean flag = v > 0.5f || v < -0.5f && i % 2 == 0;
        out.set(o + 6, flag ? 1 : 0);
        out.set(o + 7, helperLoop(i, v));
    }

    private static int classify(float v) {
        if (v != v) {
            return -2;
        }
        if (v < -1f) {
            return -1;
        }
        if (v > 1f) {
            return 1;
        }
        return 0;
    }

    private static int helperLoop(int i, float v) {
        int count = 0;
        for (int j = 0; j < i % 7; j++) {
            if (j * v > 0.25f) {
                count += j;
            } else if (j == 3) {
                return -count;
            }
        }
        return count;
    }

    /** Neither a KernelContext nor @Parallel: refused. */
    static void noParallelism(FloatArray y, int n) {
        for (int i = 0; i < n; i++) {
            y.set(i, 1f);
        }
    }

    static float mutable = 1f;

    /** Reads a mutable static field: refused. */
    static void readsMutableStatic(KernelContext ctx, FloatArray y) {
        y.set(ctx.globalIdx, mutable); // MARK:static
    }

    /** Uses synchronized: refused. */
    static void locks(KernelContext ctx, FloatArray y) {
        synchronized (JitTestKernels.class) { // MARK:sync
            y.set(ctx.globalIdx, 1f);
        }
    }
}
