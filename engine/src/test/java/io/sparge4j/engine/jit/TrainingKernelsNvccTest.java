package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.nn.TrainingKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.reflect.Method;
import java.util.Arrays;

/**
 * {@link TrainingKernels}' CUDA source for an H200 compiles with nvcc for sm_90 without warnings and without
 * spills (the emulator and PoCL check their results in {@code DeviceTrainingOpsTest}). Skipped with a reason when
 * nvcc is absent.
 */
class TrainingKernelsNvccTest {
    private static final DeviceFeatures H200 = new DeviceFeatures(32, true, true, true, 1024, 232448,
            "cuda|NVIDIA H200|sm_90|test");

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"squarePartials", "squaredErrorPartials", "sumPartials", "axpy", "clipByNorm"})
    void compilesWithoutSpills(String name) throws Exception {
        Method m = Arrays.stream(TrainingKernels.class.getMethods()).filter(x -> x.getName().equals(name))
                .findFirst().orElseThrow();
        Object[] args = new Object[m.getParameterCount()];
        Class<?>[] types = m.getParameterTypes();
        for (int i = 0; i < args.length; i++) {
            if (types[i] == KernelContext.class) {
                args[i] = new KernelContext();
            } else if (types[i] == int.class) {
                args[i] = 0;
            } else if (types[i] == float.class) {
                args[i] = 0f;
            } else if (types[i] == FloatArray.class) {
                args[i] = null;
            }
        }
        GeneratedKernel kernel = KernelJit.shared().compile(m, args, Dialect.CUDA, H200, TrainingKernels.GROUP);
        Nvcc.assumePresent();
        Nvcc.KernelResources k = Nvcc.compileCubin(name, kernel.source(), "sm_90").assertCleanCompile()
                .assertNoSpills(name);
        System.out.println(name + ": " + k);
    }
}
