package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.attention.PooledSoftmaxKernels;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Method;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code @LaunchBounds} becomes CUDA's {@code __launch_bounds__(group size, groups)} with the launch's own group size
 * and as many groups as make up the asked-for work-items (at least one), enters the cache key with them, is left out
 * of OpenCL C, and a bound below 1 is refused by name.
 */
class KernelJitLaunchBoundsTest {
    private static GeneratedKernel compile(Method m, Dialect d, int groupSize) {
        return new KernelJit(LibrarySource.DEVICE_LIBRARY).compile(m, null, d, KernelJitCompileTest.H200, groupSize);
    }

    @Test
    void cudaHeadCarriesTheBoundsWithTheLaunchGroupSize() {
        Method m = KernelJitRefusalTest.kernel("boundedScale");
        GeneratedKernel g128 = compile(m, Dialect.CUDA, 128);
        GeneratedKernel g256 = compile(m, Dialect.CUDA, 256);
        GeneratedKernel g1024 = compile(m, Dialect.CUDA, 1024);
        assertTrue(g128.source().contains("__global__ void __launch_bounds__(128, 12) boundedScale("),
                g128.source());
        assertTrue(g256.source().contains("__launch_bounds__(256, 6) boundedScale("), g256.source());
        assertTrue(g1024.source().contains("__launch_bounds__(1024, 1) boundedScale("), g1024.source());
        assertNotEquals(g128.cacheKey(), g256.cacheKey());
        GeneratedKernel plain = compile(KernelJitRefusalTest.kernel("scaleWithHelper"), Dialect.CUDA, 64);
        assertFalse(plain.source().contains("__launch_bounds__"), plain.source());
    }

    @Test
    void openClHasNoSuchHint() {
        GeneratedKernel g = compile(KernelJitRefusalTest.kernel("boundedScale"), Dialect.OPENCL, 64);
        assertFalse(g.source().contains("launch_bounds"), g.source());
        assertTrue(g.source().contains("__kernel void boundedScale("), g.source());
    }

    @Test
    void aBoundBelowOneIsRefusedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> compile(KernelJitRefusalTest.kernel("noGroupsBound"), Dialect.CUDA, 64));
        assertTrue(e.getMessage().contains("@LaunchBounds(minWorkItemsPerComputeUnit = 0)")
                && e.getMessage().contains("noGroupsBound") && e.getMessage().contains("expected at least 1"),
                e.getMessage());
    }

    /** The fused pooled softmax and selection is held to 80 registers: three 256-work-item groups per SM. */
    @Test
    void fusedMaskSelectionAsksForThreeGroupsPerComputeUnit() throws Exception {
        Method fused = Arrays.stream(PooledSoftmaxKernels.class.getMethods())
                .filter(m -> m.getName().equals("pooledSoftmaxSelect")).findFirst().orElseThrow();
        String source = compile(fused, Dialect.CUDA, 256).source();
        assertTrue(source.contains("__launch_bounds__(256, 3) pooledSoftmaxSelect("), source);
    }
}
