package io.sparge4j.engine.cpu.vec;

/** An element-wise binary arithmetic operation on floats. */
public enum BinaryOp {
    /** {@code a + b} */
    ADD,
    /** {@code a - b} */
    SUB,
    /** {@code a * b} */
    MUL;

    /**
     * @param a left operand
     * @param b right operand
     * @return {@code a op b}
     */
    public float apply(float a, float b) {
        return switch (this) {
            case ADD -> a + b;
            case SUB -> a - b;
            case MUL -> a * b;
        };
    }
}
