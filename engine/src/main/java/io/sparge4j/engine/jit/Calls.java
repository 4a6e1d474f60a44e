package io.sparge4j.engine.jit;

import io.sparge4j.engine.jit.Value.ArrayRef;
import io.sparge4j.engine.jit.Value.CtxRef;
import io.sparge4j.engine.jit.Value.Expr;
import io.sparge4j.engine.jit.Value.Space;
import io.sparge4j.engine.jit.lib.LibraryFunction;

import java.lang.classfile.Opcode;
import java.lang.classfile.instruction.InvokeInstruction;
import java.lang.constant.MethodTypeDesc;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Method calls: dispatches KernelContext and kernel-array calls, maps KernelMath and the supported
 * {@code java.lang} methods to C functions or the device library, refuses other JDK calls with a hint, and
 * inlines every other static method.
 */
final class Calls {
    /** What a call returns when it produced an array (a local array); the array is {@link #pendingRef}. */
    static final Expr REF_MARKER = new Expr("<ref>", JType.INT, Set.of(), false, null, null);

    private final Translator t;
    private ArrayRef pendingRef;

    Calls(Translator t) {
        this.t = t;
    }

    /** Local arrays are returned through this hook because {@link #invoke} pushes Exprs only. */
    Expr pushRef(ArrayRef ref) {
        pendingRef = ref;
        return REF_MARKER;
    }

    void invoke(InvokeInstruction inv, List<Value> stack) {
        String owner = inv.owner().asInternalName().replace('/', '.');
        String name = inv.name().stringValue();
        MethodTypeDesc type = inv.typeSymbol();
        List<Value> args = new ArrayList<>();
        for (int i = 0; i < type.parameterCount(); i++) {
            args.add(0, Exprs.pop(stack));
        }
        Value receiver = inv.opcode() == Opcode.INVOKESTATIC ? null : Exprs.pop(stack);
        t.spills.spillMemory(stack);
        Expr result;
        if (inv.opcode() == Opcode.INVOKEINTERFACE) {
            throw t.frames.error("calls the interface method " + owner + "." + name + ": not supported in kernels");
        }
        if (receiver == CtxRef.INSTANCE) {
            result = t.contextCalls.call(name, type, args);
        } else if (receiver instanceof ArrayRef a && a.space == Space.GLOBAL) {
            result = t.arrayCalls.call(a, name, args);
        } else if (receiver != null) {
            throw t.frames.error("calls the instance method " + owner + "." + name + ": kernels may call only static "
                    + "methods, KernelContext methods and kernel array get/set/getSize");
        } else {
            result = staticCall(owner, name, type, inv, args);
        }
        if (result == REF_MARKER) {
            stack.add(pendingRef);
        } else if (result != null) {
            stack.add(result);
        } else if (!type.returnType().descriptorString().equals("V")) {
            throw t.frames.error("internal: no value for " + owner + "." + name);
        }
    }

    private String signature(String owner, String name, MethodTypeDesc type) {
        StringBuilder s = new StringBuilder(owner + "." + name + "(");
        for (int i = 0; i < type.parameterCount(); i++) {
            s.append(i == 0 ? "" : ", ").append(type.parameterType(i).displayName());
        }
        return s.append(")").toString();
    }

