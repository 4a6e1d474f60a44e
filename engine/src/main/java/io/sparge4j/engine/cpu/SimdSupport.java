package io.sparge4j.engine.cpu;

/**
 * Whether the Vector API ({@code jdk.incubator.vector}) is available to the CPU backend.
 *
 * <p>The module must be added on the command line ({@code --add-modules jdk.incubator.vector}); a jar
 * manifest cannot add it. Without it, kernels take their scalar paths and one notice is printed. Classes
 * that import {@code jdk.incubator.vector} must only be loaded after {@link #available()} returns true.
 */
public final class SimdSupport {
    private static final boolean AVAILABLE = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()
            && !Boolean.getBoolean("sparge.scalar");
    private static volatile boolean noticed;

    private SimdSupport() {
    }

    /** @return true if vectorised kernels may run */
    public static boolean available() {
        if (!AVAILABLE && !noticed) {
            noticed = true;
            System.err.println("sparge: the Vector API is not enabled, so the CPU backend runs scalar code;"
                    + " add --add-modules jdk.incubator.vector to the JVM flags for full speed");
        }
        return AVAILABLE;
    }

    /** @return floats per preferred vector on this CPU (16 with AVX-512), or 1 without the Vector API */
    public static int floatLanes() {
        return available() ? VectorWidth.floatLanes() : 1;
    }

    /** Isolated so that {@code jdk.incubator.vector} is only touched when present. */
    private static final class VectorWidth {
        static int floatLanes() {
            return jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();
        }
    }
}
