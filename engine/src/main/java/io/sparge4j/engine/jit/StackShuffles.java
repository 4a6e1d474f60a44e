package io.sparge4j.engine.jit;

import io.sparge4j.engine.jit.Value.Expr;

import java.lang.classfile.Opcode;
import java.util.List;

/**
 * The JVM's stack shuffles (pop, swap, the dup family) on the symbolic stack; a duplicated expression is
 * evaluated once into a temporary.
 */
final class StackShuffles {
    private final CallStack frames;
    private final StackSpills spills;

    StackShuffles(CallStack frames, StackSpills spills) {
        this.frames = frames;
        this.spills = spills;
    }

    void apply(Opcode op, List<Value> stack) {
        switch (op) {
            case POP -> Exprs.pop(stack);
            case POP2 -> {
                Value v = Exprs.pop(stack);
                if (!(v instanceof Expr e && e.type().wide())) {
                    Exprs.pop(stack);
                }
            }
            case SWAP -> {
                Value b = Exprs.pop(stack);
                Value a = Exprs.pop(stack);
                stack.add(b);
                stack.add(a);
            }
            case DUP -> stack.add(spills.shareable(stack, stack.size() - 1));
            case DUP_X1 -> {
                Value v1 = spills.shareable(stack, stack.size() - 1);
                stack.add(stack.size() - 2, v1);
            }
            case DUP_X2 -> {
                Value v1 = spills.shareable(stack, stack.size() - 1);
                Value v2 = stack.get(stack.size() - 2);
                stack.add(stack.size() - (wide(v2) ? 2 : 3), v1);
            }
            case DUP2 -> {
                Value v1 = spills.shareable(stack, stack.size() - 1);
                if (wide(v1)) {
                    stack.add(v1);
                } else {
                    Value v2 = spills.shareable(stack, stack.size() - 2);
                    stack.add(v2);
                    stack.add(v1);
                }
            }
            case DUP2_X1 -> {
                Value v1 = spills.shareable(stack, stack.size() - 1);
                if (wide(v1)) {
                    stack.add(stack.size() - 2, v1);
                } else {
                    Value v2 = spills.shareable(stack, stack.size() - 2);
                    stack.add(stack.size() - 3, v2);
                    stack.add(stack.size() - 3, v1);
                }
            }
            default -> throw frames.error("uses the stack operation " + op.name().toLowerCase()
                    + ", which the kernel JIT does not support");
        }
    }

    private static boolean wide(Value v) {
        return v instanceof Expr e && e.type().wide();
    }
}
