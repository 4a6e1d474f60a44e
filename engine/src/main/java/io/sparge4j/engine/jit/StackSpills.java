package io.sparge4j.engine.jit;

import io.sparge4j.engine.jit.Value.Expr;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Keeps the symbolic stack's expressions meaning what the JVM's values meant: evaluates them into temporaries
 * before a store or memory write would change what they read, when they are used twice, and at block boundaries,
 * where every path into a label must leave its values in the same temporaries.
 */
final class StackSpills {
    private final CallStack frames;
    private final KernelCode code;
    private final Exprs exprs;

    StackSpills(CallStack frames, KernelCode code, Exprs exprs) {
        this.frames = frames;
        this.code = code;
        this.exprs = exprs;
    }

    /** Before a store to C variable {@code name}: values on the stack that read it are copied first. */
    void spillReading(List<Value> stack, String name) {
        for (int i = 0; i < stack.size(); i++) {
            if (stack.get(i) instanceof Expr e && e.vars().contains(name)) {
                stack.set(i, exprs.materialize(e));
            }
        }
    }

    /** Before a memory write or a call: values on the stack that read memory are evaluated first. */
    void spillMemory(List<Value> stack) {
        for (int i = 0; i < stack.size(); i++) {
            if (stack.get(i) instanceof Expr e && e.readsMemory()) {
                stack.set(i, exprs.materialize(e));
            }
        }
    }

    /** A value about to be used twice: a temporary unless it is a variable or constant. */
    Value shareable(List<Value> stack, int index) {
        Value v = stack.get(index);
        if (v instanceof Expr e && !(e.atomic() && e.compare() == null)) {
            Expr m = exprs.materialize(e);
            stack.set(index, m);
            return m;
        }
        return v;
    }

    /**
     * At a block boundary, puts every stack value into the stack temporary of its depth (and kind), so the blocks
     * meeting at a label agree on where values are. Pending expressions (a branch condition) are kept valid.
     */
    List<Expr> spillForBranch(MethodFrame f, List<Value> stack, List<Expr> pending) {
        Set<String> assigned = new HashSet<>();
        for (int d = 0; d < stack.size(); d++) {
            if (stack.get(d) instanceof Expr e) {
                String name = code.stackTemp(f, d, e.type());
                if (!e.code().equals(name)) {
                    assigned.add(name);
                }
            }
        }
        if (assigned.isEmpty()) {
            return pending;
        }
        boolean conflict = false;
        for (Value v : stack) {
            if (v instanceof Expr e && !assigned.contains(e.code())) {
                for (String a : assigned) {
                    conflict |= e.vars().contains(a);
                }
            }
        }
        if (conflict) {
            for (int d = 0; d < stack.size(); d++) {
                if (stack.get(d) instanceof Expr e && !e.atomic()) {
                    stack.set(d, exprs.materialize(e));
                }
            }
        }
        List<Expr> safePending = new ArrayList<>();
        for (Expr p : pending) {
            boolean reads = false;
            for (String a : assigned) {
                reads |= p.vars().contains(a);
            }
            safePending.add(reads ? exprs.materialize(p) : p);
        }
        for (int d = 0; d < stack.size(); d++) {
            if (stack.get(d) instanceof Expr e) {
                String name = code.stackTemp(f, d, e.type());
                if (!e.code().equals(name)) {
                    code.emit(name + " = " + exprs.text(e) + ";");
                }
                stack.set(d, Exprs.var(name, e.type()));
            }
        }
        return safePending;
    }

    /** Records the stack at a jump to {@code target}; an error when another path reaches it with other arrays. */
    void recordShape(MethodFrame f, int target, List<Value> stack) {
        List<Value> known = f.shapes.get(target);
        if (known == null) {
            f.shapes.put(target, List.copyOf(stack));
            return;
        }
        boolean same = known.size() == stack.size();
        for (int i = 0; same && i < known.size(); i++) {
            Value a = known.get(i);
            Value b = stack.get(i);
            same = a instanceof Expr ea ? b instanceof Expr eb && ea.code().equals(eb.code()) : a == b;
        }
        if (!same) {
            throw frames.error("control flow joins with different arrays or stack contents (e.g. a ternary choosing "
                    + "between two arrays); choose the index instead of the array");
        }
    }
}
