package io.sparge4j.engine.cpu.vec;

/** The constants of the tanh approximation of GELU, shared by both kernel implementations. */
final class GeluConstants {
    /** sqrt(2 / pi). */
    static final float SQRT_2_OVER_PI = 0.7978845608028654f;
    /** The cubic coefficient 0.044715. */
    static final float CUBIC = 0.044715f;

    private GeluConstants() {
    }
}
