package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.linalg.GemmKernels;
import io.sparge4j.kernels.linalg.GemmKernels.AsyncPairTiling;
import io.sparge4j.kernels.linalg.GemmKernels.PairTiling;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.reflect.Method;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The pair MMA GEMMs' CUDA source for an H200 compiles with nvcc for sm_90 with no spills and with the documented
 * local memory: the default entry points (two buffers of 128x32 A and 128x32 Bt bf16 tiles, 32 KiB) and every
 * tiling of {@link GemmKernels#PAIR_TILINGS} through the {@code @Constant} entry points (the facts nvcc prints
 * for each, registers among them, go to standard output). Skipped with a reason when nvcc is absent.
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
        GeneratedKernel kernel = KernelJit.shared().compile(m, args, Dialect.CUDA, H200, GemmKernels.PAIR_GROUP_SIZE);
        Nvcc.assumePresent();
        Nvcc.KernelResources k = Nvcc.compileCubin(name, kernel.source(), "sm_90").assertCleanCompile()
                .assertNoSpills(name);
        System.out.println(k);
        assertEquals(2 * (GemmKernels.PAIR_BLOCK_M + GemmKernels.PAIR_BLOCK_N) * 32 * 2, k.sharedMemoryBytes(),
                "local memory of " + name + " (two buffers of 32-k A and Bt tiles, 2 bytes per element)");
        assertEquals(GemmKernels.DEFAULT_PAIR_TILING.localMemoryBytes(), k.sharedMemoryBytes(), "default tiling");
    }

    static Stream<Arguments> tiledKernels() {
        return GemmKernels.PAIR_TILINGS.stream().flatMap(t -> Stream.of(
                Arguments.of("mmaGemmBF16PairsTiled", t), Arguments.of("mmaGemmF16PairsTiled", t)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("tiledKernels")
    void everyTilingCompilesWithoutSpills(String name, PairTiling tiling) throws Exception {
        Method m = GemmKernels.class.getMethod(name, KernelContext.class, IntArray.class, IntArray.class,
                FloatArray.class, int.class, int.class, int.class, int.class, int.class, int.class, int.class,
                int.class);
        Object[] args = {new KernelContext(), null, null, null, 0, 0, 0, tiling.warpsM(), tiling.warpsN(),
            tiling.warpMTiles(), tiling.warpNTiles(), tiling.bk()};
        GeneratedKernel kernel = KernelJit.shared().compile(m, args, Dialect.CUDA, H200, tiling.groupSize());
        Nvcc.assumePresent();
        Nvcc.KernelResources k = Nvcc.compileCubin(name, kernel.source(), "sm_90").assertCleanCompile()
                .assertNoSpills(name);
        System.out.println(tiling.label() + ": " + k);
        assertEquals(tiling.localMemoryBytes(), k.sharedMemoryBytes(), "local memory of " + name + " "
                + tiling.label() + " (two buffers of A and Bt k-tiles, 2 bytes per element)");
    }

    static Stream<Arguments> asyncKernels() {
        return GemmKernels.ASYNC_PAIR_TILINGS.stream().flatMap(t -> Stream.of(
                Arguments.of("mmaGemmBF16PairsAsync", t), Arguments.of("mmaGemmF16PairsAsync", t)));
    }

    /**
     * Every tiling of the cp.async + ldmatrix GEMMs compiles for sm_90 without spills, with the ring's local memory
     * and the PTX instructions it is built on (ldmatrix, cp.async with its commit and wait, mma.sync).
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("asyncKernels")
    void everyAsyncTilingCompilesWithoutSpills(String name, AsyncPairTiling tiling) throws Exception {
        Method m = GemmKernels.class.getMethod(name, KernelContext.class, IntArray.class, IntArray.class,
                FloatArray.class, int.class, int.class, int.class, int.class, int.class, int.class, int.class,
                int.class, int.class);
        Object[] args = {new KernelContext(), null, null, null, 0, 0, 0, tiling.warpsM(), tiling.warpsN(),
            tiling.warpMTiles(), tiling.warpNTiles(), tiling.bk(), tiling.stages()};
        GeneratedKernel kernel = KernelJit.shared().compile(m, args, Dialect.CUDA, H200, tiling.groupSize());
        Nvcc.assumePresent();
        Nvcc.KernelResources k = Nvcc.compileCubin(name, kernel.source(), "sm_90").assertCleanCompile()
                .assertNoSpills(name);
        System.out.println(tiling.label() + ": " + k);
        assertEquals(tiling.localMemoryBytes(), k.sharedMemoryBytes(), "local memory of " + name + " "
                + tiling.label() + " (the ring of padded A and Bt k-tiles)");
        String ptx = Nvcc.compile(name, kernel.source(), "sm_90", Nvcc.Output.PTX, java.util.List.of())
                .assertCleanCompile().artifactText();
        for (String instruction : new String[] {"ldmatrix.sync.aligned.m8n8.x4.shared.b16",
            "cp.async.cg.shared.global", "cp.async.commit_group", "cp.async.wait_group " + (tiling.stages() - 2),
            "mma.sync.aligned.m16n8k16"}) {
            org.junit.jupiter.api.Assertions.assertTrue(ptx.contains(instruction), name + " " + tiling.label()
                    + ": no " + instruction + " in the PTX");
        }
    }
}
