package io.sparge4j.engine.jit;

import io.sparge4j.engine.jit.Value.Expr;

import java.lang.classfile.Instruction;
import java.lang.classfile.TypeKind;
import java.lang.classfile.instruction.IncrementInstruction;
import java.lang.classfile.instruction.LoadInstruction;
import java.lang.classfile.instruction.LocalVariable;
import java.lang.classfile.instruction.StoreInstruction;
import java.util.List;

/**
 * Java local variables as C variables: one per slot, kind and Java name; loads, stores and increments, the
 * {@code @Parallel} loop variables' grid-stride start and step, and names for new arrays from the variable they
 * are stored into.
 */
final class LocalVariables {
    private final CSyntax c;
    private final CallStack frames;
    private final KernelCode code;
    private final Exprs exprs;
    private final StackSpills spills;
    /** The instruction after the one being translated, or null. */
    private Instruction nextInsn;

    LocalVariables(CSyntax c, CallStack frames, KernelCode code, Exprs exprs, StackSpills spills) {
        this.c = c;
        this.frames = frames;
        this.code = code;
        this.exprs = exprs;
        this.spills = spills;
    }

    /** Notes the instruction after the one being translated, for {@link #nextStoreName}. */
    void upcoming(Instruction next) {
        nextInsn = next;
    }

    /** The variable name the next instruction stores a new array into, for readable array names. */
    String nextStoreName(String fallback) {
        if (nextInsn instanceof StoreInstruction s && s.typeKind() == TypeKind.REFERENCE && frames.peek() != null) {
            String name = frames.peek().lvtName(s.slot(), null);
            if (name != null) {
                return name;
            }
        }
        return fallback;
    }

    /** The C variable for a slot at an offset: one per Java variable (slot, kind and name). */
    String varName(MethodFrame f, int slot, JType type, int pc) {
        String key = slot + ":" + type.letter;
        String param = f.varNames.get(key);
        if (param != null) {
            return param; // a kernel parameter or a bound argument keeps its slot
        }
        LocalVariable lv = f.lvtAt(slot, type, pc);
        String javaName = lv == null ? "v" + slot : lv.name().stringValue();
        // one C variable per slot, kind and Java name: javac may describe one variable by several ranges (e.g. one
        // per switch case that assigns it), so ranges must not split it
        String scopedKey = key + ":" + javaName;
        String name = f.scopedNames.get(scopedKey);
        if (name == null) {
            if (type == JType.DOUBLE) {
                exprs.requireFp64("a double variable");
            }
            name = code.uniqueName(javaName);
            f.scopedNames.put(scopedKey, name);
            code.declare(name, type);
        }
        return name;
    }

    void load(MethodFrame f, LoadInstruction l, List<Value> stack) {
        JType type = JType.of(l.typeKind());
        if (type == null) {
            Value ref = f.refs.get(l.slot());
            if (ref == null) {
                throw frames.error("reads an object variable (slot " + l.slot() + ") that is not a kernel array, "
                        + "local array, private array or the KernelContext");
            }
            stack.add(ref);
            return;
        }
        Expr bound = f.bound.get(l.slot() + ":" + type.letter);
        if (bound != null) {
            stack.add(bound);
            return;
        }
        stack.add(Exprs.var(varName(f, l.slot(), type, f.pc), type));
    }

    void store(MethodFrame f, StoreInstruction s, List<Value> stack) {
        JType type = JType.of(s.typeKind());
        Value v = Exprs.pop(stack);
        if (type == null) {
            f.refs.put(s.slot(), v);
            return;
        }
        Expr value = exprs.expr(v, "a store");
        String name = varName(f, s.slot(), type, f.pc + s.sizeInBytes());
        spills.spillReading(stack, name);
        int[] parallel = f.id == 0 ? f.parallelStores.get(f.pc) : null;
        if (parallel != null) {
            code.emit(name + " = " + value.code() + " + " + c.globalId(parallel[1]) + "; // @Parallel: grid-stride "
                    + "over " + "xyz".charAt(parallel[1]));
            return;
        }
        if (!value.code().equals(name)) {
            code.emit(name + " = " + exprs.text(value) + ";");
        }
    }

    void increment(MethodFrame f, IncrementInstruction i, List<Value> stack) {
        String name = varName(f, i.slot(), JType.INT, f.pc);
        spills.spillReading(stack, name);
        int[] parallel = f.id == 0 ? f.parallelIncrements.get(f.pc) : null;
        if (parallel != null) {
            code.emit(name + " += " + c.globalSize(parallel[1]) + ";");
            return;
        }
        code.emit(i.constant() == 1 ? name + "++;" : i.constant() == -1 ? name + "--;"
                : name + " += " + c.intLiteral(i.constant()) + ";");
    }
}
