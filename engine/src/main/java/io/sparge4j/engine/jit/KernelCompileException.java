package io.sparge4j.engine.jit;

/**
 * A kernel uses something the JIT cannot translate. The message reads
 * {@code Kernels.saxpy (Kernels.java:42, bytecode 17): <reason>}, naming the innermost method (an inlined helper
 * where the problem is in one).
 */
public final class KernelCompileException extends RuntimeException {
    private final String className;
    private final String methodName;
    private final int bytecodeOffset;
    private final int line;
    private final String reason;

    /**
     * @param className the binary name of the class holding the offending code
     * @param methodName the method holding it
     * @param sourceFile the class's source file name, or null when the class has none
     * @param bytecodeOffset the offending instruction's offset, or -1
     * @param line its source line, or -1 when the class has no line numbers
     * @param reason what is not supported and what to use instead
     */
    public KernelCompileException(String className, String methodName, String sourceFile, int bytecodeOffset,
            int line, String reason) {
        super(simpleName(className) + "." + methodName + " (" + (sourceFile == null ? "unknown source" : sourceFile)
                + (line >= 0 ? ":" + line : "") + ", bytecode " + bytecodeOffset + "): " + reason);
        this.className = className;
        this.methodName = methodName;
        this.bytecodeOffset = bytecodeOffset;
        this.line = line;
        this.reason = reason;
    }

    private static String simpleName(String className) {
        return className.substring(className.lastIndexOf('.') + 1);
    }

    /** @return the binary name of the class holding the offending code */
    public String className() {
        return className;
    }

    /** @return the method holding it */
    public String methodName() {
        return methodName;
    }

    /** @return the offending instruction's bytecode offset, or -1 */
    public int bytecodeOffset() {
        return bytecodeOffset;
    }

    /** @return its source line, or -1 */
    public int line() {
        return line;
    }

    /** @return what is not supported and what to use instead */
    public String reason() {
        return reason;
    }
}
