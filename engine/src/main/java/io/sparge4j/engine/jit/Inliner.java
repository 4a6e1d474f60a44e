package io.sparge4j.engine.jit;

import io.sparge4j.engine.jit.Value.Expr;

import java.lang.classfile.MethodModel;
import java.lang.constant.MethodTypeDesc;
import java.util.List;

/**
 * Inlines a called method into the kernel: checks it may be (no recursion, static or KernelContext, not
 * synchronized, at most 32 deep), binds simple arguments to its parameter slots and copies the others into
 * its variables, translates its body and yields its return value. Every method translated goes into the cache
 * key by its bytecode's fingerprint ({@link BytecodeFingerprint}).
 */
final class Inliner {
    private final Translator t;

    Inliner(Translator t) {
        this.t = t;
    }

    Expr inline(Class<?> owner, String name, String desc, List<Value> args, Value receiver) {
        for (MethodFrame f : t.frames) {
            if (f.owner == owner && f.methodName.equals(name) && f.descriptor.equals(desc)) {
                throw t.frames.error("calls " + owner.getSimpleName() + "." + name + " recursively: recursion is not "
                        + "supported in kernels; write a loop");
            }
        }
        if (t.frames.size() > 32) {
            throw t.frames.error("inlines calls more than 32 deep; flatten the helpers");
        }
        MethodModel method = t.classes.findMethod(owner, name, desc);
        boolean isStatic = method.flags().has(java.lang.reflect.AccessFlag.STATIC);
        if (!isStatic && receiver == null) {
            throw t.frames.error("calls the instance method " + owner.getName() + "." + name
                    + ": not supported in kernels");
        }
        if (method.flags().has(java.lang.reflect.AccessFlag.SYNCHRONIZED)) {
            throw t.frames.error("calls the synchronized method " + owner.getSimpleName() + "." + name
                    + ": not supported in kernels");
        }
        MethodFrame f = new MethodFrame(owner, t.classes.classModel(owner), method, t.frames.nextId());
        t.frames.push(f);
        recordKey(f);
        f.pc = 0;
        MethodTypeDesc type = MethodTypeDesc.ofDescriptor(desc);
        int slot = 0;
        if (!isStatic) {
            f.refs.put(slot++, receiver);
        }
        for (int i = 0; i < type.parameterCount(); i++) {
            Value arg = args.get(i);
            JType pt = JType.ofDescriptor(type.parameterType(i).descriptorString());
            if (arg instanceof Expr e) {
                String key = slot + ":" + pt.letter;
                if (!f.storedSlots.contains(slot) && (e.atomic() && e.compare() == null)
                        && !e.code().startsWith("st")) {
                    f.bound.put(key, e);
                } else {
                    String v = t.locals.varName(f, slot, pt, 0);
                    t.code.emit(v + " = " + t.exprs.text(e) + ";");
                }
            } else {
                f.refs.put(slot, arg);
            }
            slot += pt != null && pt.wide() ? 2 : 1;
        }
        Expr result = t.bytecode.translate(f);
        t.frames.pop();
        if (result == Calls.REF_MARKER) {
            throw t.frames.error("a helper returns an array; kernels' helpers may return primitives only");
        }
        return result;
    }

    /** Adds a translated method's identity and bytecode fingerprint to the cache key material. */
    void recordKey(MethodFrame f) {
        t.keyParts.add(f.owner.getName() + "." + f.methodName + f.descriptor + " " + BytecodeFingerprint.of(f.code));
    }
}
