package io.sparge4j.engine.kernel.nn;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.jit.KernelJit;
import io.sparge4j.engine.jit.Nvcc;
import io.sparge4j.kernels.nn.ActivationKernels;
import io.sparge4j.kernels.nn.AdamWKernels;
import io.sparge4j.kernels.nn.ColumnSumKernels;
import io.sparge4j.kernels.nn.ModulationKernels;
import io.sparge4j.kernels.nn.NormKernels;
import io.sparge4j.kernels.nn.RopeKernels;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every nn kernel translates to CUDA C for an H200-like device (native 32-wide warps) at the work-group size of its
 * grid helper, and nvcc compiles it for sm_90 without warnings (skipped with a reason when nvcc is absent). The
 * numerics are checked on the emulator and PoCL by the other tests of this package; this one catches CUDA-only
 * translation problems without a GPU. The sources are kept in {@code target/jit-sources/nn} for reading.
 */
class NnKernelsCudaCompileTest {
    private static final DeviceFeatures H200 = new DeviceFeatures(32, true, true, true, 1024, 232448,
            "cuda|NVIDIA H200|sm_90|nn-test");

    static List<Method> kernels() {
        List<Method> out = new ArrayList<>();
        for (Class<?> c : List.of(NormKernels.class, ColumnSumKernels.class, ActivationKernels.class,
                ModulationKernels.class, RopeKernels.class, AdamWKernels.class)) {
            for (Method m : c.getDeclaredMethods()) {
                if (Modifier.isPublic(m.getModifiers()) && Modifier.isStatic(m.getModifiers())
                        && m.getReturnType() == void.class && m.getParameterCount() > 0
                        && m.getParameterTypes()[0] == io.sparge4j.kernels.KernelContext.class) {
                    out.add(m);
                }
            }
        }
        out.sort(Comparator.comparing(m -> m.getDeclaringClass().getSimpleName() + "." + m.getName()));
        return out;
    }

    /** The group size each kernel's grid helper uses. */
    private static int groupSize(Method m) {
        if (m.getDeclaringClass() == NormKernels.class && !m.getName().endsWith("Partials")) {
            return NormKernels.GROUP;
        }
        if (m.getName().endsWith("Partials") || m.getName().equals("sumChunks")) {
            return ColumnSumKernels.COLUMN_GROUP;
        }
        return ActivationKernels.GROUP;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("kernels")
    void compilesWithNvccForSm90(Method m) throws Exception {
        String source = KernelJit.shared().compile(m, null, Dialect.CUDA, H200, groupSize(m)).source();
        assertTrue(source.contains("__global__ void " + m.getName() + "("), source);
        Path kept = Path.of("target", "jit-sources", "nn");
        Files.createDirectories(kept);
        Files.writeString(kept.resolve(m.getDeclaringClass().getSimpleName() + "." + m.getName() + ".cu"), source);
        Nvcc.assumePresent();
        Nvcc.compile(m.getName(), source, "sm_90", Nvcc.Output.CUBIN, List.of()).assertCleanCompile();
    }
}
