package io.sparge4j.engine.jit;

import io.sparge4j.engine.jit.Value.ArrayRef;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The C text of the kernel function being generated: the statement body, the declarations for its top (local
 * arrays, scalars by type, private arrays), and the names already taken.
 */
final class KernelCode {
    /** Names the generated code must not use for variables. */
    private static final Set<String> RESERVED = Set.of("auto", "break", "case", "char", "const", "continue",
            "default", "do", "double", "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long",
            "register", "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
            "union", "unsigned", "void", "volatile", "while", "bool", "true", "false", "half", "uint", "ulong",
            "ushort", "uchar", "new", "delete", "this", "class", "template", "typename", "namespace", "operator",
            "private", "public", "protected", "friend", "virtual", "global", "local", "constant", "kernel",
            "exp", "exp2", "log", "sqrt", "rsqrt", "tanh", "sin", "cos", "pow", "fma", "fmax", "fmin", "fabs", "fmod", "max",
            "min", "abs", "expf", "exp2f", "logf", "sqrtf", "rsqrtf", "tanhf", "sinf", "cosf", "powf", "fmaf", "fmaxf", "fminf",
            "fabsf", "fmodf", "barrier", "threadIdx", "blockIdx", "blockDim", "gridDim", "warpSize", "sp_scratch",
            "sp_llid", "as_int", "as_float", "asm", "main", "vector", "complex", "imaginary", "std", "printf");

    private final CSyntax c;
    private final StringBuilder body = new StringBuilder();
    /** Scalar declarations at the top of the kernel: name to type. */
    private final Map<String, JType> declarations = new LinkedHashMap<>();
    private final List<ArrayRef> localArrays = new ArrayList<>();
    private final List<ArrayRef> privateArrays = new ArrayList<>();
    private final Set<String> usedNames = new HashSet<>(RESERVED);
    private int temps;
    private String pendingComment;

    KernelCode(CSyntax c) {
        this.c = c;
    }

    /** @return {@code wanted} made a valid C name that no other variable has, now taken */
    String uniqueName(String wanted) {
        String base = wanted == null || wanted.isEmpty() ? "v" : wanted.replaceAll("[^A-Za-z0-9_]", "_");
        if (base.startsWith("sp_") || Character.isDigit(base.charAt(0))) {
            base = "v" + base;
        }
        String name = base;
        for (int i = 2; usedNames.contains(name); i++) {
            name = base + "_" + i;
        }
        usedNames.add(name);
        return name;
    }

    /** @return a new declared temporary {@code t<n>} */
    String newTemp(JType type) {
        String name = "t" + temps++;
        while (usedNames.contains(name)) {
            name = "t" + temps++;
        }
        usedNames.add(name);
        declarations.put(name, type);
        return name;
    }

    /** @return the temporary for stack depth {@code depth} in frame {@code f}, declared on first use */
    String stackTemp(MethodFrame f, int depth, JType type) {
        String name = "st" + depth + type.letter + (f.id == 0 ? "" : "_" + f.id);
        if (!declarations.containsKey(name)) {
            usedNames.add(name);
            declarations.put(name, type);
        }
        return name;
    }

    /** Declares a scalar variable at the top of the kernel. */
    void declare(String name, JType type) {
        declarations.put(name, type);
    }

    /** @return the declared type of a variable, or null */
    JType declaredType(String name) {
        return declarations.get(name);
    }

    void addLocalArray(ArrayRef array) {
        localArrays.add(array);
    }

    void addPrivateArray(ArrayRef array) {
        privateArrays.add(array);
    }

    /** Appends an indented statement, after the pending line comment. */
    void emit(String statement) {
        flushComment();
        body.append("    ").append(statement).append('\n');
    }

    /** Appends a label (a statement of its own, so that a label may end a block). */
    void label(String label) {
        body.append(label).append(":;\n");
    }

    /**
     * Sets the line comment to write before the next statement, replacing one not yet written: lines that emit
     * nothing leave no comment.
     *
     * @param comment the comment, or null for none
     */
    void lineComment(String comment) {
        pendingComment = comment;
    }

    private void flushComment() {
        if (pendingComment != null) {
            body.append("    // ").append(pendingComment).append('\n');
            pendingComment = null;
        }
    }

    String body() {
        return body.toString();
    }

    /** @return bytes of the kernel's local arrays, each rounded up to 16 bytes (their alignment) */
    long localBytes() {
        long bytes = 0;
        for (ArrayRef a : localArrays) {
            bytes += alignedBytes(a);
        }
        return bytes;
    }

    /**
     * @return the bytes the launch must ask for dynamically: on CUDA, all the local arrays' bytes when they exceed
     *     {@link CSyntax#STATIC_SHARED_LIMIT} (statically declared shared memory cannot), else 0
     */
    int dynamicLocalBytes() {
        long bytes = localBytes();
        return c.cuda() && bytes > CSyntax.STATIC_SHARED_LIMIT ? (int) Math.min(bytes, Integer.MAX_VALUE) : 0;
    }

    private static long alignedBytes(ArrayRef a) {
        return ((long) a.size * a.element.bytes() + 15) / 16 * 16;
    }

    /** @return the declarations for the top of the kernel body (local arrays, scalars, private arrays) */
    String declarationText() {
        StringBuilder out = new StringBuilder();
        if (dynamicLocalBytes() > 0) {
            // Carve-outs of one dynamic allocation, 16-byte aligned as the static arrays are.
            out.append("    ").append(c.dynamicLocalBase()).append('\n');
            long offset = 0;
            for (ArrayRef a : localArrays) {
                out.append("    ").append(c.dynamicLocalArray(a.element, a.name, offset)).append('\n');
                offset += alignedBytes(a);
            }
        } else {
            for (ArrayRef a : localArrays) {
                out.append("    ").append(c.localArray(a.element, a.name, a.size)).append('\n');
            }
        }
        Map<JType, List<String>> byType = new LinkedHashMap<>();
        declarations.forEach((name, type) -> byType.computeIfAbsent(type, k -> new ArrayList<>()).add(name));
        byType.forEach((type, names) -> {
            for (int i = 0; i < names.size(); i += 12) {
                out.append("    ").append(c.type(type)).append(' ')
                        .append(String.join(", ", names.subList(i, Math.min(names.size(), i + 12)))).append(";\n");
            }
        });
        for (ArrayRef a : privateArrays) {
            out.append("    ").append(c.type(a.element)).append(' ').append(a.name).append('[').append(a.size)
                    .append("];\n");
        }
        return out.toString();
    }
}
