package io.sparge4j.engine.jit;

import io.sparge4j.engine.jit.Value.Expr;

import java.lang.classfile.ClassModel;
import java.lang.classfile.CodeElement;
import java.lang.classfile.Instruction;
import java.lang.classfile.Label;
import java.lang.classfile.MethodModel;
import java.lang.classfile.attribute.CodeAttribute;
import java.lang.classfile.attribute.SourceFileAttribute;
import java.lang.classfile.instruction.BranchInstruction;
import java.lang.classfile.instruction.IncrementInstruction;
import java.lang.classfile.instruction.LineNumber;
import java.lang.classfile.instruction.LocalVariable;
import java.lang.classfile.instruction.LookupSwitchInstruction;
import java.lang.classfile.instruction.ReturnInstruction;
import java.lang.classfile.instruction.StoreInstruction;
import java.lang.classfile.instruction.TableSwitchInstruction;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * One method being translated (the kernel or an inlined callee): its instructions with their offsets and lines,
 * branch targets, local variable table, and what the translation knows about its slots.
 */
final class MethodFrame {
    final Class<?> owner;
    final String methodName;
    final String descriptor;
    final String sourceFile;
    final CodeAttribute code;
    final int id;
    final List<Instruction> insns = new ArrayList<>();
    final int[] bci;
    final int[] lines;
    final Map<Label, Integer> labelBci = new HashMap<>();
    final Set<Integer> targets = new TreeSet<>();
    final List<LocalVariable> lvt = new ArrayList<>();
    final Set<Integer> storedSlots = new HashSet<>();
    final Map<Integer, Value> refs = new HashMap<>();
    final Map<String, Expr> bound = new HashMap<>();
    final Map<String, String> varNames = new HashMap<>();
    final Map<String, String> scopedNames = new HashMap<>();
    final Map<Integer, List<Value>> shapes = new HashMap<>();
    final Map<Integer, int[]> parallelStores = new HashMap<>();
    final Map<Integer, int[]> parallelIncrements = new HashMap<>();
    String returnVar;
    String endLabel;
    int returns;
    int pc = -1;
    int line = -1;

    MethodFrame(Class<?> owner, ClassModel classModel, MethodModel method, int id) {
        this.owner = owner;
        this.methodName = method.methodName().stringValue();
        this.descriptor = method.methodType().stringValue();
        this.sourceFile = classModel.findAttribute(java.lang.classfile.Attributes.sourceFile())
                .map(SourceFileAttribute::sourceFile).map(e -> e.stringValue()).orElse(null);
        this.id = id;
        this.code = (CodeAttribute) method.code().orElseThrow(() -> new KernelCompileException(owner.getName(),
                methodName, sourceFile, -1, -1, "has no bytecode (abstract or native): kernels can call only "
                + "static methods with a body"));
        List<Integer> offsets = new ArrayList<>();
        List<Integer> lineList = new ArrayList<>();
        int offset = 0;
        int currentLine = -1;
        for (CodeElement element : code) {
            if (element instanceof LineNumber ln) {
                currentLine = ln.line();
            } else if (element instanceof LocalVariable lv) {
                lvt.add(lv);
            } else if (element instanceof Instruction insn) {
                insns.add(insn);
                offsets.add(offset);
                lineList.add(currentLine);
                offset += insn.sizeInBytes();
            }
        }
        bci = offsets.stream().mapToInt(Integer::intValue).toArray();
        lines = lineList.stream().mapToInt(Integer::intValue).toArray();
        for (Instruction insn : insns) {
            switch (insn) {
                case BranchInstruction b -> targets.add(code.labelToBci(b.target()));
                case TableSwitchInstruction t -> {
                    targets.add(code.labelToBci(t.defaultTarget()));
                    t.cases().forEach(sc -> targets.add(code.labelToBci(sc.target())));
                }
                case LookupSwitchInstruction l -> {
                    targets.add(code.labelToBci(l.defaultTarget()));
                    l.cases().forEach(sc -> targets.add(code.labelToBci(sc.target())));
                }
                case StoreInstruction s -> storedSlots.add(s.slot());
                case IncrementInstruction i -> storedSlots.add(i.slot());
                case ReturnInstruction r -> returns++;
                default -> {
                }
            }
        }
    }

    String label(int target) {
        return "L" + (id == 0 ? "" : id + "_") + target;
    }

    String javaName() {
        return owner.getSimpleName() + "." + methodName;
    }

    /** The LVT name of a slot holding a reference, or null. */
    String lvtName(int slot, JType type) {
        for (LocalVariable lv : lvt) {
            if (lv.slot() == slot && matches(lv, type)) {
                return lv.name().stringValue();
            }
        }
        return null;
    }

    /**
     * The LVT variable of a slot at an offset: the one whose range covers it, else the next one to start
     * (javac starts a range where the variable is definitely assigned, after stores in branches), else any.
     */
    LocalVariable lvtAt(int slot, JType type, int pc) {
        LocalVariable next = null;
        int nextStart = Integer.MAX_VALUE;
        LocalVariable any = null;
        for (LocalVariable lv : lvt) {
            if (lv.slot() != slot || !matches(lv, type)) {
                continue;
            }
            int start = code.labelToBci(lv.startScope());
            int end = code.labelToBci(lv.endScope());
            if (start <= pc && pc < end) {
                return lv;
            }
            if (start > pc && start < nextStart) {
                next = lv;
                nextStart = start;
            }
            any = any == null ? lv : any;
        }
        return next != null ? next : any;
    }

    private static boolean matches(LocalVariable lv, JType type) {
        String d = lv.type().stringValue();
        return type == null ? d.startsWith("L") || d.startsWith("[") : JType.ofDescriptor(d) == type;
    }
}
