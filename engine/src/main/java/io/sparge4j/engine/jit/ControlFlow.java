package io.sparge4j.engine.jit;

import io.sparge4j.engine.jit.Value.Compare;
import io.sparge4j.engine.jit.Value.Expr;

import java.lang.classfile.Label;
import java.lang.classfile.Opcode;
import java.lang.classfile.instruction.BranchInstruction;
import java.lang.classfile.instruction.SwitchCase;
import java.util.List;

/**
 * Jumps, conditional branches and switches as {@code goto}s to labels, with Java's comparison semantics (a NaN
 * operand makes the condition what the JVM's fcmpl/fcmpg would), after spilling the stack for the join.
 */
final class ControlFlow {
    private final CSyntax c;
    private final CallStack frames;
    private final KernelCode code;
    private final Exprs exprs;
    private final StackSpills spills;

    ControlFlow(CSyntax c, CallStack frames, KernelCode code, Exprs exprs, StackSpills spills) {
        this.c = c;
        this.frames = frames;
        this.code = code;
        this.exprs = exprs;
        this.spills = spills;
    }

    private static String cmpOp(Opcode op) {
        return switch (op) {
            case IFEQ, IF_ICMPEQ, IF_ACMPEQ, IFNULL -> "==";
            case IFNE, IF_ICMPNE, IF_ACMPNE, IFNONNULL -> "!=";
            case IFLT, IF_ICMPLT -> "<";
            case IFGE, IF_ICMPGE -> ">=";
            case IFGT, IF_ICMPGT -> ">";
            case IFLE, IF_ICMPLE -> "<=";
            default -> null;
        };
    }

    private static String negate(String op) {
        return switch (op) {
            case "<" -> ">=";
            case ">=" -> "<";
            case ">" -> "<=";
            case "<=" -> ">";
            case "==" -> "!=";
            default -> "==";
        };
    }

    /** @return whether control does not fall through */
    boolean branch(MethodFrame f, BranchInstruction b, List<Value> stack, int next) {
        int target = f.code.labelToBci(b.target());
        Opcode op = b.opcode();
        if (op == Opcode.GOTO || op == Opcode.GOTO_W) {
            spills.spillForBranch(f, stack, List.of());
            spills.recordShape(f, target, stack);
            if (target != next) {
                code.emit("goto " + f.label(target) + ";");
            }
            return true;
        }
        String cop = cmpOp(op);
        Expr condition;
        switch (op) {
            case IFEQ, IFNE, IFLT, IFGE, IFGT, IFLE -> {
                Expr v = exprs.expr(Exprs.pop(stack), "a condition");
                Compare cmp = v.compare();
                if (cmp == null) {
                    condition = Exprs.op("(" + v.code() + " " + cop + " 0)", JType.INT, v);
                } else {
                    boolean nanTruth = switch (cop) {
                        case "==" -> cmp.nanResult() == 0;
                        case "!=" -> cmp.nanResult() != 0;
                        case "<" -> cmp.nanResult() < 0;
                        case ">=" -> cmp.nanResult() >= 0;
                        case ">" -> cmp.nanResult() > 0;
                        default -> cmp.nanResult() <= 0;
                    };
                    boolean cNanTruth = cop.equals("!=");
                    boolean floating = cmp.left().type() == JType.FLOAT || cmp.left().type() == JType.DOUBLE;
                    String l = cmp.left().code();
                    String r = cmp.right().code();
                    String code = !floating || nanTruth == cNanTruth ? "(" + l + " " + cop + " " + r + ")"
                            : "!(" + l + " " + negate(cop) + " " + r + ")";
                    condition = Exprs.op(code, JType.INT, cmp.left(), cmp.right());
                }
            }
            case IF_ICMPEQ, IF_ICMPNE, IF_ICMPLT, IF_ICMPGE, IF_ICMPGT, IF_ICMPLE -> {
                Expr r = exprs.expr(Exprs.pop(stack), "a comparison");
                Expr l = exprs.expr(Exprs.pop(stack), "a comparison");
                condition = Exprs.op("(" + l.code() + " " + cop + " " + r.code() + ")", JType.INT, l, r);
            }
            case IF_ACMPEQ, IF_ACMPNE -> {
                Value r = Exprs.pop(stack);
                Value l = Exprs.pop(stack);
                boolean equal = l == r;
                condition = exprs.constant((op == Opcode.IF_ACMPEQ) == equal ? 1 : 0);
            }
            default -> throw frames.error("compares a reference with null (" + op + "): kernel arrays are never null; "
                    + "remove the check");
        }
        condition = spills.spillForBranch(f, stack, List.of(condition)).get(0);
        spills.recordShape(f, target, stack);
        String test = condition.code().startsWith("(") ? condition.code() : "(" + condition.code() + ")";
        code.emit("if " + test + " goto " + f.label(target) + ";");
        return false;
    }

    void switchTo(MethodFrame f, Expr key, List<SwitchCase> cases, Label defaultTarget, List<Value> stack) {
        key = spills.spillForBranch(f, stack, List.of(key)).get(0);
        StringBuilder s = new StringBuilder("switch (" + key.code() + ") {");
        for (SwitchCase sc : cases) {
            int target = f.code.labelToBci(sc.target());
            spills.recordShape(f, target, stack);
            s.append(" case ").append(c.intLiteral(sc.caseValue())).append(": goto ").append(f.label(target))
                    .append(';');
        }
        int target = f.code.labelToBci(defaultTarget);
        spills.recordShape(f, target, stack);
        s.append(" default: goto ").append(f.label(target)).append("; }");
        code.emit(s.toString());
    }
}
