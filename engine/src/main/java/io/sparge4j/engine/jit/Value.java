package io.sparge4j.engine.jit;

import java.util.Set;

/** What the translator keeps on its symbolic JVM stack and in reference locals. */
sealed interface Value permits Value.Expr, Value.ArrayRef, Value.CtxRef {
    /**
     * A primitive value as a C expression.
     *
     * @param code the C text, parenthesised unless atomic
     * @param type its stack type
     * @param vars C variables it reads (a store to one of them first spills the expression)
     * @param readsMemory whether it reads an array (a memory write first spills it)
     * @param constant its value when known at compile time (Integer, Long, Float or Double), else null
     * @param compare for the result of lcmp/fcmpl/fcmpg/dcmpl/dcmpg: the compared operands, else null
     */
    record Expr(String code, JType type, Set<String> vars, boolean readsMemory, Object constant, Compare compare)
            implements Value {
        Expr withMemory() {
            return new Expr(code, type, vars, true, constant, compare);
        }

        boolean atomic() {
            return constant != null || code.matches("[A-Za-z_][A-Za-z_0-9]*");
        }
    }

    /**
     * Operands of a three-way comparison.
     *
     * @param left left operand
     * @param right right operand
     * @param nanResult what the JVM instruction yields when either is NaN (1 for *cmpg, -1 for *cmpl, 0 for lcmp)
     */
    record Compare(Expr left, Expr right, int nanResult) {
    }

    /** Where an array lives. */
    enum Space { GLOBAL, LOCAL, PRIVATE }

    /**
     * An array: a kernel parameter (GLOBAL), a local-memory allocation or a private array.
     */
    final class ArrayRef implements Value {
        final Space space;
        final JType element;
        /** For GLOBAL: the Java parameter index and the array class' simple name (FloatArray...). */
        final int javaIndex;
        final String arrayClass;
        /** For LOCAL and PRIVATE: the element count. */
        final int size;
        String name;
        boolean sizeUsed;

        ArrayRef(Space space, JType element, String name, int javaIndex, String arrayClass, int size) {
            this.space = space;
            this.element = element;
            this.name = name;
            this.javaIndex = javaIndex;
            this.arrayClass = arrayClass;
            this.size = size;
        }
    }

    /** The KernelContext. */
    enum CtxRef implements Value { INSTANCE }
}
