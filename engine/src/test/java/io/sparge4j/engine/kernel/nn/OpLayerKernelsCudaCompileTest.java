package io.sparge4j.engine.kernel.nn;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.jit.KernelJit;
import io.sparge4j.engine.jit.Nvcc;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.nn.ActivationKernels;
import io.sparge4j.kernels.nn.ColumnSumKernels;
import io.sparge4j.kernels.nn.RowAttentionKernels;
import io.sparge4j.kernels.nn.TensorKernels;
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
 * The kernels written for the device op layer ({@link TensorKernels}, {@link RowAttentionKernels}) translate to CUDA
 * C for an H200-like device at their grids' work-group sizes, and nvcc compiles them for sm_90 without warnings and
 * (ptxas -v) without register spills; skipped with a reason when nvcc is absent. Sources are kept in
 * {@code target/jit-sources/nn}.
 */
class OpLayerKernelsCudaCompileTest {
    private static final DeviceFeatures H200 = new DeviceFeatures(32, true, true, true, 1024, 232448,
            "cuda|NVIDIA H200|sm_90|nn-test");

    static List<Method> kernels() {
        List<Method> out = new ArrayList<>();
        for (Class<?> c : List.of(TensorKernels.class, RowAttentionKernels.class)) {
            for (Method m : c.getDeclaredMethods()) {
                if (Modifier.isPublic(m.getModifiers()) && Modifier.isStatic(m.getModifiers())
                        && m.getReturnType() == void.class && m.getParameterCount() > 0
                        && m.getParameterTypes()[0] == KernelContext.class) {
                    out.add(m);
                }
            }
        }
        out.sort(Comparator.comparing(m -> m.getDeclaringClass().getSimpleName() + "." + m.getName()));
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("kernels")
    void compilesWithNvccForSm90WithoutSpills(Method m) throws Exception {
        int group = m.getDeclaringClass() == RowAttentionKernels.class ? RowAttentionKernels.GROUP
                : m.getName().equals("columnPartials") ? ColumnSumKernels.COLUMN_GROUP : ActivationKernels.GROUP;
        String source = KernelJit.shared().compile(m, null, Dialect.CUDA, H200, group).source();
        assertTrue(source.contains("__global__ void " + m.getName() + "("), source);
        Path kept = Path.of("target", "jit-sources", "nn");
        Files.createDirectories(kept);
        Files.writeString(kept.resolve(m.getDeclaringClass().getSimpleName() + "." + m.getName() + ".cu"), source);
        Nvcc.assumePresent();
        Nvcc.compile(m.getName(), source, "sm_90", Nvcc.Output.CUBIN, Nvcc.PTXAS_VERBOSE)
                .assertCleanCompile().assertNoSpills(m.getName());
    }
}
