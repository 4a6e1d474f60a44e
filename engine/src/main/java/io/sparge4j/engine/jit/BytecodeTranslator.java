package io.sparge4j.engine.jit;

import io.sparge4j.engine.jit.Value.ArrayRef;
import io.sparge4j.engine.jit.Value.Expr;
import io.sparge4j.engine.jit.Value.Space;

import java.lang.classfile.Instruction;
import java.lang.classfile.Opcode;
import java.lang.classfile.TypeKind;
import java.lang.classfile.instruction.ArrayLoadInstruction;
import java.lang.classfile.instruction.ArrayStoreInstruction;
import java.lang.classfile.instruction.BranchInstruction;
import java.lang.classfile.instruction.ConstantInstruction;
import java.lang.classfile.instruction.ConvertInstruction;
import java.lang.classfile.instruction.FieldInstruction;
import java.lang.classfile.instruction.IncrementInstruction;
import java.lang.classfile.instruction.InvokeInstruction;
import java.lang.classfile.instruction.LoadInstruction;
import java.lang.classfile.instruction.LookupSwitchInstruction;
import java.lang.classfile.instruction.NewPrimitiveArrayInstruction;
import java.lang.classfile.instruction.NopInstruction;
import java.lang.classfile.instruction.OperatorInstruction;
import java.lang.classfile.instruction.ReturnInstruction;
import java.lang.classfile.instruction.StackInstruction;
import java.lang.classfile.instruction.StoreInstruction;
import java.lang.classfile.instruction.TableSwitchInstruction;
import java.util.ArrayList;
import java.util.List;

/**
 * Walks one method's bytecode and turns it into statements: labels at branch targets, line comments, returns
 * (a {@code goto} to the end of an inlined method), constants and private arrays, and hands every other
 * instruction to the class that translates its kind.
 */
final class BytecodeTranslator {
    private static final String NO_HANDLERS = "has exception handlers (try/catch/finally): not supported in "
            + "kernels; remove them";

    private final Translator t;
    private int lastLine = Integer.MIN_VALUE;
    private MethodFrame lastLineFrame;

    BytecodeTranslator(Translator t) {
        this.t = t;
    }

    /** Translates a frame's bytecode; returns its return value (null for void). */
    Expr translate(MethodFrame f) {
        if (!f.code.exceptionHandlers().isEmpty()) {
            int start = f.code.labelToBci(f.code.exceptionHandlers().getFirst().tryStart());
            for (int k = 0; k < f.insns.size(); k++) {
                if (f.insns.get(k).opcode() == Opcode.MONITORENTER || f.bci[k] == start) {
                    f.pc = f.bci[k];
                    f.line = f.lines[k];
                    throw t.frames.error(f.insns.get(k).opcode() == Opcode.MONITORENTER
                            ? UnsupportedBytecode.describe(f.insns.get(k)) : NO_HANDLERS);
                }
            }
            throw t.frames.error(NO_HANDLERS);
        }
        boolean inlined = f.id != 0;
        boolean singleReturnAtEnd = f.returns == 1 && f.insns.get(f.insns.size() - 1) instanceof ReturnInstruction;
        if (inlined && !singleReturnAtEnd) {
            f.endLabel = "E" + f.id;
        }
        List<Value> stack = new ArrayList<>();
        boolean dead = false;
        Expr result = null;
        for (int k = 0; k < f.insns.size(); k++) {
            Instruction insn = f.insns.get(k);
            f.pc = f.bci[k];
            f.line = f.lines[k];
            if (f.targets.contains(f.pc)) {
                if (!dead) {
                    t.spills.spillForBranch(f, stack, List.of());
                    t.spills.recordShape(f, f.pc, stack);
                } else {
                    stack = new ArrayList<>(f.shapes.getOrDefault(f.pc, List.of()));
                    if (!f.shapes.containsKey(f.pc)) {
                        f.shapes.put(f.pc, List.of());
                    }
                }
                t.code.label(f.label(f.pc));
                dead = false;
            } else if (dead) {
                continue;
            }
            if (f.line != lastLine || f != lastLineFrame) {
                lastLine = f.line;
                lastLineFrame = f;
                t.code.lineComment(f.line < 0 ? null : (inlined ? f.javaName() + " " : "") + "L" + f.line);
            }
            int next = k + 1 < f.insns.size() ? f.bci[k + 1] : -1;
            t.locals.upcoming(k + 1 < f.insns.size() ? f.insns.get(k + 1) : null);
            switch (insn) {
                case ReturnInstruction r -> {
                    if (r.typeKind() != TypeKind.VOID) {
                        Expr value = t.exprs.expr(Exprs.pop(stack), "the return value");
                        if (singleReturnAtEnd) {
                            result = value;
                        } else {
                            if (f.returnVar == null) {
                                f.returnVar = t.code.newTemp(value.type());
                            }
                            t.code.emit(f.returnVar + " = " + t.exprs.text(value) + ";");
                        }
                    }
                    if (!inlined) {
                        if (next != -1) {
                            t.code.emit("return;");
                        }
                    } else if (!singleReturnAtEnd) {
                        t.code.emit("goto " + f.endLabel + ";");
                    }
                    dead = true;
                }
                case BranchInstruction b -> {
                    dead = t.control.branch(f, b, stack, next);
                }
                default -> instruction(f, insn, stack, next);
            }
        }
        if (f.endLabel != null) {
            t.code.label(f.endLabel);
            if (f.returnVar != null) {
                result = Exprs.var(f.returnVar, t.code.declaredType(f.returnVar));
            }
        }
        return result;
    }

