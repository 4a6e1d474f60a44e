package io.sparge4j.engine.kernel.attention;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.jit.KernelJit;
import io.sparge4j.engine.jit.Nvcc;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.attention.AttentionCastKernels;
import io.sparge4j.kernels.attention.BlockListKernels;
import io.sparge4j.kernels.attention.BlockPoolingKernels;
import io.sparge4j.kernels.attention.BlockSelectKernels;
import io.sparge4j.kernels.attention.PooledSoftmaxKernels;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The block-mask kernels translate to OpenCL C (PoCL-like features) and to CUDA C for an H200-like device without
 * fp64 (so that a kernel relying on doubles would be refused), and the CUDA C compiles with nvcc for sm_90 without
 * warnings and without register spills (ptxas -v): the CUDA half of the portability check that needs no GPU (the OpenCL half runs in
 * {@link BlockMaskKernelsTest}). The nvcc check is skipped with a reason when nvcc is absent.
 */
class BlockMaskKernelsJitTest {
    /** The H200 without fp64, so that a kernel relying on doubles would be refused. */
    private static final DeviceFeatures H200_NO_FP64 = new DeviceFeatures(32, true, true, false, 1024, 232448,
            "cuda|NVIDIA H200|sm_90|test");

    static List<Method> kernels() {
        List<Method> out = new ArrayList<>();
        for (Class<?> c : List.of(BlockPoolingKernels.class, PooledSoftmaxKernels.class, BlockSelectKernels.class,
                BlockListKernels.class, AttentionCastKernels.class)) {
            for (Method m : c.getDeclaredMethods()) {
                if (Modifier.isPublic(m.getModifiers()) && Modifier.isStatic(m.getModifiers())
                        && m.getReturnType() == void.class) {
                    out.add(m);
                }
            }
        }
        return out;
    }

    /** PoCL-like: no sub-groups, no fp16, no MMA. */
    private static final DeviceFeatures POCL = new DeviceFeatures(0, false, false, true, 4096, 65536,
            "opencl|pthread-cpu|PoCL|test");

    /** Translates for OpenCL too and keeps both sources under target/jit-sources for reading. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("kernels")
    void translatesForOpenCl(Method m) throws Exception {
        Object[] args = new Object[m.getParameterCount()];
        args[0] = new KernelContext();
        GeneratedKernel cl = KernelJit.shared().compile(m, args, Dialect.OPENCL, POCL, 256);
        assertTrue(cl.source().contains("__kernel void " + m.getName() + "("), cl.source());
        Path dir = Path.of("target", "jit-sources");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(m.getName() + "-PoCL.cl"), cl.source());
        Files.writeString(dir.resolve(m.getName() + "-H200.cu"),
                KernelJit.shared().compile(m, args, Dialect.CUDA, H200_NO_FP64, 256).source());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("kernels")
    void compilesWithNvcc(Method m) throws Exception {
        Object[] args = new Object[m.getParameterCount()];
        args[0] = new KernelContext();
        GeneratedKernel k = KernelJit.shared().compile(m, args, Dialect.CUDA, H200_NO_FP64, 256);
        assertEquals(m.getName(), k.entryName());
        Nvcc.assumePresent();
        Nvcc.Result result = Nvcc.compileCubin(m.getName(), k.source(), "sm_90").assertCleanCompile();
        Nvcc.KernelResources resources = result.assertNoSpills(m.getName());
        System.out.println(m.getDeclaringClass().getSimpleName() + "." + m.getName() + ": " + resources);
    }
}
