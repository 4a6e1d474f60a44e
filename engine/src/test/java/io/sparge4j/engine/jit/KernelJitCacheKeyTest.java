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
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassTransform;
import java.lang.classfile.CodeTransform;
import java.lang.classfile.MethodTransform;
import java.lang.classfile.instruction.ConstantInstruction;
import java.lang.reflect.Method;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The cache key follows the specialisation constants, the bytecode of inlined helpers, the target and features. */
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
        Method changed = changedHelper().getDeclaredMethod("scaleWithHelper", KernelContext.class,
                io.sparge4j.kernels.types.arrays.FloatArray.class);
        GeneratedKernel after = compile(changed, null, Dialect.CUDA, KernelJitCompileTest.H200);
        assertTrue(before.source().contains("2.0f") && after.source().contains("3.0f"), after.source());
        assertNotEquals(before.cacheKey(), after.cacheKey());
    }

    /** JitTestKernels with helper's {@code v * 2f} turned into {@code v * 3f}, in its own class loader. */
    private static Class<?> changedHelper() throws Exception {
        byte[] bytes;
        try (InputStream in = JitTestKernels.class.getResourceAsStream("JitTestKernels.class")) {
            bytes = in.readAllBytes();
        }
        ClassFile cf = ClassFile.of();
        CodeTransform three = (builder, element) -> {
            if (element instanceof ConstantInstruction c && Float.valueOf(2f).equals(c.constantValue())) {
                builder.loadConstant(3f);
            } else {
                builder.with(element);
            }
        };
        byte[] patched = cf.transformClass(cf.parse(bytes), ClassTransform.transformingMethods(
                m -> m.methodName().equalsString("helper"), MethodTransform.transformingCode(three)));
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
        return loader.loadClass(CLASS);
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
