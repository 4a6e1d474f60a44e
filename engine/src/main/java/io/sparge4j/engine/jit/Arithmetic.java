package io.sparge4j.engine.jit;

import io.sparge4j.engine.jit.Value.ArrayRef;
import io.sparge4j.engine.jit.Value.Compare;
import io.sparge4j.engine.jit.Value.Expr;
import io.sparge4j.engine.jit.Value.Space;

import java.lang.classfile.Opcode;
import java.lang.classfile.instruction.ConvertInstruction;
import java.lang.classfile.instruction.OperatorInstruction;
import java.util.List;

/**
 * Arithmetic, bitwise, comparison and conversion bytecodes as C expressions with Java's semantics (masked shift
 * counts, saturating float-to-int conversions, three-way comparisons with NaN), folding constant operands.
 */
final class Arithmetic {
    private final CSyntax c;
    private final CallStack frames;
    private final Exprs exprs;

    Arithmetic(CSyntax c, CallStack frames, Exprs exprs) {
        this.c = c;
        this.frames = frames;
        this.exprs = exprs;
    }

    void operator(OperatorInstruction o, List<Value> stack) {
        Opcode op = o.opcode();
        JType type = JType.of(o.typeKind());
        if (type == JType.DOUBLE) {
            exprs.requireFp64("double arithmetic");
        }
        switch (op) {
            case INEG, LNEG, FNEG, DNEG -> {
                Expr a = exprs.expr(Exprs.pop(stack), "a negation");
                stack.add(Exprs.op("(-" + a.code() + ")", type, a));
                return;
            }
            case ARRAYLENGTH -> {
                ArrayRef a = exprs.array(Exprs.pop(stack), "arraylength");
                if (a.space == Space.GLOBAL) {
                    throw frames.error(UnsupportedBytecode.describe(o));
                }
                stack.add(exprs.constant(a.size));
                return;
            }
            default -> {
            }
        }
        Expr b = exprs.expr(Exprs.pop(stack), "an operator");
        Expr a = exprs.expr(Exprs.pop(stack), "an operator");
        switch (op) {
            case LCMP -> stack.add(new Expr("lcmp", JType.INT, Exprs.union(a, b),
                    a.readsMemory() || b.readsMemory(), null, new Compare(a, b, 0)));
            case FCMPL, DCMPL -> stack.add(new Expr("fcmp", JType.INT, Exprs.union(a, b),
                    a.readsMemory() || b.readsMemory(), null, new Compare(a, b, -1)));
            case FCMPG, DCMPG -> stack.add(new Expr("fcmp", JType.INT, Exprs.union(a, b),
                    a.readsMemory() || b.readsMemory(), null, new Compare(a, b, 1)));
            case IREM, LREM, FREM, DREM -> {
                if (type == JType.FLOAT || type == JType.DOUBLE) {
                    String fn = type == JType.FLOAT ? c.floatFunction("rem") : c.doubleRemainder();
                    stack.add(Exprs.op(fn + "(" + a.code() + ", " + b.code() + ")", type, a, b));
                } else {
                    stack.add(fold(a, b, "%", type));
                }
            }
            case ISHL, LSHL, ISHR, LSHR -> {
                String shift = shiftAmount(b, type);
                String sym = op == Opcode.ISHL || op == Opcode.LSHL ? "<<" : ">>";
                Expr folded = foldShift(a, b, op);
                stack.add(folded != null ? folded
                        : Exprs.op("(" + a.code() + " " + sym + " " + shift + ")", type, a, b));
            }
            case IUSHR, LUSHR -> {
                Expr folded = foldShift(a, b, op);
                stack.add(folded != null ? folded
                        : Exprs.op(c.unsignedShiftRight(a.code(), shiftAmount(b, type), type), type, a, b));
            }
            default -> {
                String sym = switch (op) {
                    case IADD, LADD, FADD, DADD -> "+";
                    case ISUB, LSUB, FSUB, DSUB -> "-";
                    case IMUL, LMUL, FMUL, DMUL -> "*";
                    case IDIV, LDIV, FDIV, DDIV -> "/";
                    case IAND, LAND -> "&";
                    case IOR, LOR -> "|";
                    case IXOR, LXOR -> "^";
                    default -> throw frames.error("uses the bytecode " + op.name().toLowerCase()
                            + ", which kernels do not support");
                };
                stack.add(fold(a, b, sym, type));
            }
        }
    }

