package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.Dialect;

/** Types of C variables and array elements; values on the JVM stack are only INT, LONG, FLOAT or DOUBLE. */
enum JType {
    INT("int", "int", 'i'),
    LONG("long long", "long", 'l'),
    FLOAT("float", "float", 'f'),
    DOUBLE("double", "double", 'd'),
    SHORT("short", "short", 's'),
    BYTE("signed char", "char", 'b'),
    CHAR("unsigned short", "ushort", 'c');

    private final String cuda;
    private final String opencl;
    final char letter;

    JType(String cuda, String opencl, char letter) {
        this.cuda = cuda;
        this.opencl = opencl;
        this.letter = letter;
    }

    String c(Dialect dialect) {
        return dialect == Dialect.CUDA ? cuda : opencl;
    }

    /** @return the type a value of this type has on the JVM stack */
    JType stackType() {
        return switch (this) {
            case SHORT, BYTE, CHAR -> INT;
            default -> this;
        };
    }

    /** @return whether the value takes two JVM stack slots */
    boolean wide() {
        return this == LONG || this == DOUBLE;
    }

    Class<?> javaClass() {
        return switch (this) {
            case INT -> int.class;
            case LONG -> long.class;
            case FLOAT -> float.class;
            case DOUBLE -> double.class;
            case SHORT -> short.class;
            case BYTE -> byte.class;
            case CHAR -> char.class;
        };
    }
}
