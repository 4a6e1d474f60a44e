package io.sparge4j.engine.cpu.vec;

import io.sparge4j.engine.cpu.SimdSupport;

import java.util.ArrayList;
import java.util.List;

/**
 * The kernel implementations a test should cover: always the scalar one, and the SIMD one when the
 * Vector API is on (it is in the build's surefire flags, so both run there). Use with
 * {@code @MethodSource("io.sparge4j.engine.cpu.vec.KernelVariants#both")}.
 */
public final class KernelVariants {
    private KernelVariants() {
    }

    /** @return scalar, then SIMD where available */
    public static List<FloatKernels> both() {
        List<FloatKernels> list = new ArrayList<>();
        list.add(FloatKernels.scalar());
        if (SimdSupport.available()) {
            list.add(FloatKernels.simd());
        }
        return list;
    }
}