    private void instruction(MethodFrame f, Instruction insn, List<Value> stack, int next) {
        switch (insn) {
            case LoadInstruction l -> t.locals.load(f, l, stack);
            case StoreInstruction s -> t.locals.store(f, s, stack);
            case IncrementInstruction i -> t.locals.increment(f, i, stack);
            case ConstantInstruction ci -> {
                Object value = ci.constantValue();
                if (ci.opcode() == Opcode.ACONST_NULL) {
                    throw t.frames.error("uses null: not supported in kernels");
                }
                if (value instanceof String) {
                    throw t.frames.error("uses the string constant \"" + value + "\": strings are not supported in "
                            + "kernels");
                }
                if (!(value instanceof Number)) {
                    throw t.frames.error("loads the constant " + value + ": only numeric constants are supported in "
                            + "kernels");
                }
                stack.add(t.exprs.constant(value));
            }
            case OperatorInstruction o -> t.arithmetic.operator(o, stack);
            case ConvertInstruction cv -> t.arithmetic.convert(cv, stack);
            case StackInstruction s -> t.shuffles.apply(s.opcode(), stack);
            case ArrayLoadInstruction a -> {
                Expr index = t.exprs.expr(Exprs.pop(stack), "an array index");
                Value arrayValue = Exprs.pop(stack);
                ArrayRef arr = t.exprs.array(arrayValue, "an array load");
                if (arr.space == Space.GLOBAL) {
                    throw t.frames.error("indexes a kernel array object directly; use get/set");
                }
                stack.add(Exprs.op(arr.name + "[" + index.code() + "]", arr.element.stackType(), index)
                        .withMemory());
            }
            case ArrayStoreInstruction a -> {
                Expr value = t.exprs.expr(Exprs.pop(stack), "an array store");
                Expr index = t.exprs.expr(Exprs.pop(stack), "an array index");
                ArrayRef arr = t.exprs.array(Exprs.pop(stack), "an array store");
                t.spills.spillMemory(stack);
                t.code.emit(arr.name + "[" + index.code() + "] = " + t.exprs.cast(value, arr.element) + ";");
            }
            case NewPrimitiveArrayInstruction n -> {
                Expr count = t.exprs.expr(Exprs.pop(stack), "an array size");
                if (!(count.constant() instanceof Integer size)) {
                    throw t.frames.error("allocates a private array of non-constant size " + count.code() + ": private "
                            + "arrays need a constant size (a static final int or an @Constant parameter)");
                }
                JType element = JType.of(n.typeKind());
                if (element == JType.DOUBLE) {
                    t.exprs.requireFp64("a double array");
                }
                String name = t.code.uniqueName(t.locals.nextStoreName("priv"));
                ArrayRef ref = new ArrayRef(Space.PRIVATE, element, name, -1, null, size);
                t.code.addPrivateArray(ref);
                String zero = element == JType.FLOAT ? "0.0f" : element == JType.DOUBLE ? "0.0" : "0";
                String i = "sp_i";
                t.code.emit((t.c.cuda() ? "#pragma unroll\n    " : "") + "for (int " + i + " = 0; " + i + " < " + size
                        + "; " + i + "++) " + ref.name + "[" + i + "] = " + zero
                        + "; // Java zero-initialises new arrays");
                stack.add(ref);
            }
            case FieldInstruction fi -> t.fields.field(fi, stack);
            case InvokeInstruction inv -> t.calls.invoke(inv, stack);
            case TableSwitchInstruction ts -> t.control.switchTo(f, t.exprs.expr(Exprs.pop(stack), "a switch"),
                    ts.cases(), ts.defaultTarget(), stack);
            case LookupSwitchInstruction ls -> t.control.switchTo(f, t.exprs.expr(Exprs.pop(stack), "a switch"),
                    ls.cases(), ls.defaultTarget(), stack);
            case NopInstruction n -> {
            }
            default -> throw t.frames.error(UnsupportedBytecode.describe(insn));
        }
    }
}
