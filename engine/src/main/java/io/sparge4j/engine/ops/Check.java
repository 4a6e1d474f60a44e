package io.sparge4j.engine.ops;

import io.sparge4j.engine.tensor.DType;
import io.sparge4j.engine.tensor.Tensor;

import java.util.Arrays;

/**
 * Argument validation shared by every op. Each failure is an {@link IllegalArgumentException} whose
 * message names the op, the argument, what it got and what was expected.
 */
public final class Check {
    private Check() {
    }

    /** Fails unless {@code t} is non-null. */
    public static Tensor notNull(String op, String arg, Tensor t) {
        if (t == null) {
            throw new IllegalArgumentException(op + ": " + arg + " is null, expected a tensor");
        }
        return t;
    }

    /** Fails unless {@code t} has dtype {@code expected}. */
    public static Tensor dtype(String op, String arg, Tensor t, DType expected) {
        notNull(op, arg, t);
        if (t.dtype() != expected) {
            throw new IllegalArgumentException(op + ": " + arg + " has dtype " + t.dtype() + ", expected " + expected);
        }
        return t;
    }

    /** Fails unless {@code t} is f32. */
    public static Tensor f32(String op, String arg, Tensor t) {
        return dtype(op, arg, t, DType.F32);
    }

    /** Fails unless {@code t} has a floating-point dtype (f32, bf16 or f16). */
    public static Tensor floating(String op, String arg, Tensor t) {
        notNull(op, arg, t);
        if (!t.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException(op + ": " + arg + " has dtype " + t.dtype() + ", expected f32, bf16 or f16");
        }
        return t;
    }

    /** Fails unless {@code t} has {@code rank} dimensions. */
    public static Tensor rank(String op, String arg, Tensor t, int rank) {
        notNull(op, arg, t);
        if (t.rank() != rank) {
            throw new IllegalArgumentException(op + ": " + arg + " has shape " + Arrays.toString(t.shape()) + " (rank "
                    + t.rank() + "), expected rank " + rank);
        }
        return t;
    }

    /** Fails unless {@code t} has at least {@code rank} dimensions. */
    public static Tensor minRank(String op, String arg, Tensor t, int rank) {
        notNull(op, arg, t);
        if (t.rank() < rank) {
            throw new IllegalArgumentException(op + ": " + arg + " has shape " + Arrays.toString(t.shape()) + " (rank "
                    + t.rank() + "), expected rank >= " + rank);
        }
        return t;
    }

    /**
     * Fails unless {@code t} has exactly the shape {@code expected}; -1 in {@code expected} matches any size.
     */
    public static Tensor shape(String op, String arg, Tensor t, int... expected) {
        notNull(op, arg, t);
        int[] s = t.shape();
        boolean ok = s.length == expected.length;
        for (int i = 0; ok && i < s.length; i++) {
            ok = expected[i] == -1 || expected[i] == s[i];
        }
        if (!ok) {
            throw new IllegalArgumentException(op + ": " + arg + " has shape " + Arrays.toString(s) + ", expected "
                    + Arrays.toString(expected).replace("-1", "*"));
        }
        return t;
    }

    /** Fails unless {@code a} and {@code b} have the same shape. */
    public static void sameShape(String op, String argA, Tensor a, String argB, Tensor b) {
        notNull(op, argA, a);
        notNull(op, argB, b);
        if (!a.sameShape(b)) {
            throw new IllegalArgumentException(op + ": " + argB + " has shape " + Arrays.toString(b.shape()) + ", expected "
                    + Arrays.toString(a.shape()) + " (the shape of " + argA + ")");
        }
    }

    /** Fails unless {@code value} is positive. */
    public static int positive(String op, String arg, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(op + ": " + arg + " is " + value + ", expected a positive integer");
        }
        return value;
    }

    /** Fails unless {@code value} is finite and positive. */
    public static float positive(String op, String arg, float value) {
        if (!(value > 0) || Float.isInfinite(value)) {
            throw new IllegalArgumentException(op + ": " + arg + " is " + value + ", expected a finite positive number");
        }
        return value;
    }

    /** Fails with the standard message when {@code ok} is false. */
    public static void that(boolean ok, String op, String arg, Object got, String expected) {
        if (!ok) {
            throw new IllegalArgumentException(op + ": " + arg + " is " + got + ", expected " + expected);
        }
    }
}