    private Expr staticCall(String owner, String name, MethodTypeDesc type, InvokeInstruction inv, List<Value> args) {
        String desc = type.descriptorString();
        if (owner.equals(Translator.KERNEL_MATH)) {
            switch (name + desc) {
                case "exp(F)F", "exp2(F)F", "log(F)F", "sqrt(F)F", "rsqrt(F)F", "tanh(F)F", "sin(F)F", "cos(F)F", "abs(F)F",
                     "pow(FF)F", "max(FF)F", "min(FF)F", "fma(FFF)F" -> {
                    return call(t.c.floatFunction(name), JType.FLOAT, args);
                }
                case "max(II)I", "min(II)I" -> {
                    return call(t.c.intMax(name.equals("max")), JType.INT, args);
                }
                case "halfToFloat(S)F" -> {
                    return library(LibraryFunction.HALF_TO_FLOAT, JType.FLOAT, args);
                }
                case "floatToHalf(F)S" -> {
                    return library(LibraryFunction.FLOAT_TO_HALF, JType.INT, args);
                }
                case "exp2Ftz(F)F" -> {
                    return library(LibraryFunction.EXP2_FTZ, JType.FLOAT, args);
                }
                default -> {
                    return t.inliner.inline(t.classes.loadClass(inv.owner().asSymbol()), name, desc, args, null);
                }
            }
        }
        if (owner.equals("java.lang.Float")) {
            switch (name + desc) {
                case "floatToRawIntBits(F)I", "floatToIntBits(F)I" -> {
                    Expr a = t.exprs.expr(args.get(0), "floatToRawIntBits");
                    return Exprs.op(t.c.bitsFromFloat(a.code()), JType.INT, a);
                }
                case "intBitsToFloat(I)F" -> {
                    Expr a = t.exprs.expr(args.get(0), "intBitsToFloat");
                    return Exprs.op(t.c.floatFromBits(a.code()), JType.FLOAT, a);
                }
                case "float16ToFloat(S)F" -> {
                    return library(LibraryFunction.HALF_TO_FLOAT, JType.FLOAT, args);
                }
                case "floatToFloat16(F)S" -> {
                    return library(LibraryFunction.FLOAT_TO_HALF, JType.INT, args);
                }
                default -> {
                }
            }
        }
        if (owner.equals("java.lang.Math") || owner.equals("java.lang.StrictMath")) {
            switch (name + desc) {
                case "fma(FFF)F", "max(FF)F", "min(FF)F", "abs(F)F" -> {
                    return call(t.c.floatFunction(name), JType.FLOAT, args);
                }
                case "max(II)I", "min(II)I" -> {
                    return call(t.c.intMax(name.equals("max")), JType.INT, args);
                }
                case "abs(I)I" -> {
                    Expr a = t.exprs.expr(args.get(0), "abs");
                    // OpenCL's abs is unsigned
                    return Exprs.op("((int)" + t.c.intAbs() + "(" + a.code() + "))", JType.INT, a);
                }
                default -> {
                }
            }
        }
        if (owner.startsWith("java.") || owner.startsWith("javax.") || owner.startsWith("jdk.")
                || owner.startsWith("sun.") || owner.startsWith("com.sun.")) {
            String hint = KERNEL_MATH_FLOAT.contains(name)
                    ? "use KernelMath." + name + "(float)" : "use KernelMath or plain arithmetic";
            throw t.frames.error("calls " + signature(owner, name, type) + ": not supported in kernels; " + hint);
        }
        return t.inliner.inline(t.classes.loadClass(inv.owner().asSymbol()), name, desc, args, null);
    }

    private static final Set<String> KERNEL_MATH_FLOAT = Set.of("exp", "exp2", "log", "sqrt", "tanh", "sin", "cos",
            "pow", "max", "min", "abs", "fma");

    private Expr call(String function, JType type, List<Value> args) {
        List<Expr> exprs = new ArrayList<>();
        StringBuilder s = new StringBuilder(function).append('(');
        for (int i = 0; i < args.size(); i++) {
            Expr e = t.exprs.expr(args.get(i), function);
            exprs.add(e);
            s.append(i == 0 ? "" : ", ").append(t.exprs.text(e));
        }
        return Exprs.op(s.append(')').toString(), type, exprs.toArray(Expr[]::new));
    }

    Expr library(LibraryFunction function, JType type, List<Value> args) {
        t.used.add(function);
        return call(function.cName(), type, args);
    }

    /** A collective or side-effecting library call, as a statement (its result in a fresh temporary). */
    Expr libraryStatement(LibraryFunction function, JType resultType, List<String> args) {
        t.used.add(function);
        List<String> all = new ArrayList<>(args);
        if (function.collective()) {
            all.add("sp_scratch");
            all.add("sp_llid");
        }
        String call = function.cName() + "(" + String.join(", ", all) + ")";
        if (resultType == null) {
            t.code.emit(call + ";");
            return null;
        }
        String temp = t.code.newTemp(resultType);
        t.code.emit(temp + " = " + call + ";");
        return Exprs.var(temp, resultType);
    }
}
