package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.KernelParameter.Role;
import io.sparge4j.engine.jit.Value.ArrayRef;
import io.sparge4j.engine.jit.Value.CtxRef;
import io.sparge4j.engine.jit.Value.Space;
import io.sparge4j.kernels.KernelContext;

import java.lang.classfile.ClassModel;
import java.lang.classfile.MethodModel;
import java.lang.invoke.MethodType;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The kernel method itself: its Java parameters become the generated parameters (buffers, scalars, size
 * parameters for arrays whose getSize() is called) or folded {@code @Constant}s, its {@code @Parallel} loops
 * become grid-stride loops, then its body is translated.
 */
final class KernelEntry {
    private static final String ARRAYS = "io.sparge4j.kernels.types.arrays.";

    private final Translator t;

    KernelEntry(Translator t) {
        this.t = t;
    }

    /**
     * Translates the kernel method.
     *
     * @param kernel the method
     * @param constants @Constant parameter values by Java parameter index
     */
    void translate(Method kernel, Map<Integer, Integer> constants) {
        ClassModel cm = t.classes.classModel(kernel.getDeclaringClass());
        MethodModel mm = t.classes.findMethod(kernel.getDeclaringClass(), kernel.getName(), MethodType
                .methodType(kernel.getReturnType(), kernel.getParameterTypes()).toMethodDescriptorString());
        MethodFrame f = new MethodFrame(kernel.getDeclaringClass(), cm, mm, t.frames.nextId());
        t.frames.push(f);
        t.inliner.recordKey(f);
        Class<?>[] types = kernel.getParameterTypes();
        int slot = 0;
        for (int i = 0; i < types.length; i++) {
            Class<?> javaType = types[i];
            String javaName = javaType == KernelContext.class ? "ctx"
                    : f.lvtName(slot, JType.ofDescriptor(javaType.descriptorString()));
            if (javaType == KernelContext.class) {
                f.refs.put(slot, CtxRef.INSTANCE);
            } else if (javaType.isPrimitive()) {
                scalar(f, i, slot, javaType, javaName, constants);
            } else {
                buffer(f, i, slot, javaType, javaName);
            }
            slot += javaType == long.class || javaType == double.class ? 2 : 1;
        }
        ParallelLoops parallel = types.length > 0 && types[0] == KernelContext.class ? null
                : ParallelLoops.find(f.code, f.insns, f.bci, (pc, reason) -> {
                    f.pc = pc;
                    for (int k = 0; k < f.insns.size(); k++) {
                        if (f.bci[k] <= pc) {
                            f.line = f.lines[k];
                        }
                    }
                    return t.frames.error(reason);
                });
        if (parallel != null && parallel.dimensions() == 0) {
            f.pc = 0;
            f.line = f.lines.length > 0 ? f.lines[0] : -1;
            throw t.frames.error("has neither a KernelContext parameter nor @Parallel loops, so every work-item "
                    + "would run all of it; mark the outer loops @Parallel or take a KernelContext first");
        }
        if (parallel != null) {
            t.parallelDimensions = parallel.dimensions();
            for (ParallelLoops.Loop loop : parallel.loops()) {
                f.parallelStores.put(loop.storePc(), new int[] {loop.slot(), loop.dimension()});
                f.parallelIncrements.put(loop.incrementPc(), new int[] {loop.slot(), loop.dimension()});
            }
        }
        t.bytecode.translate(f);
        t.frames.pop();
        // size parameters follow their buffers' order at the end, only for arrays whose getSize() is called
        List<Translator.Param> sizes = new ArrayList<>();
        for (Translator.Param p : t.params) {
            if (p.array() != null && p.array().sizeUsed) {
                sizes.add(new Translator.Param(p.name() + "_size", Role.BUFFER_SIZE, p.javaIndex(), JType.INT, null));
            }
        }
        t.params.addAll(sizes);
    }

    /** A scalar parameter: a generated SCALAR parameter, or its {@code @Constant} value folded in. */
    private void scalar(MethodFrame f, int i, int slot, Class<?> javaType, String javaName,
            Map<Integer, Integer> constants) {
        JType type = JType.ofDescriptor(javaType.descriptorString());
        if (type == null) {
            throw t.frames.error("parameter " + i + " has type " + javaType + ": kernels take int, long, float, "
                    + "double, boolean, short, byte or char scalars");
        }
        if (constants.containsKey(i)) {
            if (f.storedSlots.contains(slot)) {
                throw t.frames.error("@Constant parameter " + javaName + " is assigned in the kernel; @Constant "
                        + "parameters must not change");
            }
            int value = constants.get(i);
            f.bound.put(slot + ":" + type.letter, t.exprs.constant(value));
            t.keyParts.add("constant " + i + " = " + value);
        } else {
            if (type == JType.DOUBLE) {
                t.exprs.requireFp64("a double parameter");
            }
            String name = t.code.uniqueName(javaName == null ? "p" + i : javaName);
            f.varNames.put(slot + ":" + type.letter, name);
            t.params.add(new Translator.Param(name, Role.SCALAR, i, type, null));
        }
    }

    /** A kernel array parameter: a generated BUFFER parameter. */
    private void buffer(MethodFrame f, int i, int slot, Class<?> javaType, String javaName) {
        ArrayRef ref = globalArray(javaType, i);
        if (ref == null) {
            throw t.frames.error("parameter " + i + " has type " + javaType.getName() + ": kernels take FloatArray, "
                    + "IntArray, ByteArray, HalfFloatArray, BFloat16Array and primitives");
        }
        if (f.storedSlots.contains(slot)) {
            throw t.frames.error("array parameter " + javaName + " is reassigned; kernel array parameters must not "
                    + "change");
        }
        ref.name = t.code.uniqueName(javaName == null ? "p" + i : javaName);
        f.refs.put(slot, ref);
        t.params.add(new Translator.Param(ref.name, Role.BUFFER, i, ref.element, ref));
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
}
