package io.sparge4j.engine.jit;

import java.lang.classfile.Instruction;

/** Messages for the bytecodes kernels cannot use: what the code does, and what to write instead. */
final class UnsupportedBytecode {
    private UnsupportedBytecode() {
    }

    /** @return why a kernel cannot use {@code insn}, and what to do instead */
    static String describe(Instruction insn) {
        String op = insn.opcode().name().toLowerCase();
        return switch (insn.opcode()) {
            case NEW -> "allocates an object (" + op + " "
                    + ((java.lang.classfile.instruction.NewObjectInstruction) insn).className().asInternalName()
                    .replace('/', '.') + "): kernels cannot allocate objects; pass kernel arrays as parameters or use "
                    + "new float[CONSTANT] / ctx.allocateFloatLocalArray(CONSTANT)";
            case ATHROW -> "throws an exception (athrow): not supported in kernels; guard with an if instead";
            case MONITORENTER, MONITOREXIT -> "uses synchronized (" + op + "): not supported in kernels; use "
                    + "ctx.localBarrier() or ctx.atomicAdd";
            case INSTANCEOF, CHECKCAST -> "uses a type test or cast (" + op + "): not supported in kernels; use the "
                    + "kernel array types directly";
            case ANEWARRAY, MULTIANEWARRAY -> "allocates an array of objects or a multi-dimensional array (" + op
                    + "): kernels support one-dimensional primitive arrays of constant size only";
            case ARRAYLENGTH -> "reads the length of an array that is not a local or private array";
            case INVOKEDYNAMIC -> "uses invokedynamic (a lambda, string concatenation or switch pattern): not "
                    + "supported in kernels";
            default -> "uses the bytecode " + op + ", which kernels do not support";
        };
    }
}
