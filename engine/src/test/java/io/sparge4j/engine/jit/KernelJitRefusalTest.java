package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.execution.EmulatorCompiler;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Unsupported Java is refused with class, method, source line, bytecode offset and a reason saying what to use. */
class KernelJitRefusalTest {
    private static final DeviceFeatures NO_FP64 = new DeviceFeatures(32, false, false, false, 1024, 49152,
            "test|no fp64");

    static Method kernel(String name) {
        for (Method m : JitTestKernels.class.getDeclaredMethods()) {
            if (m.getName().equals(name)) {
                return m;
            }
        }
        throw new IllegalArgumentException(name);
    }

    /** The line of the test source holding {@code // MARK:marker}. */
    private static int line(String marker) throws IOException {
        List<String> lines = Files.readAllLines(Path.of("src/test/java/io/sparge4j/engine/jit/JitTestKernels.java"));
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).contains("// MARK:" + marker)) {
                return i + 1;
            }
        }
        throw new IllegalArgumentException(marker);
    }

    private static KernelCompileException refused(String kernel, DeviceFeatures features) {
        return assertThrows(KernelCompileException.class, () -> new KernelJit(LibrarySource.DEVICE_LIBRARY)
                .compile(kernel(kernel), null, Dialect.CUDA, features, 64));
    }

    private static void assertRefused(String kernel, String method, String marker, String... reasonParts)
            throws IOException {
        KernelCompileException e = refused(kernel, KernelJitCompileTest.H200);
        assertEquals(JitTestKernels.class.getName(), e.className());
        assertEquals(method, e.methodName());
        assertEquals(line(marker), e.line(), e.getMessage());
        assertTrue(e.bytecodeOffset() > 0, e.getMessage());
        assertTrue(e.getMessage().startsWith("JitTestKernels." + method + " (JitTestKernels.java:" + line(marker)
                + ", bytecode " + e.bytecodeOffset() + "): "), e.getMessage());
        for (String part : reasonParts) {
            assertTrue(e.reason().contains(part), "reason lacks \"" + part + "\": " + e.reason());
        }
    }

    @Test
    void objectAllocationIsRefused() throws IOException {
        assertRefused("allocatesObject", "allocatesObject", "new", "allocates an object", "java.lang.StringBuilder",
                "new float[CONSTANT]");
    }

    @Test
    void throwIsRefused() throws IOException {
        // the first unsupported instruction on that line is the exception's allocation
        assertRefused("throwsException", "throwsException", "throw", "java.lang.IllegalStateException");
    }

    @Test
    void mathExpOnDoubleIsRefusedWithTheFloatAlternative() throws IOException {
        assertRefused("callsMathExp", "callsMathExp", "exp", "calls java.lang.Math.exp(double)",
                "not supported in kernels", "use KernelMath.exp(float)");
    }

    /** The emulator refuses what the GPU backends refuse, with the same message: no kernel runs on it alone. */
    @Test
    void theEmulatorRefusesWhatTheJitRefuses() {
        for (String name : List.of("allocatesObject", "throwsException", "callsMathExp")) {
            Method m = kernel(name);
            KernelCompileException jit = refused(name, KernelJitCompileTest.H200);
            KernelCompileException emulated = assertThrows(KernelCompileException.class,
                    () -> new EmulatorCompiler().compile(m, null, Dialect.CUDA, KernelJitCompileTest.POCL, 64));
            assertEquals(jit.getMessage(), emulated.getMessage());
            // the executor tests' escape hatch still describes it
            assertEquals(List.of("emulator"), EmulatorCompiler.withoutSubsetCheck()
                    .compile(m, null, Dialect.CUDA, KernelJitCompileTest.POCL, 64).paths());
        }
    }

    @Test
    void doubleWithoutFp64IsRefused() throws IOException {
        KernelCompileException e = refused("usesDouble", NO_FP64);
        assertTrue(e.reason().contains("no double precision (fp64)"), e.getMessage());
        assertTrue(e.line() >= line("double") - 2 && e.line() <= line("double"), e.getMessage());
    }

    @Test
    void recursionIsRefusedInTheHelper() throws IOException {
        assertRefused("recurses", "factorial", "recursion", "recursively", "write a loop");
    }

    @Test
    void nonConstantPrivateArrayIsRefused() throws IOException {
        assertRefused("variableArray", "variableArray", "size", "non-constant size", "constant size");
    }

    @Test
    void parallelLoopWithOtherStepIsRefused() throws IOException {
        KernelCompileException e = refused("parallelStepTwo", KernelJitCompileTest.H200);
        assertEquals(line("step"), e.line(), e.getMessage());
        assertTrue(e.bytecodeOffset() > 0, e.getMessage());
        assertTrue(e.reason().contains("for (int v = start; v < bound; v++)"), e.getMessage());
        assertEquals("parallelStepTwo", e.methodName());
    }

    @Test
    void loopKernelWithoutParallelLoopsIsRefused() {
        KernelCompileException e = refused("noParallelism", KernelJitCompileTest.H200);
        assertTrue(e.reason().contains("@Parallel"), e.getMessage());
        assertEquals("noParallelism", e.methodName());
    }

    @Test
    void mutableStaticFieldIsRefused() throws IOException {
        assertRefused("readsMutableStatic", "readsMutableStatic", "static", "JitTestKernels.mutable",
                "static final primitive constants");
    }

    @Test
    void synchronizedIsRefused() throws IOException {
        assertRefused("locks", "locks", "sync", "uses synchronized", "ctx.localBarrier()");
    }
}
