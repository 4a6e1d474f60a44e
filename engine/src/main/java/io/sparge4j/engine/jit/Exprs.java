package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.jit.Value.ArrayRef;
import io.sparge4j.engine.jit.Value.Compare;
import io.sparge4j.engine.jit.Value.Expr;

import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Builds and checks the C expressions on the symbolic stack: variables, literals, operators, the text of a
 * three-way comparison, and temporaries when a value must be evaluated now. Guards double precision.
 */
final class Exprs {
    private final CSyntax c;
    private final DeviceFeatures features;
    private final CallStack frames;
    private final KernelCode code;
    /** Whether the kernel uses doubles (OpenCL then needs the cl_khr_fp64 pragma). */
    private boolean usesDouble;

    Exprs(CSyntax c, DeviceFeatures features, CallStack frames, KernelCode code) {
        this.c = c;
        this.features = features;
        this.frames = frames;
        this.code = code;
    }

    static Expr var(String name, JType type) {
        return new Expr(name, type, Set.of(name), false, null, null);
    }

    /** @return an expression of {@code parts}: it reads their variables and, if any does, memory */
    static Expr op(String code, JType type, Expr... parts) {
        Set<String> vars = new TreeSet<>();
        boolean memory = false;
        for (Expr p : parts) {
            vars.addAll(p.vars());
            memory |= p.readsMemory();
        }
        return new Expr(code, type, vars, memory, null, null);
    }

    static Set<String> union(Expr a, Expr b) {
        Set<String> s = new TreeSet<>(a.vars());
        s.addAll(b.vars());
        return s;
    }

    static Value pop(List<Value> stack) {
        return stack.remove(stack.size() - 1);
    }

    Expr constant(Object value) {
        return switch (value) {
            case Integer i -> new Expr(c.intLiteral(i), JType.INT, Set.of(), false, i, null);
            case Long l -> new Expr(c.longLiteral(l), JType.LONG, Set.of(), false, l, null);
            case Float f -> new Expr(c.floatLiteral(f), JType.FLOAT, Set.of(), false, f, null);
            case Double d -> {
                requireFp64("a double constant");
                yield new Expr(c.doubleLiteral(d), JType.DOUBLE, Set.of(), false, d, null);
            }
            default -> throw frames.error("the constant " + value + " (" + value.getClass().getSimpleName()
                    + ") is not supported in kernels; use int, long, float or double constants");
        };
    }

    /** @return {@code e} if it is a variable or constant, else a temporary assigned it now */
    Expr materialize(Expr e) {
        if (e.atomic() && e.compare() == null) {
            return e;
        }
        String t = code.newTemp(e.type());
        code.emit(t + " = " + text(e) + ";");
        return var(t, e.type());
    }

    /** The C text of a value, a comparison result spelt out as -1, 0 or 1. */
    String text(Expr e) {
        Compare cmp = e.compare();
        if (cmp == null) {
            return e.code();
        }
        String l = cmp.left().code();
        String r = cmp.right().code();
        String ordered = "((" + l + " > " + r + ") - (" + l + " < " + r + "))";
        if (cmp.nanResult() == 0) {
            return ordered;
        }
        return "((" + l + " != " + l + " || " + r + " != " + r + ") ? " + cmp.nanResult() + " : " + ordered + ")";
    }

    /** @return the C text storing {@code value} into an element of type {@code to} (narrowing casts spelt out) */
    String cast(Expr value, JType to) {
        return switch (to) {
            case SHORT, BYTE, CHAR -> "(" + c.type(to) + ")" + value.code();
            default -> text(value);
        };
    }

    /** Notes a use of doubles; an error when the device has no fp64. */
    void requireFp64(String what) {
        usesDouble = true;
        if (!features.fp64()) {
            throw frames.error("uses " + what + " but the device has no double precision (fp64): use float");
        }
    }

    boolean usesDouble() {
        return usesDouble;
    }

    Expr expr(Value v, String what) {
        if (v instanceof Expr e) {
            return e;
        }
        throw frames.error("expected a primitive value for " + what + " but found an object reference");
    }

    ArrayRef array(Value v, String what) {
        if (v instanceof ArrayRef a) {
            return a;
        }
        throw frames.error("expected an array for " + what + "; kernels can use only kernel arrays, local arrays "
                + "and private primitive arrays");
    }
}
