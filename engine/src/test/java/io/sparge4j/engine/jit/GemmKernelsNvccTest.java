package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.linalg.GemmKernels;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.reflect.Method;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The pair MMA GEMMs' CUDA source for an H200 compiles with nvcc for sm_90 with no spills and with the documented
 * local memory: two buffers of 128x32 A and 128x32 Bt bf16 tiles, 32 KiB. (The 128x256 variant with 64x64 warp
 * tiles and 16-k tiles measured 151 TFLOP/s on the H200 against this one's 211: see BENCHMARKS.md.) Skipped with a reason when nvcc is absent.
 */
class GemmKernelsNvccTest {
    private static final DeviceFeatures H200 = new DeviceFeatures(32, true, true, true, 1024, 232448,
            "cuda|NVIDIA H200|sm_90|test");

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"mmaGemmBF16Pairs", "mmaGemmF16Pairs"})
    void pairGemmCompilesWithoutSpills(String name) throws Exception {
        Method m = GemmKernels.class.getMethod(name, KernelContext.class, IntArray.class, IntArray.class,
                FloatArray.class, int.class, int.class, int.class);
        Object[] args = new Object[m.getParameterCount()];
        args[0] = new KernelContext();
        GeneratedKernel kernel = KernelJit.shared().compile(m, args, Dialect.CUDA, H200, GemmKernels.MMA_GROUP_SIZE);
        Nvcc.assumePresent();
        Nvcc.KernelResources k = Nvcc.compileCubin(name, kernel.source(), "sm_90").assertCleanCompile()
                .assertNoSpills(name);
        System.out.println(k);
        assertEquals(2 * (GemmKernels.PAIR_BLOCK_M + GemmKernels.PAIR_BLOCK_N) * 32 * 2, k.sharedMemoryBytes(),
                "local memory of " + name + " (two buffers of 32-k A and Bt tiles, 2 bytes per element)");
    }
}
