package io.sparge4j.engine.jit;

import io.sparge4j.engine.jit.Value.ArrayRef;
import io.sparge4j.engine.jit.Value.Expr;
import io.sparge4j.engine.jit.lib.LibraryFunction;
import io.sparge4j.kernels.KernelMath;

import java.util.List;

/**
 * Calls on kernel array parameters: get/set (half through the device library, bf16 through KernelMath's
 * conversions, inlined), the raw half bits, and getSize (a size parameter the launcher passes).
 */
final class ArrayCalls {
    private final Translator t;

    ArrayCalls(Translator t) {
        this.t = t;
    }

    Expr call(ArrayRef a, String name, List<Value> args) {
        boolean half = a.arrayClass.equals("HalfFloatArray");
        boolean bf16 = a.arrayClass.equals("BFloat16Array");
        switch (name) {
            case "getSize" -> {
                a.sizeUsed = true;
                return Exprs.var(a.name + "_size", JType.INT);
            }
            case "get" -> {
                Expr index = t.exprs.expr(args.get(0), "get index");
                Expr element = Exprs.op(a.name + "[" + index.code() + "]", a.element.stackType(), index).withMemory();
                if (half) {
                    return t.calls.library(LibraryFunction.HALF_TO_FLOAT, JType.FLOAT, List.of(element));
                }
                if (bf16) {
                    return t.inliner.inline(KernelMath.class, "bfloat16ToFloat", "(S)F", List.of(element), null);
                }
                return element;
            }
            case "getHalfBits" -> {
                Expr index = t.exprs.expr(args.get(0), "getHalfBits index");
                return Exprs.op(a.name + "[" + index.code() + "]", JType.INT, index).withMemory();
            }
            case "set", "setHalfBits" -> {
                Expr index = t.exprs.expr(args.get(0), name + " index");
                Expr value = t.exprs.expr(args.get(1), name + " value");
                String stored;
                if (name.equals("set") && half) {
                    t.used.add(LibraryFunction.FLOAT_TO_HALF);
                    stored = LibraryFunction.FLOAT_TO_HALF.cName() + "(" + t.exprs.text(value) + ")";
                } else if (name.equals("set") && bf16) {
                    stored = "(short)" + t.inliner.inline(KernelMath.class, "floatToBFloat16", "(F)S",
                            List.of(value), null).code();
                } else {
                    stored = t.exprs.cast(value, a.element);
                }
                t.code.emit(a.name + "[" + index.code() + "] = " + stored + ";");
                return null;
            }
            default -> throw t.frames.error("calls " + a.arrayClass + "." + name + ": kernels may call only get, set, "
                    + "getHalfBits, setHalfBits and getSize on kernel arrays");
        }
    }
}