    private String shiftAmount(Expr b, JType type) {
        int mask = type == JType.INT ? 31 : 63;
        if (b.constant() instanceof Integer k) {
            return Integer.toString(k & mask);
        }
        return "(" + b.code() + " & " + mask + ")";
    }

    private Expr foldShift(Expr a, Expr b, Opcode op) {
        if (!(b.constant() instanceof Integer s)) {
            return null;
        }
        if (a.constant() instanceof Integer x) {
            return exprs.constant(switch (op) {
                case ISHL -> x << s;
                case ISHR -> x >> s;
                default -> x >>> s;
            });
        }
        if (a.constant() instanceof Long x) {
            return exprs.constant(switch (op) {
                case LSHL -> x << s;
                case LSHR -> x >> s;
                default -> x >>> s;
            });
        }
        return null;
    }

    private Expr fold(Expr a, Expr b, String sym, JType type) {
        boolean divides = sym.equals("/") || sym.equals("%");
        if (a.constant() instanceof Integer x && b.constant() instanceof Integer y && !(divides && y == 0)) {
            // the low 32 bits of the long result are Java's int result, overflow (MIN_VALUE / -1) included
            return exprs.constant((int) foldLong(x, y, sym));
        }
        if (a.constant() instanceof Long x && b.constant() instanceof Long y && !(divides && y == 0)) {
            return exprs.constant(foldLong(x, y, sym));
        }
        return Exprs.op("(" + a.code() + " " + sym + " " + b.code() + ")", type, a, b);
    }

    private static long foldLong(long x, long y, String sym) {
        return switch (sym) {
            case "+" -> x + y;
            case "-" -> x - y;
            case "*" -> x * y;
            case "/" -> x / y;
            case "%" -> x % y;
            case "&" -> x & y;
            case "|" -> x | y;
            default -> x ^ y;
        };
    }

    void convert(ConvertInstruction cv, List<Value> stack) {
        Expr a = exprs.expr(Exprs.pop(stack), "a conversion");
        JType from = JType.of(cv.fromType());
        JType to = JType.of(cv.toType());
        if (from == JType.DOUBLE || to == JType.DOUBLE) {
            exprs.requireFp64("a conversion to or from double");
        }
        if (a.constant() != null) {
            Number n = (Number) a.constant();
            Object folded = switch (to) {
                case INT -> from == JType.FLOAT || from == JType.DOUBLE ? (int) n.doubleValue() : n.intValue();
                case LONG -> from == JType.FLOAT || from == JType.DOUBLE ? (long) n.doubleValue() : n.longValue();
                case FLOAT -> from == JType.LONG ? (float) n.longValue() : n.floatValue();
                case DOUBLE -> from == JType.LONG ? (double) n.longValue() : n.doubleValue();
                case SHORT -> (int) (short) n.intValue();
                case BYTE -> (int) (byte) n.intValue();
                case CHAR -> (int) (char) n.intValue();
            };
            stack.add(exprs.constant(folded));
            return;
        }
        String code = switch (to) {
            case SHORT, BYTE, CHAR -> "((int)(" + c.type(to) + ")" + a.code() + ")";
            case INT, LONG -> from == JType.FLOAT || from == JType.DOUBLE ? c.saturatingConvert(a.code(), from, to)
                    : "((" + c.type(to) + ")" + a.code() + ")";
            default -> "((" + c.type(to) + ")" + a.code() + ")";
        };
        stack.add(Exprs.op(code, to.stackType(), a));
    }
}
