package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.jit.Value.ArrayRef;
import io.sparge4j.engine.jit.Value.Compare;
import io.sparge4j.engine.jit.Value.CtxRef;
import io.sparge4j.engine.jit.Value.Expr;
import io.sparge4j.engine.jit.Value.Space;
import io.sparge4j.engine.jit.lib.LibraryFunction;

import java.io.IOException;
import java.io.InputStream;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.CodeElement;
import java.lang.classfile.Instruction;
import java.lang.classfile.Label;
import java.lang.classfile.MethodModel;
import java.lang.classfile.Opcode;
import java.lang.classfile.TypeKind;
import java.lang.classfile.attribute.CodeAttribute;
import java.lang.classfile.attribute.SourceFileAttribute;
import java.lang.classfile.instruction.ArrayLoadInstruction;
import java.lang.classfile.instruction.ArrayStoreInstruction;
import java.lang.classfile.instruction.BranchInstruction;
import java.lang.classfile.instruction.ConstantInstruction;
import java.lang.classfile.instruction.ConvertInstruction;
import java.lang.classfile.instruction.FieldInstruction;
import java.lang.classfile.instruction.IncrementInstruction;
import java.lang.classfile.instruction.InvokeInstruction;
import java.lang.classfile.instruction.LineNumber;
import java.lang.classfile.instruction.LoadInstruction;
import java.lang.classfile.instruction.LocalVariable;
import java.lang.classfile.instruction.LookupSwitchInstruction;
import java.lang.classfile.instruction.NewPrimitiveArrayInstruction;
import java.lang.classfile.instruction.NopInstruction;
import java.lang.classfile.instruction.OperatorInstruction;
import java.lang.classfile.instruction.ReturnInstruction;
import java.lang.classfile.instruction.StackInstruction;
import java.lang.classfile.instruction.StoreInstruction;
import java.lang.classfile.instruction.SwitchCase;
import java.lang.classfile.instruction.TableSwitchInstruction;
import java.lang.constant.ClassDesc;
import java.lang.constant.MethodTypeDesc;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Translates one kernel method, with every method it calls inlined, into the declarations and body of a C kernel
 * function. Control flow becomes labels and gotos; values on the JVM stack stay C expressions until a branch,
 * a store that would change what they read, or a second use forces them into a temporary.
 */
final class Translator {
    static final String KERNEL_MATH = "io.sparge4j.kernels.KernelMath";
    private static final String ARRAYS = "io.sparge4j.kernels.types.arrays.";

    /** Names the generated code must not use for variables. */
    private static final Set<String> RESERVED = Set.of("auto", "break", "case", "char", "const", "continue",
            "default", "do", "double", "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long",
            "register", "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
            "union", "unsigned", "void", "volatile", "while", "bool", "true", "false", "half", "uint", "ulong",
            "ushort", "uchar", "new", "delete", "this", "class", "template", "typename", "namespace", "operator",
            "private", "public", "protected", "friend", "virtual", "global", "local", "constant", "kernel",
            "exp", "log", "sqrt", "rsqrt", "tanh", "sin", "cos", "pow", "fma", "fmax", "fmin", "fabs", "fmod", "max",
            "min", "abs", "expf", "logf", "sqrtf", "rsqrtf", "tanhf", "sinf", "cosf", "powf", "fmaf", "fmaxf", "fminf",
            "fabsf", "fmodf", "barrier", "threadIdx", "blockIdx", "blockDim", "gridDim", "warpSize", "sp_scratch",
            "sp_llid", "as_int", "as_float", "asm", "main", "vector", "complex", "imaginary", "std", "printf");

    private final CSyntax c;
    private final DeviceFeatures features;
    private final StringBuilder body = new StringBuilder();
    /** Scalar declarations at the top of the kernel: name to type. */
    private final Map<String, JType> declarations = new LinkedHashMap<>();
    private final List<ArrayRef> localArrays = new ArrayList<>();
    private final List<ArrayRef> privateArrays = new ArrayList<>();
    private final Set<String> usedNames = new HashSet<>(RESERVED);
    final Set<LibraryFunction> used = EnumSet.noneOf(LibraryFunction.class);
    /** Key material: every translated method's identity and bytecode hash, folded constants. */
    final Set<String> keyParts = new LinkedHashSet<>();
    private final Deque<Frame> frames = new ArrayDeque<>();
    private final Map<Class<?>, ClassModel> classModels = new HashMap<>();
    private int temps;
    private int frameIds;
    private int lastLine = Integer.MIN_VALUE;
    private Frame lastLineFrame;

    /** The kernel's generated parameters in order (pointer/size/scalar), filled by {@link #translateKernel}. */
    final List<Param> params = new ArrayList<>();
    int parallelDimensions;

    /** A generated kernel parameter. */
    record Param(String name, io.sparge4j.engine.compute.KernelParameter.Role role, int javaIndex, JType type,
            ArrayRef array) {
    }

    Translator(CSyntax syntax, DeviceFeatures features) {
        this.c = syntax;
        this.features = features;
    }

    // ---------------------------------------------------------------------------------------------- frames

    /** One method being translated (the kernel or an inlined callee). */
    private final class Frame {
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

        Frame(Class<?> owner, ClassModel classModel, MethodModel method) {
            this.owner = owner;
            this.methodName = method.methodName().stringValue();
            this.descriptor = method.methodType().stringValue();
            this.sourceFile = classModel.findAttribute(java.lang.classfile.Attributes.sourceFile())
                    .map(SourceFileAttribute::sourceFile).map(e -> e.stringValue()).orElse(null);
            this.id = frameIds++;
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
            return type == null ? d.startsWith("L") || d.startsWith("[") : kindOf(d) == type;
        }
    }

    private static JType kindOf(String descriptor) {
        return switch (descriptor) {
            case "I", "Z", "S", "B", "C" -> JType.INT;
            case "J" -> JType.LONG;
            case "F" -> JType.FLOAT;
            case "D" -> JType.DOUBLE;
            default -> null;
        };
    }

    KernelCompileException error(String reason) {
        Frame f = frames.peek();
        if (f == null) {
            return new KernelCompileException("?", "?", null, -1, -1, reason);
        }
        StringBuilder where = new StringBuilder(reason);
        boolean first = true;
        for (Frame outer : frames) {
            if (!first) {
                where.append(" (inlined into ").append(outer.javaName()).append(" line ").append(outer.line)
                        .append(')');
            }
            first = false;
        }
        return new KernelCompileException(f.owner.getName(), f.methodName, f.sourceFile, f.pc, f.line,
                where.toString());
    }

    // -------------------------------------------------------------------------------------------- helpers

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

    private String newTemp(JType type) {
        String name = "t" + temps++;
        while (usedNames.contains(name)) {
            name = "t" + temps++;
        }
        usedNames.add(name);
        declarations.put(name, type);
        return name;
    }

    private String pendingComment;

    private void emit(String statement) {
        flushComment();
        body.append("    ").append(statement).append('\n');
    }

    /** Line comments are written only before a statement, so lines that emit nothing leave no comment. */
    private void flushComment() {
        if (pendingComment != null) {
            body.append("    // ").append(pendingComment).append('\n');
            pendingComment = null;
        }
    }

    private static Expr var(String name, JType type) {
        return new Expr(name, type, Set.of(name), false, null, null);
    }

