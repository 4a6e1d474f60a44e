package io.sparge4j.engine.jit;

import java.lang.classfile.Attributes;
import java.lang.classfile.Instruction;
import java.lang.classfile.TypeAnnotation;
import java.lang.classfile.attribute.CodeAttribute;
import java.lang.classfile.instruction.IncrementInstruction;
import java.lang.classfile.instruction.StoreInstruction;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiFunction;

/**
 * The {@code @Parallel} loops of a loop-style kernel. javac keeps {@code @Parallel} on a local variable only as a
 * type annotation (target LOCAL_VARIABLE) in the method's RuntimeVisibleTypeAnnotations, with the variable's
 * slot and live range; the loop is recognised by its shape {@code for (int v = start; v < bound; v++)}: the
 * store just before the range initialises it and the range holds exactly one {@code iinc v 1} and no other store
 * to v. Up to three nesting levels become grid-stride loops; the innermost of them runs over x (consecutive
 * work-items then touch consecutive elements in the usual row-major loops), the next over y, then z. Loops
 * nested deeper stay sequential.
 *
 * @param loops the loops turned into grid-stride loops
 * @param dimensions how many grid dimensions they use (0 when there is no @Parallel loop)
 */
record ParallelLoops(List<Loop> loops, int dimensions) {
    private static final String PARALLEL = "Lio/sparge4j/kernels/annotations/Parallel;";

    /**
     * @param slot the loop variable's local slot
     * @param storePc the bytecode offset of its initialising store
     * @param incrementPc the offset of its {@code iinc v 1}
     * @param dimension 0 for x, 1 for y, 2 for z
     */
    record Loop(int slot, int storePc, int incrementPc, int dimension) {
    }

    private record Range(int slot, int start, int end, int storePc, int incrementPc) {
    }

    static ParallelLoops find(CodeAttribute code, List<Instruction> insns, int[] bci,
            BiFunction<Integer, String, KernelCompileException> error) {
        List<Range> ranges = new ArrayList<>();
        var attribute = code.findAttribute(Attributes.runtimeVisibleTypeAnnotations());
        if (attribute.isEmpty()) {
            return new ParallelLoops(List.of(), 0);
        }
        for (TypeAnnotation ta : attribute.get().annotations()) {
            if (!(ta.targetInfo() instanceof TypeAnnotation.LocalVarTarget target)
                    || !ta.annotation().className().stringValue().equals(PARALLEL)) {
                continue;
            }
            for (TypeAnnotation.LocalVarTargetInfo info : target.table()) {
                int start = code.labelToBci(info.startLabel());
                int end = code.labelToBci(info.endLabel());
                int slot = info.index();
                int storePc = -1;
                int incrementPc = -1;
                for (int k = 0; k < insns.size(); k++) {
                    Instruction insn = insns.get(k);
                    if (k + 1 < insns.size() && bci[k + 1] == start) {
                        if (insn instanceof StoreInstruction s && s.slot() == slot) {
                            storePc = bci[k];
                        }
                    }
                    if (bci[k] >= start && bci[k] < end) {
                        if (insn instanceof IncrementInstruction inc && inc.slot() == slot) {
                            if (inc.constant() != 1 || incrementPc != -1) {
                                throw error.apply(bci[k], "@Parallel loop variable (slot " + slot
                                        + ") changes by other than one v++ per iteration; write @Parallel loops as "
                                        + "for (int v = start; v < bound; v++)");
                            }
                            incrementPc = bci[k];
                        } else if (insn instanceof StoreInstruction s && s.slot() == slot) {
                            throw error.apply(bci[k], "@Parallel loop variable (slot " + slot
                                    + ") is assigned in the loop; write @Parallel loops as for (int v = start; "
                                    + "v < bound; v++)");
                        }
                    }
                }
                if (storePc == -1 || incrementPc == -1) {
                    throw error.apply(start, "@Parallel on a variable (slot " + slot + ") that is not a counted loop; "
                            + "write @Parallel loops as for (int v = start; v < bound; v++)");
                }
                ranges.add(new Range(slot, start, end, storePc, incrementPc));
            }
        }
        int levels = 0;
        int[] depth = new int[ranges.size()];
        for (int i = 0; i < ranges.size(); i++) {
            for (Range other : ranges) {
                Range r = ranges.get(i);
                if (other != r && other.start <= r.start && r.end <= other.end) {
                    depth[i]++;
                }
            }
            levels = Math.max(levels, Math.min(3, depth[i] + 1));
        }
        List<Loop> loops = new ArrayList<>();
        for (int i = 0; i < ranges.size(); i++) {
            if (depth[i] < 3) {
                Range r = ranges.get(i);
                loops.add(new Loop(r.slot, r.storePc, r.incrementPc, levels - 1 - depth[i]));
            }
        }
        return new ParallelLoops(List.copyOf(loops), levels);
    }
}
