package io.sparge4j.engine.cpu.vec;

import io.sparge4j.engine.cpu.SimdSupport;

/** Picks the kernels once; the SIMD class is only loaded when the Vector API is present. */
final class Selection {
    static final FloatKernels PREFERRED = SimdSupport.available() ? simdInstance() : ScalarFloatKernels.INSTANCE;

    private Selection() {
    }

    static FloatKernels simdInstance() {
        return SimdFloatKernels.INSTANCE;
    }
}