    private Expr constant(Object value) {
        return switch (value) {
            case Integer i -> new Expr(c.intLiteral(i), JType.INT, Set.of(), false, i, null);
            case Long l -> new Expr(c.longLiteral(l), JType.LONG, Set.of(), false, l, null);
            case Float f -> new Expr(c.floatLiteral(f), JType.FLOAT, Set.of(), false, f, null);
            case Double d -> {
                requireFp64("a double constant");
                yield new Expr(c.doubleLiteral(d), JType.DOUBLE, Set.of(), false, d, null);
            }
            default -> throw error("the constant " + value + " (" + value.getClass().getSimpleName()
                    + ") is not supported in kernels; use int, long, float or double constants");
        };
    }

    private static Expr op(String code, JType type, Expr... parts) {
        Set<String> vars = new TreeSet<>();
        boolean memory = false;
        for (Expr p : parts) {
            vars.addAll(p.vars());
            memory |= p.readsMemory();
        }
        return new Expr(code, type, vars, memory, null, null);
    }

    private Expr materialize(Expr e) {
        if (e.atomic() && e.compare() == null) {
            return e;
        }
        String t = newTemp(e.type());
        emit(t + " = " + text(e) + ";");
        return var(t, e.type());
    }

    /** The C text of a value, a comparison result spelt out as -1, 0 or 1. */
    private String text(Expr e) {
        Compare cmp = e.compare();
        if (cmp == null) {
            return e.code();
        }
        String l = cmp.left().code();
        String r = cmp.right().code();
        String ordered = "((" + l + " > " + r + ") - (" + l + " < " + r + "))";
        if (cmp.nanResult() == 0) {
            return ordered;
        }
        return "((" + l + " != " + l + " || " + r + " != " + r + ") ? " + cmp.nanResult() + " : " + ordered + ")";
    }

    /** Whether the kernel uses doubles (OpenCL then needs the cl_khr_fp64 pragma). */
    boolean usesDouble;

    private void requireFp64(String what) {
        usesDouble = true;
        if (!features.fp64()) {
            throw error("uses " + what + " but the device has no double precision (fp64): use float");
        }
    }

    private Expr expr(Value v, String what) {
        if (v instanceof Expr e) {
            return e;
        }
        throw error("expected a primitive value for " + what + " but found an object reference");
    }

    private ArrayRef array(Value v, String what) {
        if (v instanceof ArrayRef a) {
            return a;
        }
        throw error("expected an array for " + what + "; kernels can use only kernel arrays, local arrays and "
                + "private primitive arrays");
    }

    private static Value pop(List<Value> stack) {
        return stack.remove(stack.size() - 1);
    }

    /** Before a store to C variable {@code name}: values on the stack that read it are copied first. */
    private void spillReading(List<Value> stack, String name) {
        for (int i = 0; i < stack.size(); i++) {
            if (stack.get(i) instanceof Expr e && e.vars().contains(name)) {
                stack.set(i, materialize(e));
            }
        }
    }

    /** Before a memory write or a call: values on the stack that read memory are evaluated first. */
    private void spillMemory(List<Value> stack) {
        for (int i = 0; i < stack.size(); i++) {
            if (stack.get(i) instanceof Expr e && e.readsMemory()) {
                stack.set(i, materialize(e));
            }
        }
    }

    private String stackTemp(Frame f, int depth, JType type) {
        String name = "st" + depth + type.letter + (f.id == 0 ? "" : "_" + f.id);
        if (!declarations.containsKey(name)) {
            usedNames.add(name);
            declarations.put(name, type);
        }
        return name;
    }

