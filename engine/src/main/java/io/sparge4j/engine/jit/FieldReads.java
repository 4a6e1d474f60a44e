package io.sparge4j.engine.jit;

import io.sparge4j.engine.jit.Value.CtxRef;
import io.sparge4j.engine.jit.Value.Expr;

import java.lang.classfile.instruction.FieldInstruction;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.List;
import java.util.Set;

/**
 * Field reads: KernelContext ids and sizes become the dialect's built-ins, static final primitive constants are
 * folded (and their values go into the cache key); anything else is refused.
 */
final class FieldReads {
    private final Translator t;

    FieldReads(Translator t) {
        this.t = t;
    }

    void field(FieldInstruction fi, List<Value> stack) {
        String owner = fi.owner().asInternalName().replace('/', '.');
        String name = fi.name().stringValue();
        switch (fi.opcode()) {
            case GETFIELD -> {
                Value receiver = Exprs.pop(stack);
                if (receiver == CtxRef.INSTANCE) {
                    String code = t.c.contextField(name);
                    if (code != null) {
                        stack.add(new Expr(code, JType.INT, Set.of(), false, null, null));
                        return;
                    }
                }
                throw t.frames.error("reads the field " + owner + "." + name + ": kernels may read only KernelContext "
                        + "ids and sizes and static final constants");
            }
            case GETSTATIC -> {
                Class<?> cls = t.classes.loadClass(fi.owner().asSymbol());
                try {
                    Field field = findField(cls, name);
                    JType type = JType.ofDescriptor(fi.typeSymbol().descriptorString());
                    if (field == null || !Modifier.isFinal(field.getModifiers()) || type == null) {
                        throw t.frames.error("reads the static field " + owner + "." + name + ": kernels may read only "
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
                    t.keyParts.add("static " + owner + "." + name + " = " + value);
                    stack.add(t.exprs.constant(value));
                } catch (ReflectiveOperationException | RuntimeException e) {
                    if (e instanceof KernelCompileException k) {
                        throw k;
                    }
                    throw t.frames.error("cannot read the static field " + owner + "." + name + ": " + e);
                }
            }
            default -> throw t.frames.error("writes the field " + owner + "." + name + " ("
                    + fi.opcode().name().toLowerCase() + "): kernels cannot write fields; write to a kernel array");
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
}
