package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.Dialect;

import java.lang.classfile.TypeKind;

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

    /** @return bytes per element in device memory */
    int bytes() {
        return switch (this) {
            case LONG, DOUBLE -> 8;
            case INT, FLOAT -> 4;
            case SHORT, CHAR -> 2;
            case BYTE -> 1;
        };
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

    /** @return the stack type of a primitive field or method descriptor ({@code "I"}, {@code "J"}...), else null */
    static JType ofDescriptor(String descriptor) {
        return switch (descriptor) {
            case "I", "Z", "S", "B", "C" -> INT;
            case "J" -> LONG;
            case "F" -> FLOAT;
            case "D" -> DOUBLE;
            default -> null;
        };
    }

    /** @return the type of an instruction's operand kind (booleans as INT), or null for references and void */
    static JType of(TypeKind kind) {
        return switch (kind) {
            case INT, BOOLEAN -> INT;
            case LONG -> LONG;
            case FLOAT -> FLOAT;
            case DOUBLE -> DOUBLE;
            case SHORT -> SHORT;
            case BYTE -> BYTE;
            case CHAR -> CHAR;
            default -> null;
        };
    }
}