    /**
     * At a block boundary, puts every stack value into the stack temporary of its depth (and kind), so the blocks
     * meeting at a label agree on where values are. Pending expressions (a branch condition) are kept valid.
     */
    private List<Expr> spillForBranch(Frame f, List<Value> stack, List<Expr> pending) {
        Set<String> assigned = new HashSet<>();
        for (int d = 0; d < stack.size(); d++) {
            if (stack.get(d) instanceof Expr e) {
                String name = stackTemp(f, d, e.type());
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
                    stack.set(d, materialize(e));
                }
            }
        }
        List<Expr> safePending = new ArrayList<>();
        for (Expr p : pending) {
            boolean reads = false;
            for (String a : assigned) {
                reads |= p.vars().contains(a);
            }
            safePending.add(reads ? materialize(p) : p);
        }
        for (int d = 0; d < stack.size(); d++) {
            if (stack.get(d) instanceof Expr e) {
                String name = stackTemp(f, d, e.type());
                if (!e.code().equals(name)) {
                    emit(name + " = " + text(e) + ";");
                }
                stack.set(d, var(name, e.type()));
            }
        }
        return safePending;
    }

    private void recordShape(Frame f, int target, List<Value> stack) {
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
            throw error("control flow joins with different arrays or stack contents (e.g. a ternary choosing "
                    + "between two arrays); choose the index instead of the array");
        }
    }

    /** The C variable for a slot at an offset: one per Java variable (slot, kind and name). */
    private String varName(Frame f, int slot, JType type, int pc) {
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
                requireFp64("a double variable");
            }
            name = uniqueName(javaName);
            f.scopedNames.put(scopedKey, name);
            declarations.put(name, type);
        }
        return name;
    }

    private static JType typeOf(TypeKind kind) {
        return switch (kind) {
            case INT, BOOLEAN -> JType.INT;
            case LONG -> JType.LONG;
            case FLOAT -> JType.FLOAT;
            case DOUBLE -> JType.DOUBLE;
            case SHORT -> JType.SHORT;
            case BYTE -> JType.BYTE;
            case CHAR -> JType.CHAR;
            default -> null;
        };
    }

    private static JType typeOf(ClassDesc desc) {
        return kindOf(desc.descriptorString());
    }

    // ------------------------------------------------------------------------------------ class loading

    ClassModel classModel(Class<?> type) {
        return classModels.computeIfAbsent(type, t -> {
            String resource = t.getName().substring(t.getName().lastIndexOf('.') + 1) + ".class";
            try (InputStream in = t.getResourceAsStream(resource)) {
                if (in == null) {
                    throw error("cannot read the bytecode of " + t.getName() + " (no " + resource + " resource)");
                }
                return ClassFile.of().parse(in.readAllBytes());
            } catch (IOException e) {
                throw error("cannot read the bytecode of " + t.getName() + ": " + e.getMessage());
            }
        });
    }

    private MethodModel findMethod(Class<?> owner, String name, String descriptor) {
        for (MethodModel m : classModel(owner).methods()) {
            if (m.methodName().stringValue().equals(name) && m.methodType().stringValue().equals(descriptor)) {
                return m;
            }
        }
        throw error("cannot find " + owner.getName() + "." + name + descriptor + " in its class file");
    }

    private Class<?> loadClass(ClassDesc desc) {
        String name = desc.descriptorString();
        name = name.substring(1, name.length() - 1).replace('/', '.');
        Class<?> from = frames.isEmpty() ? Translator.class : frames.peek().owner;
        try {
            return Class.forName(name, false, from.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw error("cannot load class " + name + " from the kernel's class loader");
        }
    }

    // ------------------------------------------------------------------------------------------- kernel

    /**
     * Translates the kernel method.
     *
     * @param kernel the method
     * @param constants @Constant parameter values by Java parameter index
     */
    void translateKernel(java.lang.reflect.Method kernel, Map<Integer, Integer> constants) {
        ClassModel cm = classModel(kernel.getDeclaringClass());
        MethodModel mm = findMethod(kernel.getDeclaringClass(), kernel.getName(), java.lang.invoke.MethodType
                .methodType(kernel.getReturnType(), kernel.getParameterTypes()).toMethodDescriptorString());
        Frame f = new Frame(kernel.getDeclaringClass(), cm, mm);
        frames.push(f);
        recordKey(f);
        Class<?>[] types = kernel.getParameterTypes();
        int slot = 0;
        for (int i = 0; i < types.length; i++) {
            Class<?> t = types[i];
            String javaName = t == KernelContext() ? "ctx" : f.lvtName(slot, kindOf(t.descriptorString()));
            if (t == KernelContext()) {
                f.refs.put(slot, CtxRef.INSTANCE);
            } else if (t.isPrimitive()) {
                JType type = kindOf(t.descriptorString());
                if (type == null) {
                    throw error("parameter " + i + " has type " + t + ": kernels take int, long, float, double, "
                            + "boolean, short, byte or char scalars");
                }
                if (constants.containsKey(i)) {
                    if (f.storedSlots.contains(slot)) {
                        throw error("@Constant parameter " + javaName + " is assigned in the kernel; @Constant "
                                + "parameters must not change");
                    }
                    int value = constants.get(i);
                    f.bound.put(slot + ":" + type.letter, constant(value));
                    keyParts.add("constant " + i + " = " + value);
                } else {
                    if (type == JType.DOUBLE) {
                        requireFp64("a double parameter");
                    }
                    String name = uniqueName(javaName == null ? "p" + i : javaName);
                    f.varNames.put(slot + ":" + type.letter, name);
                    params.add(new Param(name, io.sparge4j.engine.compute.KernelParameter.Role.SCALAR, i, type,
                            null));
                }
            } else {
                ArrayRef ref = globalArray(t, i);
                if (ref == null) {
                    throw error("parameter " + i + " has type " + t.getName() + ": kernels take FloatArray, "
                            + "IntArray, ByteArray, HalfFloatArray, BFloat16Array and primitives");
                }
                if (f.storedSlots.contains(slot)) {
                    throw error("array parameter " + javaName + " is reassigned; kernel array parameters must not "
                            + "change");
                }
                ref.name = uniqueName(javaName == null ? "p" + i : javaName);
                f.refs.put(slot, ref);
                params.add(new Param(ref.name, io.sparge4j.engine.compute.KernelParameter.Role.BUFFER, i,
                        ref.element, ref));
            }
            slot += t == long.class || t == double.class ? 2 : 1;
        }
        ParallelLoops parallel = types.length > 0 && types[0] == KernelContext() ? null
                : ParallelLoops.find(f.code, f.insns, f.bci, (pc, reason) -> {
                    f.pc = pc;
                    for (int k = 0; k < f.insns.size(); k++) {
                        if (f.bci[k] <= pc) {
                            f.line = f.lines[k];
                        }
                    }
                    return error(reason);
                });
        if (parallel != null && parallel.dimensions() == 0) {
            f.pc = 0;
            f.line = f.lines.length > 0 ? f.lines[0] : -1;
            throw error("has neither a KernelContext parameter nor @Parallel loops, so every work-item would run "
                    + "all of it; mark the outer loops @Parallel or take a KernelContext first");
        }
        if (parallel != null) {
            parallelDimensions = parallel.dimensions();
            for (ParallelLoops.Loop loop : parallel.loops()) {
                f.parallelStores.put(loop.storePc(), new int[] {loop.slot(), loop.dimension()});
                f.parallelIncrements.put(loop.incrementPc(), new int[] {loop.slot(), loop.dimension()});
            }
        }
        translateBody(f);
        frames.pop();
        // size parameters follow their buffers' order at the end, only for arrays whose getSize() is called
        List<Param> sizes = new ArrayList<>();
        for (Param p : params) {
            if (p.array() != null && p.array().sizeUsed) {
                sizes.add(new Param(p.name() + "_size", io.sparge4j.engine.compute.KernelParameter.Role.BUFFER_SIZE,
                        p.javaIndex(), JType.INT, null));
            }
        }
        params.addAll(sizes);
    }

    private static Class<?> KernelContext() {
        return io.sparge4j.kernels.KernelContext.class;
    }

    private static ArrayRef globalArray(Class<?> t, int javaIndex) {
        if (!t.getName().startsWith(ARRAYS)) {
            return null;
        }
        JType element = switch (t.getSimpleName()) {
            case "FloatArray" -> JType.FLOAT;
            case "IntArray" -> JType.INT;
            case "ByteArray" -> JType.BYTE;
            case "HalfFloatArray", "BFloat16Array" -> JType.SHORT;
            default -> null;
        };
        return element == null ? null : new ArrayRef(Space.GLOBAL, element, null, javaIndex, t.getSimpleName(), 0);
    }

    private void recordKey(Frame f) {
        try {
            byte[] digest = java.security.MessageDigest.getInstance("SHA-256").digest(f.code.codeArray());
            keyParts.add(f.owner.getName() + "." + f.methodName + f.descriptor + " "
                    + HexFormat.of().formatHex(digest));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    String body() {
        return body.toString();
    }

    /** @return the declarations for the top of the kernel body (local arrays, scalars, private arrays) */
    String declarationText() {
        StringBuilder out = new StringBuilder();
        for (ArrayRef a : localArrays) {
            out.append("    ").append(c.localArray(a.element, a.name, a.size)).append('\n');
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

    // ------------------------------------------------------------------------------------ method bodies

    /** Translates a frame's bytecode; returns its return value (null for void). */
    private Expr translateBody(Frame f) {
        if (!f.code.exceptionHandlers().isEmpty()) {
            int start = f.code.labelToBci(f.code.exceptionHandlers().getFirst().tryStart());
            for (int k = 0; k < f.insns.size(); k++) {
                if (f.insns.get(k).opcode() == Opcode.MONITORENTER || f.bci[k] == start) {
                    f.pc = f.bci[k];
                    f.line = f.lines[k];
                    throw error(f.insns.get(k).opcode() == Opcode.MONITORENTER ? describe(f.insns.get(k))
                            : "has exception handlers (try/catch/finally): not supported in kernels; remove them");
                }
            }
            throw error("has exception handlers (try/catch/finally): not supported in kernels; remove them");
        }
        boolean inlined = f.id != 0;
        boolean singleReturnAtEnd = f.returns == 1 && f.insns.get(f.insns.size() - 1) instanceof ReturnInstruction;
        if (inlined && !singleReturnAtEnd) {
            f.endLabel = "E" + f.id;
        }
        List<Value> stack = new ArrayList<>();
        boolean dead = false;
        Expr result = null;
        for (int k = 0; k < f.insns.size(); k++) {
            Instruction insn = f.insns.get(k);
            f.pc = f.bci[k];
            f.line = f.lines[k];
            if (f.targets.contains(f.pc)) {
                if (!dead) {
                    spillForBranch(f, stack, List.of());
                    recordShape(f, f.pc, stack);
                } else {
                    stack = new ArrayList<>(f.shapes.getOrDefault(f.pc, List.of()));
                    if (!f.shapes.containsKey(f.pc)) {
                        f.shapes.put(f.pc, List.of());
                    }
                }
                body.append(f.label(f.pc)).append(":;\n");
                dead = false;
            } else if (dead) {
                continue;
            }
            if (f.line != lastLine || f != lastLineFrame) {
                lastLine = f.line;
                lastLineFrame = f;
                pendingComment = f.line < 0 ? null : (inlined ? f.javaName() + " " : "") + "L" + f.line;
            }
            int next = k + 1 < f.insns.size() ? f.bci[k + 1] : -1;
            nextInsn = k + 1 < f.insns.size() ? f.insns.get(k + 1) : null;
            switch (insn) {
                case ReturnInstruction r -> {
                    if (r.typeKind() != TypeKind.VOID) {
                        Expr value = expr(pop(stack), "the return value");
                        if (singleReturnAtEnd) {
                            result = value;
                        } else {
                            if (f.returnVar == null) {
                                f.returnVar = newTemp(value.type());
                            }
                            emit(f.returnVar + " = " + text(value) + ";");
                        }
                    }
                    if (!inlined) {
                        if (next != -1) {
                            emit("return;");
                        }
                    } else if (!singleReturnAtEnd) {
                        emit("goto " + f.endLabel + ";");
                    }
                    dead = true;
                }
                case BranchInstruction b -> {
                    dead = branch(f, b, stack, next);
                }
                default -> instruction(f, insn, stack, next);
            }
        }
        if (f.endLabel != null) {
            body.append(f.endLabel).append(":;\n");
            if (f.returnVar != null) {
                result = var(f.returnVar, declarations.get(f.returnVar));
            }
        }
        return result;
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
    private boolean branch(Frame f, BranchInstruction b, List<Value> stack, int next) {
        int target = f.code.labelToBci(b.target());
        Opcode op = b.opcode();
        if (op == Opcode.GOTO || op == Opcode.GOTO_W) {
            spillForBranch(f, stack, List.of());
            recordShape(f, target, stack);
            if (target != next) {
                emit("goto " + f.label(target) + ";");
            }
            return true;
        }
        String cop = cmpOp(op);
        Expr condition;
        switch (op) {
            case IFEQ, IFNE, IFLT, IFGE, IFGT, IFLE -> {
                Expr v = expr(pop(stack), "a condition");
                Compare cmp = v.compare();
                if (cmp == null) {
                    condition = op("(" + v.code() + " " + cop + " 0)", JType.INT, v);
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
                    condition = op(code, JType.INT, cmp.left(), cmp.right());
                }
            }
            case IF_ICMPEQ, IF_ICMPNE, IF_ICMPLT, IF_ICMPGE, IF_ICMPGT, IF_ICMPLE -> {
                Expr r = expr(pop(stack), "a comparison");
                Expr l = expr(pop(stack), "a comparison");
                condition = op("(" + l.code() + " " + cop + " " + r.code() + ")", JType.INT, l, r);
            }
            case IF_ACMPEQ, IF_ACMPNE -> {
                Value r = pop(stack);
                Value l = pop(stack);
                boolean equal = l == r;
                condition = constant((op == Opcode.IF_ACMPEQ) == equal ? 1 : 0);
            }
            default -> throw error("compares a reference with null (" + op + "): kernel arrays are never null; "
                    + "remove the check");
        }
        condition = spillForBranch(f, stack, List.of(condition)).get(0);
        recordShape(f, target, stack);
        emit("if " + (condition.code().startsWith("(") ? condition.code() : "(" + condition.code() + ")") + " goto "
                + f.label(target) + ";");
        return false;
    }

    private void instruction(Frame f, Instruction insn, List<Value> stack, int next) {
        switch (insn) {
            case LoadInstruction l -> load(f, l, stack);
            case StoreInstruction s -> store(f, s, stack);
            case IncrementInstruction i -> increment(f, i, stack);
            case ConstantInstruction ci -> {
                Object value = ci.constantValue();
                if (ci.opcode() == Opcode.ACONST_NULL) {
                    throw error("uses null: not supported in kernels");
                }
                if (value instanceof String) {
                    throw error("uses the string constant \"" + value + "\": strings are not supported in kernels");
                }
                if (!(value instanceof Number)) {
                    throw error("loads the constant " + value + ": only numeric constants are supported in kernels");
                }
                stack.add(constant(value));
            }
            case OperatorInstruction o -> operator(o, stack);
            case ConvertInstruction cv -> convert(cv, stack);
            case StackInstruction s -> stackOp(s.opcode(), stack);
            case ArrayLoadInstruction a -> {
                Expr index = expr(pop(stack), "an array index");
                Value arrayValue = pop(stack);
                ArrayRef arr = array(arrayValue, "an array load");
                if (arr.space == Space.GLOBAL) {
                    throw error("indexes a kernel array object directly; use get/set");
                }
                stack.add(op(arr.name + "[" + index.code() + "]", arr.element.stackType(), index)
                        .withMemory());
            }
            case ArrayStoreInstruction a -> {
                Expr value = expr(pop(stack), "an array store");
                Expr index = expr(pop(stack), "an array index");
                ArrayRef arr = array(pop(stack), "an array store");
                spillMemory(stack);
                emit(arr.name + "[" + index.code() + "] = " + cast(value, arr.element) + ";");
            }
            case NewPrimitiveArrayInstruction n -> {
                Expr count = expr(pop(stack), "an array size");
                if (!(count.constant() instanceof Integer size)) {
                    throw error("allocates a private array of non-constant size " + count.code() + ": private "
                            + "arrays need a constant size (a static final int or an @Constant parameter)");
                }
                JType element = typeOf(n.typeKind());
                if (element == JType.DOUBLE) {
                    requireFp64("a double array");
                }
                ArrayRef ref = new ArrayRef(Space.PRIVATE, element, uniqueName(nextStoreName("priv")), -1, null, size);
                privateArrays.add(ref);
                String zero = element == JType.FLOAT ? "0.0f" : element == JType.DOUBLE ? "0.0" : "0";
                String i = "sp_i";
                emit((c.cuda() ? "#pragma unroll\n    " : "") + "for (int " + i + " = 0; " + i + " < " + size + "; "
                        + i + "++) " + ref.name + "[" + i + "] = " + zero + "; // Java zero-initialises new arrays");
                stack.add(ref);
            }
            case FieldInstruction fi -> field(fi, stack);
            case InvokeInstruction inv -> invoke(inv, stack);
            case TableSwitchInstruction t -> switchTo(f, expr(pop(stack), "a switch"), t.cases(), t.defaultTarget(),
                    stack);
            case LookupSwitchInstruction l -> switchTo(f, expr(pop(stack), "a switch"), l.cases(),
                    l.defaultTarget(), stack);
            case NopInstruction n -> {
            }
            default -> throw error(describe(insn));
        }
    }

    private Instruction nextInsn;

    /** The variable name the next instruction stores a new array into, for readable array names. */
    private String nextStoreName(String fallback) {
        if (nextInsn instanceof StoreInstruction s && s.typeKind() == TypeKind.REFERENCE && frames.peek() != null) {
            String name = frames.peek().lvtName(s.slot(), null);
            if (name != null) {
                return name;
            }
        }
        return fallback;
    }

    private String describe(Instruction insn) {
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

    private String cast(Expr value, JType to) {
        return switch (to) {
            case SHORT, BYTE, CHAR -> "(" + c.type(to) + ")" + value.code();
            default -> text(value);
        };
    }

    private void switchTo(Frame f, Expr key, List<SwitchCase> cases, Label defaultTarget, List<Value> stack) {
        key = spillForBranch(f, stack, List.of(key)).get(0);
        StringBuilder s = new StringBuilder("switch (" + key.code() + ") {");
        for (SwitchCase sc : cases) {
            int target = f.code.labelToBci(sc.target());
            recordShape(f, target, stack);
            s.append(" case ").append(c.intLiteral(sc.caseValue())).append(": goto ").append(f.label(target))
                    .append(';');
        }
        int target = f.code.labelToBci(defaultTarget);
        recordShape(f, target, stack);
        s.append(" default: goto ").append(f.label(target)).append("; }");
        emit(s.toString());
    }

    // ------------------------------------------------------------------------------------- locals

    private void load(Frame f, LoadInstruction l, List<Value> stack) {
        JType type = typeOf(l.typeKind());
        if (type == null) {
            Value ref = f.refs.get(l.slot());
            if (ref == null) {
                throw error("reads an object variable (slot " + l.slot() + ") that is not a kernel array, local "
                        + "array, private array or the KernelContext");
            }
            stack.add(ref);
            return;
        }
        Expr bound = f.bound.get(l.slot() + ":" + type.letter);
        if (bound != null) {
            stack.add(bound);
            return;
        }
        stack.add(var(varName(f, l.slot(), type, f.pc), type));
    }

    private void store(Frame f, StoreInstruction s, List<Value> stack) {
        JType type = typeOf(s.typeKind());
        Value v = pop(stack);
        if (type == null) {
            f.refs.put(s.slot(), v);
            return;
        }
        Expr value = expr(v, "a store");
        String name = varName(f, s.slot(), type, f.pc + s.sizeInBytes());
        spillReading(stack, name);
        int[] parallel = f.id == 0 ? f.parallelStores.get(f.pc) : null;
        if (parallel != null) {
            emit(name + " = " + value.code() + " + " + c.globalId(parallel[1]) + "; // @Parallel: grid-stride over "
                    + "xyz".charAt(parallel[1]));
            return;
        }
        if (!value.code().equals(name)) {
            emit(name + " = " + text(value) + ";");
        }
    }

    private void increment(Frame f, IncrementInstruction i, List<Value> stack) {
        String name = varName(f, i.slot(), JType.INT, f.pc);
        spillReading(stack, name);
        int[] parallel = f.id == 0 ? f.parallelIncrements.get(f.pc) : null;
        if (parallel != null) {
            emit(name + " += " + c.globalSize(parallel[1]) + ";");
            return;
        }
        emit(i.constant() == 1 ? name + "++;" : i.constant() == -1 ? name + "--;"
                : name + " += " + c.intLiteral(i.constant()) + ";");
    }

    // ------------------------------------------------------------------------------------- operators

    private void operator(OperatorInstruction o, List<Value> stack) {
        Opcode op = o.opcode();
        JType type = typeOf(o.typeKind());
        if (type == JType.DOUBLE) {
            requireFp64("double arithmetic");
        }
        switch (op) {
            case INEG, LNEG, FNEG, DNEG -> {
                Expr a = expr(pop(stack), "a negation");
                stack.add(op("(-" + a.code() + ")", type, a));
                return;
            }
            case ARRAYLENGTH -> {
                ArrayRef a = array(pop(stack), "arraylength");
                if (a.space == Space.GLOBAL) {
                    throw error(describe(o));
                }
                stack.add(constant(a.size));
                return;
            }
            default -> {
            }
        }
        Expr b = expr(pop(stack), "an operator");
        Expr a = expr(pop(stack), "an operator");
        switch (op) {
            case LCMP -> stack.add(new Expr("lcmp", JType.INT, union(a, b), a.readsMemory() || b.readsMemory(), null,
                    new Compare(a, b, 0)));
            case FCMPL, DCMPL -> stack.add(new Expr("fcmp", JType.INT, union(a, b),
                    a.readsMemory() || b.readsMemory(), null, new Compare(a, b, -1)));
            case FCMPG, DCMPG -> stack.add(new Expr("fcmp", JType.INT, union(a, b),
                    a.readsMemory() || b.readsMemory(), null, new Compare(a, b, 1)));
            case IREM, LREM, FREM, DREM -> {
                if (type == JType.FLOAT || type == JType.DOUBLE) {
                    String fn = type == JType.FLOAT ? c.floatFunction("rem") : c.doubleRemainder();
                    stack.add(op(fn + "(" + a.code() + ", " + b.code() + ")", type, a, b));
                } else {
                    stack.add(fold(a, b, "%", type));
                }
            }
            case ISHL, LSHL, ISHR, LSHR -> {
                String shift = shiftAmount(b, type);
                String sym = op == Opcode.ISHL || op == Opcode.LSHL ? "<<" : ">>";
                Expr folded = foldShift(a, b, op);
                stack.add(folded != null ? folded : op("(" + a.code() + " " + sym + " " + shift + ")", type, a, b));
            }
            case IUSHR, LUSHR -> {
                Expr folded = foldShift(a, b, op);
                stack.add(folded != null ? folded
                        : op(c.unsignedShiftRight(a.code(), shiftAmount(b, type), type), type, a, b));
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
                    default -> throw error("uses the bytecode " + op.name().toLowerCase()
                            + ", which kernels do not support");
                };
                stack.add(fold(a, b, sym, type));
            }
        }
    }

    private static Set<String> union(Expr a, Expr b) {
        Set<String> s = new TreeSet<>(a.vars());
        s.addAll(b.vars());
        return s;
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
            return constant(switch (op) {
                case ISHL -> x << s;
                case ISHR -> x >> s;
                default -> x >>> s;
            });
        }
        if (a.constant() instanceof Long x) {
            return constant(switch (op) {
                case LSHL -> x << s;
                case LSHR -> x >> s;
                default -> x >>> s;
            });
        }
        return null;
    }

    private Expr fold(Expr a, Expr b, String sym, JType type) {
        if (a.constant() instanceof Integer x && b.constant() instanceof Integer y
                && !((sym.equals("/") || sym.equals("%")) && y == 0)) {
            return constant(switch (sym) {
                case "+" -> x + y;
                case "-" -> x - y;
                case "*" -> x * y;
                case "/" -> x / y;
                case "%" -> x % y;
                case "&" -> x & y;
                case "|" -> x | y;
                default -> x ^ y;
            });
        }
        if (a.constant() instanceof Long x && b.constant() instanceof Long y
                && !((sym.equals("/") || sym.equals("%")) && y == 0)) {
            return constant(switch (sym) {
                case "+" -> x + y;
                case "-" -> x - y;
                case "*" -> x * y;
                case "/" -> x / y;
                case "%" -> x % y;
                case "&" -> x & y;
                case "|" -> x | y;
                default -> x ^ y;
            });
        }
        return op("(" + a.code() + " " + sym + " " + b.code() + ")", type, a, b);
    }

    private void convert(ConvertInstruction cv, List<Value> stack) {
        Expr a = expr(pop(stack), "a conversion");
        JType from = typeOf(cv.fromType());
        JType to = typeOf(cv.toType());
        if (from == JType.DOUBLE || to == JType.DOUBLE) {
            requireFp64("a conversion to or from double");
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
            stack.add(constant(folded));
            return;
        }
        String code = switch (to) {
            case SHORT, BYTE, CHAR -> "((int)(" + c.type(to) + ")" + a.code() + ")";
            case INT, LONG -> from == JType.FLOAT || from == JType.DOUBLE ? c.saturatingConvert(a.code(), from, to)
                    : "((" + c.type(to) + ")" + a.code() + ")";
            default -> "((" + c.type(to) + ")" + a.code() + ")";
        };
        stack.add(op(code, to.stackType(), a));
    }

    private void stackOp(Opcode op, List<Value> stack) {
        switch (op) {
            case POP -> pop(stack);
            case POP2 -> {
                Value v = pop(stack);
                if (!(v instanceof Expr e && e.type().wide())) {
                    pop(stack);
                }
            }
            case SWAP -> {
                Value b = pop(stack);
                Value a = pop(stack);
                stack.add(b);
                stack.add(a);
            }
            case DUP -> stack.add(shareable(stack, stack.size() - 1));
            case DUP_X1 -> {
                Value v1 = shareable(stack, stack.size() - 1);
                stack.add(stack.size() - 2, v1);
            }
            case DUP_X2 -> {
                Value v1 = shareable(stack, stack.size() - 1);
                Value v2 = stack.get(stack.size() - 2);
                stack.add(stack.size() - (wide(v2) ? 2 : 3), v1);
            }
            case DUP2 -> {
                Value v1 = shareable(stack, stack.size() - 1);
                if (wide(v1)) {
                    stack.add(v1);
                } else {
                    Value v2 = shareable(stack, stack.size() - 2);
                    stack.add(v2);
                    stack.add(v1);
                }
            }
            case DUP2_X1 -> {
                Value v1 = shareable(stack, stack.size() - 1);
                if (wide(v1)) {
                    stack.add(stack.size() - 2, v1);
                } else {
                    Value v2 = shareable(stack, stack.size() - 2);
                    stack.add(stack.size() - 3, v2);
                    stack.add(stack.size() - 3, v1);
                }
            }
            default -> throw error("uses the stack operation " + op.name().toLowerCase()
                    + ", which the kernel JIT does not support");
        }
    }

    private static boolean wide(Value v) {
        return v instanceof Expr e && e.type().wide();
    }

    /** A value about to be used twice: a temporary unless it is a variable or constant. */
    private Value shareable(List<Value> stack, int index) {
        Value v = stack.get(index);
        if (v instanceof Expr e && !(e.atomic() && e.compare() == null)) {
            Expr m = materialize(e);
            stack.set(index, m);
            return m;
        }
        return v;
    }

    // ------------------------------------------------------------------------------------------ fields

    private void field(FieldInstruction fi, List<Value> stack) {
        String owner = fi.owner().asInternalName().replace('/', '.');
        String name = fi.name().stringValue();
        switch (fi.opcode()) {
            case GETFIELD -> {
                Value receiver = pop(stack);
                if (receiver == CtxRef.INSTANCE) {
                    String code = c.contextField(name);
                    if (code != null) {
                        stack.add(new Expr(code, JType.INT, Set.of(), false, null, null));
                        return;
                    }
                }
                throw error("reads the field " + owner + "." + name + ": kernels may read only KernelContext ids and "
                        + "sizes and static final constants");
            }
            case GETSTATIC -> {
                Class<?> cls = loadClass(fi.owner().asSymbol());
                try {
                    Field field = findField(cls, name);
                    JType type = kindOf(fi.typeSymbol().descriptorString());
                    if (field == null || !Modifier.isFinal(field.getModifiers()) || type == null) {
                        throw error("reads the static field " + owner + "." + name + ": kernels may read only "
                                + "static final primitive constants");
                    }
                    field.setAccessible(true);
                    Object value = field.get(null);
                    if (value instanceof Boolean bool) {
                        value = bool ? 1 : 0;
                    } else if (value instanceof Short || value instanceof Byte) {
                        value = ((Number) value).intValue();
                    } else if (value instanceof Character ch) {
                        value = (int) ch;
                    }
                    keyParts.add("static " + owner + "." + name + " = " + value);
                    stack.add(constant(value));
                } catch (ReflectiveOperationException | RuntimeException e) {
                    if (e instanceof KernelCompileException k) {
                        throw k;
                    }
                    throw error("cannot read the static field " + owner + "." + name + ": " + e);
                }
            }
            default -> throw error("writes the field " + owner + "." + name + " (" + fi.opcode().name().toLowerCase()
                    + "): kernels cannot write fields; write to a kernel array");
        }
    }

    private static Field findField(Class<?> cls, String name) {
        for (Class<?> k = cls; k != null; k = k.getSuperclass()) {
            try {
                return k.getDeclaredField(name);
            } catch (NoSuchFieldException e) {
                // look in the superclass
            }
        }
        return null;
    }

    // ----------------------------------------------------------------------------------------- invokes

    private void invoke(InvokeInstruction inv, List<Value> stack) {
        String owner = inv.owner().asInternalName().replace('/', '.');
        String name = inv.name().stringValue();
        MethodTypeDesc type = inv.typeSymbol();
        List<Value> args = new ArrayList<>();
        for (int i = 0; i < type.parameterCount(); i++) {
            args.add(0, pop(stack));
        }
        Value receiver = inv.opcode() == Opcode.INVOKESTATIC ? null : pop(stack);
        spillMemory(stack);
        Expr result;
        if (inv.opcode() == Opcode.INVOKEINTERFACE) {
            throw error("calls the interface method " + owner + "." + name + ": not supported in kernels");
        }
        if (receiver == CtxRef.INSTANCE) {
            result = contextCall(name, type, args);
        } else if (receiver instanceof ArrayRef a && a.space == Space.GLOBAL) {
            result = arrayCall(a, name, args);
        } else if (receiver != null) {
            throw error("calls the instance method " + owner + "." + name + ": kernels may call only static methods, "
                    + "KernelContext methods and kernel array get/set/getSize");
        } else {
            result = staticCall(owner, name, type, inv, args);
        }
        if (result == REF_MARKER) {
            stack.add(pendingRef);
        } else if (result != null) {
            stack.add(result);
        } else if (!type.returnType().descriptorString().equals("V")) {
            throw error("internal: no value for " + owner + "." + name);
        }
    }

    private String signature(String owner, String name, MethodTypeDesc type) {
        StringBuilder s = new StringBuilder(owner + "." + name + "(");
        for (int i = 0; i < type.parameterCount(); i++) {
            s.append(i == 0 ? "" : ", ").append(type.parameterType(i).displayName());
        }
        return s.append(")").toString();
    }

    private Expr staticCall(String owner, String name, MethodTypeDesc type, InvokeInstruction inv, List<Value> args) {
        String desc = type.descriptorString();
        if (owner.equals(KERNEL_MATH)) {
            switch (name + desc) {
                case "exp(F)F", "log(F)F", "sqrt(F)F", "rsqrt(F)F", "tanh(F)F", "sin(F)F", "cos(F)F", "abs(F)F",
                     "pow(FF)F", "max(FF)F", "min(FF)F", "fma(FFF)F" -> {
                    return call(c.floatFunction(name), JType.FLOAT, args);
                }
                case "max(II)I", "min(II)I" -> {
                    return call(c.intMax(name.equals("max")), JType.INT, args);
                }
                case "halfToFloat(S)F" -> {
                    return library(LibraryFunction.HALF_TO_FLOAT, JType.FLOAT, args);
                }
                case "floatToHalf(F)S" -> {
                    return library(LibraryFunction.FLOAT_TO_HALF, JType.INT, args);
                }
                default -> {
                    return inline(loadClass(inv.owner().asSymbol()), name, desc, args, null);
                }
            }
        }
        if (owner.equals("java.lang.Float")) {
            switch (name + desc) {
                case "floatToRawIntBits(F)I", "floatToIntBits(F)I" -> {
                    Expr a = expr(args.get(0), "floatToRawIntBits");
                    return op(c.bitsFromFloat(a.code()), JType.INT, a);
                }
                case "intBitsToFloat(I)F" -> {
                    Expr a = expr(args.get(0), "intBitsToFloat");
                    return op(c.floatFromBits(a.code()), JType.FLOAT, a);
                }
                case "float16ToFloat(S)F" -> {
                    return library(LibraryFunction.HALF_TO_FLOAT, JType.FLOAT, args);
                }
                case "floatToFloat16(F)S" -> {
                    return library(LibraryFunction.FLOAT_TO_HALF, JType.INT, args);
                }
                default -> {
                }
            }
        }
        if (owner.equals("java.lang.Math") || owner.equals("java.lang.StrictMath")) {
            switch (name + desc) {
                case "fma(FFF)F", "max(FF)F", "min(FF)F", "abs(F)F" -> {
                    return call(c.floatFunction(name), JType.FLOAT, args);
                }
                case "max(II)I", "min(II)I" -> {
                    return call(c.intMax(name.equals("max")), JType.INT, args);
                }
                case "abs(I)I" -> {
                    Expr a = expr(args.get(0), "abs");
                    return op("((int)" + c.intAbs() + "(" + a.code() + "))", JType.INT, a); // OpenCL's abs is unsigned
                }
                default -> {
                }
            }
        }
        if (owner.startsWith("java.") || owner.startsWith("javax.") || owner.startsWith("jdk.")
                || owner.startsWith("sun.") || owner.startsWith("com.sun.")) {
            String hint = KERNEL_MATH_FLOAT.contains(name)
                    ? "use KernelMath." + name + "(float)" : "use KernelMath or plain arithmetic";
            throw error("calls " + signature(owner, name, type) + ": not supported in kernels; " + hint);
        }
        return inline(loadClass(inv.owner().asSymbol()), name, desc, args, null);
    }

    private static final Set<String> KERNEL_MATH_FLOAT = Set.of("exp", "log", "sqrt", "tanh", "sin", "cos", "pow",
            "max", "min", "abs", "fma");

    private Expr call(String function, JType type, List<Value> args) {
        List<Expr> exprs = new ArrayList<>();
        StringBuilder s = new StringBuilder(function).append('(');
        for (int i = 0; i < args.size(); i++) {
            Expr e = expr(args.get(i), function);
            exprs.add(e);
            s.append(i == 0 ? "" : ", ").append(text(e));
        }
        return op(s.append(')').toString(), type, exprs.toArray(Expr[]::new));
    }

    private Expr library(LibraryFunction function, JType type, List<Value> args) {
        used.add(function);
        return call(function.cName(), type, args);
    }

    /** A collective or side-effecting library call, as a statement (its result in a fresh temporary). */
    private Expr libraryStatement(LibraryFunction function, JType resultType, List<String> args) {
        used.add(function);
        List<String> all = new ArrayList<>(args);
        if (function.collective()) {
            all.add("sp_scratch");
            all.add("sp_llid");
        }
        String call = function.cName() + "(" + String.join(", ", all) + ")";
        if (resultType == null) {
            emit(call + ";");
            return null;
        }
        String t = newTemp(resultType);
        emit(t + " = " + call + ";");
        return var(t, resultType);
    }

    private String pointer(ArrayRef a, Expr offset) {
        return offset.constant() instanceof Integer k && k == 0 ? a.name : "(" + a.name + " + " + offset.code() + ")";
    }

    private Expr contextCall(String name, MethodTypeDesc type, List<Value> args) {
        String desc = type.descriptorString();
        switch (name + desc) {
            case "localBarrier()V" -> {
                emit(c.localBarrier());
                return null;
            }
            case "globalBarrier()V" -> {
                emit(c.globalBarrier());
                return null;
            }
            case "allocateFloatLocalArray(I)[F" -> {
                return localArray(JType.FLOAT, args);
            }
            case "allocateIntLocalArray(I)[I" -> {
                return localArray(JType.INT, args);
            }
            case "allocateHalfFloatLocalArray(I)[S", "allocateBFloat16LocalArray(I)[S" -> {
                return localArray(JType.SHORT, args);
            }
            case "simdGroupSize()I" -> {
                // the device library runs 32-wide sub-groups on every path (native warps or emulated), whatever
                // the device's native width, so lane arithmetic must agree with it
                return constant(io.sparge4j.engine.jit.lib.DeviceLibrary.SUB_GROUP_WIDTH);
            }
            case "simdSum(F)F" -> {
                return libraryStatement(LibraryFunction.SIMD_SUM, JType.FLOAT,
                        List.of(text(expr(args.get(0), "simdSum"))));
            }
            case "simdBroadcastFirst(F)F" -> {
                return libraryStatement(LibraryFunction.SIMD_BROADCAST_FIRST, JType.FLOAT,
                        List.of(text(expr(args.get(0), "simdBroadcastFirst"))));
            }
            case "simdShuffleDown(FI)F" -> {
                return libraryStatement(LibraryFunction.SIMD_SHUFFLE_DOWN, JType.FLOAT,
                        List.of(text(expr(args.get(0), "simdShuffleDown")), text(expr(args.get(1), "delta"))));
            }
            default -> {
            }
        }
        if (name.equals("atomicAdd")) {
            ArrayRef a = array(args.get(0), "atomicAdd");
            Expr index = expr(args.get(1), "atomicAdd index");
            Expr value = expr(args.get(2), "atomicAdd value");
            LibraryFunction fn = switch (a.space) {
                case GLOBAL -> a.element == JType.FLOAT ? LibraryFunction.ATOMIC_ADD_GLOBAL_FLOAT
                        : LibraryFunction.ATOMIC_ADD_GLOBAL_INT;
                case LOCAL -> LibraryFunction.ATOMIC_ADD_LOCAL_INT;
                case PRIVATE -> null;
            };
            if (fn == null) {
                emit(a.name + "[" + index.code() + "] += " + value.code() + "; // atomicAdd on a private array");
                return null;
            }
            return libraryStatement(fn, null, List.of(a.name, text(index), text(value)));
        }
        if ((name.equals("mma16x8x16F16") || name.equals("mma16x8x16BF16")) && args.size() == 9) {
            ArrayRef a = array(args.get(0), name);
            ArrayRef b = array(args.get(3), name);
            ArrayRef cc = array(args.get(6), name);
            if (a.space != Space.LOCAL || b.space != Space.LOCAL || cc.space != Space.LOCAL) {
                throw error(name + " needs local arrays (ctx.allocate...LocalArray) for A, B and C; use the "
                        + "fragment-level mmaLoadA/mmaLoadB/mmaF16 for private accumulators");
            }
            LibraryFunction fn = name.endsWith("BF16") ? LibraryFunction.MMA_TILE_BF16 : LibraryFunction.MMA_TILE_F16;
            return libraryStatement(fn, null, List.of(pointer(a, expr(args.get(1), "aOffset")),
                    text(expr(args.get(2), "lda")), pointer(b, expr(args.get(4), "bOffset")),
                    text(expr(args.get(5), "ldb")), pointer(cc, expr(args.get(7), "cOffset")),
                    text(expr(args.get(8), "ldc"))));
        }
        if ((name.equals("mmaF16") || name.equals("mmaBF16")) && args.size() == 6) {
            ArrayRef a = array(args.get(0), name);
            ArrayRef b = array(args.get(2), name);
            ArrayRef cc = array(args.get(4), name);
            if (a.space != Space.PRIVATE || b.space != Space.PRIVATE || cc.space != Space.PRIVATE) {
                throw error(name + " takes fragments in private arrays (new short[...], new float[...]); load them "
                        + "from local tiles with ctx.mmaLoadA/mmaLoadB");
            }
            LibraryFunction fn = name.equals("mmaBF16") ? LibraryFunction.MMA_BF16 : LibraryFunction.MMA_F16;
            return libraryStatement(fn, null, List.of(pointer(a, expr(args.get(1), "aOffset")),
                    pointer(b, expr(args.get(3), "bOffset")), pointer(cc, expr(args.get(5), "cOffset"))));
        }
        java.lang.reflect.Method m = contextMethod(name, type);
        if (m != null && Modifier.isFinal(m.getModifiers()) && !Modifier.isStatic(m.getModifiers())) {
            return inline(KernelContext(), name, desc, args, CtxRef.INSTANCE);
        }
        throw error("calls KernelContext." + name + desc + ", which the kernel JIT does not support");
    }

    private java.lang.reflect.Method contextMethod(String name, MethodTypeDesc type) {
        for (java.lang.reflect.Method m : KernelContext().getDeclaredMethods()) {
            if (m.getName().equals(name) && java.lang.invoke.MethodType.methodType(m.getReturnType(),
                    m.getParameterTypes()).toMethodDescriptorString().equals(type.descriptorString())) {
                return m;
            }
        }
        return null;
    }

    private Expr localArray(JType element, List<Value> args) {
        Expr size = expr(args.get(0), "a local array size");
        if (!(size.constant() instanceof Integer n) || n <= 0) {
            throw error("allocates a local array of non-constant or non-positive size " + size.code() + ": local "
                    + "arrays need a constant size (a static final int or an @Constant parameter)");
        }
        ArrayRef ref = new ArrayRef(Space.LOCAL, element, uniqueName(nextStoreName("local")), -1, null, n);
        localArrays.add(ref);
        return pushRef(ref);
    }

    /** Local arrays are returned through this hook because {@link #invoke} pushes Exprs only. */
    private Expr pushRef(ArrayRef ref) {
        pendingRef = ref;
        return REF_MARKER;
    }

    private ArrayRef pendingRef;
    private static final Expr REF_MARKER = new Expr("<ref>", JType.INT, Set.of(), false, null, null);

    private Expr arrayCall(ArrayRef a, String name, List<Value> args) {
        boolean half = a.arrayClass.equals("HalfFloatArray");
        boolean bf16 = a.arrayClass.equals("BFloat16Array");
        switch (name) {
            case "getSize" -> {
                a.sizeUsed = true;
                return var(a.name + "_size", JType.INT);
            }
            case "get" -> {
                Expr index = expr(args.get(0), "get index");
                Expr element = op(a.name + "[" + index.code() + "]", a.element.stackType(), index).withMemory();
                if (half) {
                    return library(LibraryFunction.HALF_TO_FLOAT, JType.FLOAT, List.of(element));
                }
                if (bf16) {
                    return inline(io.sparge4j.kernels.KernelMath.class, "bfloat16ToFloat", "(S)F", List.of(element),
                            null);
                }
                return element;
            }
            case "getHalfBits" -> {
                Expr index = expr(args.get(0), "getHalfBits index");
                return op(a.name + "[" + index.code() + "]", JType.INT, index).withMemory();
            }
            case "set", "setHalfBits" -> {
                Expr index = expr(args.get(0), name + " index");
                Expr value = expr(args.get(1), name + " value");
                String stored;
                if (name.equals("set") && half) {
                    used.add(LibraryFunction.FLOAT_TO_HALF);
                    stored = LibraryFunction.FLOAT_TO_HALF.cName() + "(" + text(value) + ")";
                } else if (name.equals("set") && bf16) {
                    stored = "(short)" + inline(io.sparge4j.kernels.KernelMath.class, "floatToBFloat16", "(F)S",
                            List.of(value), null).code();
                } else {
                    stored = cast(value, a.element);
                }
                emit(a.name + "[" + index.code() + "] = " + stored + ";");
                return null;
            }
            default -> throw error("calls " + a.arrayClass + "." + name + ": kernels may call only get, set, "
                    + "getHalfBits, setHalfBits and getSize on kernel arrays");
        }
    }

    // -------------------------------------------------------------------------------------- inlining

    private Expr inline(Class<?> owner, String name, String desc, List<Value> args, Value receiver) {
        for (Frame f : frames) {
            if (f.owner == owner && f.methodName.equals(name) && f.descriptor.equals(desc)) {
                throw error("calls " + owner.getSimpleName() + "." + name + " recursively: recursion is not "
                        + "supported in kernels; write a loop");
            }
        }
        if (frames.size() > 32) {
            throw error("inlines calls more than 32 deep; flatten the helpers");
        }
        MethodModel method = findMethod(owner, name, desc);
        boolean isStatic = method.flags().has(java.lang.reflect.AccessFlag.STATIC);
        if (!isStatic && receiver == null) {
            throw error("calls the instance method " + owner.getName() + "." + name + ": not supported in kernels");
        }
        if (method.flags().has(java.lang.reflect.AccessFlag.SYNCHRONIZED)) {
            throw error("calls the synchronized method " + owner.getSimpleName() + "." + name
                    + ": not supported in kernels");
        }
        Frame f = new Frame(owner, classModel(owner), method);
        frames.push(f);
        recordKey(f);
        f.pc = 0;
        MethodTypeDesc type = MethodTypeDesc.ofDescriptor(desc);
        int slot = 0;
        if (!isStatic) {
            f.refs.put(slot++, receiver);
        }
        for (int i = 0; i < type.parameterCount(); i++) {
            Value arg = args.get(i);
            JType t = typeOf(type.parameterType(i));
            if (arg instanceof Expr e) {
                String key = slot + ":" + t.letter;
                if (!f.storedSlots.contains(slot) && (e.atomic() && e.compare() == null)
                        && !e.code().startsWith("st")) {
                    f.bound.put(key, e);
                } else {
                    String v = varName(f, slot, t, 0);
                    emit(v + " = " + text(e) + ";");
                }
            } else {
                f.refs.put(slot, arg);
            }
            slot += t != null && t.wide() ? 2 : 1;
        }
        Expr result = translateBody(f);
        frames.pop();
        if (result == REF_MARKER) {
            throw error("a helper returns an array; kernels' helpers may return primitives only");
        }
        return result;
    }
}
