package io.sparge4j.engine.jit;

import java.io.IOException;
import java.io.InputStream;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.MethodModel;
import java.lang.constant.ClassDesc;
import java.util.HashMap;
import java.util.Map;

/** Reads (once per class) the bytecode of the kernel's classes and loads the classes it refers to. */
final class ClassFiles {
    private final CallStack frames;
    private final Map<Class<?>, ClassModel> classModels = new HashMap<>();

    ClassFiles(CallStack frames) {
        this.frames = frames;
    }

    ClassModel classModel(Class<?> type) {
        return classModels.computeIfAbsent(type, t -> {
            String resource = t.getName().substring(t.getName().lastIndexOf('.') + 1) + ".class";
            try (InputStream in = t.getResourceAsStream(resource)) {
                if (in == null) {
                    throw frames.error("cannot read the bytecode of " + t.getName() + " (no " + resource
                            + " resource)");
                }
                return ClassFile.of().parse(in.readAllBytes());
            } catch (IOException e) {
                throw frames.error("cannot read the bytecode of " + t.getName() + ": " + e.getMessage());
            }
        });
    }

    MethodModel findMethod(Class<?> owner, String name, String descriptor) {
        for (MethodModel m : classModel(owner).methods()) {
            if (m.methodName().stringValue().equals(name) && m.methodType().stringValue().equals(descriptor)) {
                return m;
            }
        }
        throw frames.error("cannot find " + owner.getName() + "." + name + descriptor + " in its class file");
    }

    /** @return the class, loaded by the class loader of the method being translated */
    Class<?> loadClass(ClassDesc desc) {
        String name = desc.descriptorString();
        name = name.substring(1, name.length() - 1).replace('/', '.');
        Class<?> from = frames.isEmpty() ? Translator.class : frames.peek().owner;
        try {
            return Class.forName(name, false, from.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw frames.error("cannot load class " + name + " from the kernel's class loader");
        }
    }
}
