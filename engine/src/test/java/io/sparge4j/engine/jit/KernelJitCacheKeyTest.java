package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelParameter;
import io.sparge4j.kernels.KernelContext;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.classfile.Attributes;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassTransform;
import java.lang.classfile.CodeTransform;
import java.lang.classfile.MethodModel;
import java.lang.classfile.MethodTransform;
import java.lang.classfile.attribute.CodeAttribute;
import java.lang.classfile.instruction.ConstantInstruction;
import java.lang.classfile.instruction.FieldInstruction;
import java.lang.constant.ConstantDescs;
import java.lang.reflect.Method;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cache key follows the specialisation constants, the bytecode of inlined helpers (with the constant-pool entries
 * it names), the generated source, the target and features.
 */
class KernelJitCacheKeyTest {
    private static final String CLASS = JitTestKernels.class.getName();

    private static GeneratedKernel compile(Method m, Object[] args, Dialect d, DeviceFeatures f) {
        return new KernelJit(LibrarySource.DEVICE_LIBRARY).compile(m, args, d, f, 64);
    }

    @Test
    void constantValueChangesKeyAndSource() {
        Method window = KernelJitCompileTest.kernels().stream().filter(m -> m.getName().equals("windowSum"))
                .findFirst().orElseThrow();
        GeneratedKernel five = compile(window, new Object[] {null, null, null, 5, 100}, Dialect.CUDA,
                KernelJitCompileTest.H200);
        GeneratedKernel six = compile(window, new Object[] {null, null, null, 6, 100}, Dialect.CUDA,
                KernelJitCompileTest.H200);
        assertNotEquals(five.cacheKey(), six.cacheKey());
        assertTrue(five.source().contains(">= 5)") && six.source().contains(">= 6)"), five.source());
        // the constant is folded away: no parameter for it
        assertTrue(five.parameters().stream().noneMatch(p -> p.javaIndex() == 3), five.parameters().toString());
    }

    @Test
    void featuresAndDialectChangeKey() {
        Method m = KernelJitRefusalTest.kernel("scaleWithHelper");
        DeviceFeatures h200 = KernelJitCompileTest.H200;
        DeviceFeatures renamed = new DeviceFeatures(32, true, true, true, 1024, 232448, "cuda|other device");
        String key = compile(m, null, Dialect.CUDA, h200).cacheKey();
        assertNotEquals(key, compile(m, null, Dialect.CUDA, renamed).cacheKey());
        assertNotEquals(key, compile(m, null, Dialect.CUDA, KernelJitCompileTest.POCL).cacheKey());
        assertNotEquals(key, compile(m, null, Dialect.OPENCL, h200).cacheKey());
        assertEquals(key, compile(m, null, Dialect.CUDA, h200).cacheKey());
    }

    @Test
    void helperBytecodeChangesKey() throws Exception {
        Method original = KernelJitRefusalTest.kernel("scaleWithHelper");
        GeneratedKernel before = compile(original, null, Dialect.CUDA, KernelJitCompileTest.H200);
        GeneratedKernel after = compile(scaleWithHelper(patched("helper", literal(2f, 3f))), null, Dialect.CUDA,
                KernelJitCompileTest.H200);
        assertTrue(before.source().contains("2.0f") && after.source().contains("3.0f"), after.source());
        assertNotEquals(before.cacheKey(), after.cacheKey());
    }

    /**
     * Two versions of a class whose code bytes are identical and whose constant pools differ at the index those
     * bytes name (each patch appends its new entry, a value the class uses nowhere else, at the same place): a hash
     * of the code bytes alone would give both one key, and the disk cache would hand one the other's binary.
     */
    @Test
    void constantPoolOnlyChangesChangeKey() throws Exception {
        byte[] seven = patched("helper", literal(2f, 7.25f));
        byte[] nine = patched("helper", literal(2f, 9.75f));
        assertArrayEquals(code(seven, "helper").codeArray(), code(nine, "helper").codeArray());
        // the fingerprint alone tells them apart, and is stable for one version
        assertNotEquals(BytecodeFingerprint.of(code(seven, "helper")), BytecodeFingerprint.of(code(nine, "helper")));
        assertEquals(BytecodeFingerprint.of(code(seven, "helper")), BytecodeFingerprint.of(code(seven, "helper")));
        GeneratedKernel k7 = compile(scaleWithHelper(seven), null, Dialect.CUDA, KernelJitCompileTest.H200);
        GeneratedKernel k9 = compile(scaleWithHelper(nine), null, Dialect.CUDA, KernelJitCompileTest.H200);
        assertTrue(k7.source().contains("7.25f") && k9.source().contains("9.75f"), k9.source());
        assertNotEquals(k7.cacheKey(), k9.cacheKey());

        byte[] byY = patched("scaleWithHelper", contextField("globalIdx", "globalIdy"));
        byte[] byZ = patched("scaleWithHelper", contextField("globalIdx", "globalIdz"));
        assertArrayEquals(code(byY, "scaleWithHelper").codeArray(), code(byZ, "scaleWithHelper").codeArray());
        assertNotEquals(BytecodeFingerprint.of(code(byY, "scaleWithHelper")),
                BytecodeFingerprint.of(code(byZ, "scaleWithHelper")));
        GeneratedKernel y = compile(scaleWithHelper(byY), null, Dialect.CUDA, KernelJitCompileTest.H200);
        GeneratedKernel z = compile(scaleWithHelper(byZ), null, Dialect.CUDA, KernelJitCompileTest.H200);
        assertNotEquals(y.source(), z.source());
        assertNotEquals(y.cacheKey(), z.cacheKey());
    }

