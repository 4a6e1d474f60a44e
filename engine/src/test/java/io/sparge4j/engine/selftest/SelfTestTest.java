package io.sparge4j.engine.selftest;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.execution.EmulatorCompiler;
import io.sparge4j.engine.execution.EmulatorDevice;
import io.sparge4j.engine.execution.KernelCompiler;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The self-test on the emulator passes every kernel, and catches wrong results and failing kernels. */
@Timeout(value = 300, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class SelfTestTest {
    @Test
    void everyKernelPassesOnTheEmulator() {
        SelfTestReport report = SelfTest.run(BackendSelection.emulator());
        assertEquals("emulator", report.backend());
        assertEquals(SelfTest.KERNELS, report.results().stream().map(SelfTestResult::kernel).toList());
        for (SelfTestResult r : report.results()) {
            assertTrue(r.passed(), r.line());
            assertEquals("emulator", r.path(), r.kernel());
            assertTrue(r.maxAbsError() <= r.atol() + 1e-3, r.line());
            assertTrue(r.kernelMillis() > 0, r.line());
        }
        assertEquals(13, report.passed());
        assertTrue(report.allPassed());
    }

    /** A device that adds 1e-3 to the first float of every result it copies back. */
    private static ComputeDevice perturbing(EmulatorDevice inner) {
        return (ComputeDevice) Proxy.newProxyInstance(SelfTestTest.class.getClassLoader(),
                new Class<?>[] {ComputeDevice.class}, (proxy, method, args) -> {
                    Object out;
                    try {
                        out = method.invoke(inner, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                    if (method.getName().equals("copyToHost")) {
                        MemorySegment host = (MemorySegment) args[2];
                        host.set(ValueLayout.JAVA_FLOAT_UNALIGNED, 0,
                                host.get(ValueLayout.JAVA_FLOAT_UNALIGNED, 0) + 1e-3f);
                    }
                    return out;
                });
    }

    @Test
    void wrongResultsFail() {
        try (EmulatorDevice inner = new EmulatorDevice()) {
            SelfTest test = new SelfTest(perturbing(inner), new EmulatorCompiler());
            for (String kernel : new String[] {"saxpy", "softmaxRows", "matmulLoops"}) {
                SelfTestResult r = test.run(kernel);
                assertFalse(r.passed(), r.line());
                assertTrue(r.detail().startsWith("element 0 is "), r.detail());
                assertTrue(r.maxAbsError() >= 9e-4, r.line());
                assertTrue(r.line().startsWith("FAIL " + kernel), r.line());
            }
        }
    }

    @Test
    void aKernelThatCannotCompileFailsWithTheReason() {
        KernelCompiler broken = (kernel, args, dialect, features, groupSize) -> {
            throw new IllegalStateException("JIT: unsupported bytecode in " + kernel.getName());
        };
        try (EmulatorDevice device = new EmulatorDevice()) {
            SelfTestResult r = new SelfTest(device, broken).run("histogram");
            assertFalse(r.passed());
            assertEquals("-", r.path());
            assertEquals("IllegalStateException: JIT: unsupported bytecode in histogram", r.detail());
            assertTrue(Double.isNaN(r.maxAbsError()));
        }
    }
}
