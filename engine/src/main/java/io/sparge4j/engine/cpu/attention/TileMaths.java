package io.sparge4j.engine.cpu.attention;

import io.sparge4j.engine.cpu.SimdSupport;

/** Picks the {@link TileMath} for this JVM. */
public final class TileMaths {
    private TileMaths() {
    }

    /** @return the Vector API implementation when available, else the scalar one */
    public static TileMath best() {
        return SimdSupport.available() ? Simd.create() : ScalarTileMath.INSTANCE;
    }

    /** @return the Vector API implementation; call only when {@code SimdSupport.available()} is true */
    public static TileMath simd() {
        if (!SimdSupport.available()) {
            throw new IllegalStateException("the Vector API is not available (add --add-modules jdk.incubator.vector)");
        }
        return Simd.create();
    }

    /** Keeps {@code jdk.incubator.vector} from loading until the first call. */
    private static final class Simd {
        static TileMath create() {
            return SimdTileMath.INSTANCE;
        }
    }
}