    /** @return a code transform that loads {@code to} where the code loads the float constant {@code from} */
    private static CodeTransform literal(float from, float to) {
        return (builder, element) -> {
            if (element instanceof ConstantInstruction c && Float.valueOf(from).equals(c.constantValue())) {
                builder.loadConstant(to);
            } else {
                builder.with(element);
            }
        };
    }

    /** @return a code transform that reads KernelContext's int field {@code to} where the code reads {@code from} */
    private static CodeTransform contextField(String from, String to) {
        return (builder, element) -> {
            if (element instanceof FieldInstruction f && f.name().equalsString(from)) {
                builder.fieldAccess(f.opcode(), f.owner().asSymbol(), to, ConstantDescs.CD_int);
            } else {
                builder.with(element);
            }
        };
    }

    /** @return JitTestKernels' bytes with one method's code transformed (new pool entries appended) */
    private static byte[] patched(String method, CodeTransform transform) throws IOException {
        byte[] bytes;
        try (InputStream in = JitTestKernels.class.getResourceAsStream("JitTestKernels.class")) {
            bytes = in.readAllBytes();
        }
        ClassFile cf = ClassFile.of();
        return cf.transformClass(cf.parse(bytes), ClassTransform.transformingMethods(
                m -> m.methodName().equalsString(method), MethodTransform.transformingCode(transform)));
    }

    /** @return the code of a method of a class file */
    private static CodeAttribute code(byte[] classBytes, String method) {
        MethodModel m = ClassFile.of().parse(classBytes).methods().stream()
                .filter(mm -> mm.methodName().equalsString(method)).findFirst().orElseThrow();
        return m.findAttribute(Attributes.code()).orElseThrow();
    }

    /** @return scaleWithHelper of the given JitTestKernels bytes, loaded in a class loader of their own */
    private static Method scaleWithHelper(byte[] patched) throws Exception {
        ClassLoader loader = new ClassLoader(KernelJitCacheKeyTest.class.getClassLoader()) {
            @Override
            protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
                if (name.equals(CLASS)) {
                    synchronized (getClassLoadingLock(name)) {
                        Class<?> done = findLoadedClass(name);
                        return done != null ? done : defineClass(name, patched, 0, patched.length);
                    }
                }
                return super.loadClass(name, resolve);
            }

            @Override
            public InputStream getResourceAsStream(String name) {
                return name.equals(CLASS.replace('.', '/') + ".class") ? new ByteArrayInputStream(patched)
                        : super.getResourceAsStream(name);
            }
        };
        return loader.loadClass(CLASS).getDeclaredMethod("scaleWithHelper", KernelContext.class,
                io.sparge4j.kernels.types.arrays.FloatArray.class);
    }

    @Test
    void getSizeAddsSizeParameterAndLongsAndShiftsFollowJava() throws IOException {
        Method m = KernelJitRefusalTest.kernel("sizeAndLongs");
        GeneratedKernel k = compile(m, null, Dialect.CUDA, KernelJitCompileTest.H200);
        List<KernelParameter> p = k.parameters();
        assertEquals(List.of("x", "y", "offset", "x_size"), p.stream().map(KernelParameter::name).toList());
        assertEquals(KernelParameter.Role.BUFFER_SIZE, p.get(3).role());
        assertEquals(1, p.get(3).javaIndex());
        assertEquals(long.class, p.get(2).type());
        String s = k.source();
        assertTrue(s.contains("long long offset"), s);
        assertTrue(s.contains("(unsigned long long)"), s); // >>> on long
        assertTrue(s.contains("(unsigned int)"), s); // >>> on int
        assertTrue(s.contains("<< 3)"), s); // i << 35 masks the count to 3 as Java does
        // kept beside KernelJitCompileTest's sources; this test may run first, in a fresh target folder
        java.nio.file.Path dir = java.nio.file.Files.createDirectories(java.nio.file.Path.of("target", "jit-sources"));
        java.nio.file.Files.writeString(dir.resolve("sizeAndLongs.cu"), s);
        GeneratedKernel cl = compile(m, null, Dialect.OPENCL, KernelJitCompileTest.POCL);
        assertTrue(cl.source().contains("__global float* x") && cl.source().contains("long offset"), cl.source());
    }
}
