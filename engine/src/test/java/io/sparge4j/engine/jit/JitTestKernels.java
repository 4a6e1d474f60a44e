package io.sparge4j.engine.jit;

import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.types.arrays.FloatArray;

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

    static void sizeAndLongs(KernelContext ctx, FloatArray x, FloatArray y, long offset) {
        int i = ctx.globalIdx;
        if (i < x.getSize()) {
            long wide = offset + i;
            y.set(i, x.get(i) + (float) (wide >>> 1) + (i >>> 3) + (i << 35) + (short) i + (byte) (i * 7));
        }
    }
}
