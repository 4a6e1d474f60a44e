package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.linalg.PipelinedGemmKernels;
import io.sparge4j.kernels.linalg.PipelinedGemmKernels.PipelinedTiling;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.reflect.Method;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every tiling of the pipelined pair GEMMs ({@link PipelinedGemmKernels#TILINGS}) compiles for sm_90 with nvcc
 * without spills and with at most 255 registers (two 4-warp work-groups per multiprocessor need 256 or fewer), its
 * ring in static shared memory up to 48 KiB and in dynamic shared memory above, and the PTX instructions it is built
 * on. Skipped with a reason when nvcc is absent.
 */
class PipelinedGemmKernelsNvccTest {
    private static final DeviceFeatures H200 = new DeviceFeatures(32, true, true, true, 1024, 232448,
            "cuda|NVIDIA H200|sm_90|test");
    private static final int STATIC_LIMIT = 48 * 1024;

    static Stream<Arguments> kernels() {
        return PipelinedGemmKernels.TILINGS.stream().flatMap(t -> Stream.of(
                Arguments.of("mmaGemmBF16Pipelined", t), Arguments.of("mmaGemmF16Pipelined", t)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("kernels")
    void compilesWithoutSpills(String name, PipelinedTiling t) throws Exception {
        Method m = PipelinedGemmKernels.class.getMethod(name, KernelContext.class, IntArray.class, IntArray.class,
                FloatArray.class, int.class, int.class, int.class, int.class, int.class, int.class, int.class,
                int.class, int.class);
        Object[] args = {new KernelContext(), null, null, null, 0, 0, 0, t.warpsM(), t.warpsN(), t.warpMTiles(),
            t.warpNTiles(), t.bk(), t.stages()};
        GeneratedKernel kernel = KernelJit.shared().compile(m, args, Dialect.CUDA, H200, t.groupSize());
        assertEquals(t.localMemoryBytes(), kernel.localBytes(), "local bytes of " + name + " " + t.label());
        int dynamic = t.localMemoryBytes() > STATIC_LIMIT ? t.localMemoryBytes() : 0;
        assertEquals(dynamic, kernel.dynamicLocalBytes(), "dynamic local bytes of " + name + " " + t.label());
        Nvcc.assumePresent();
        Nvcc.KernelResources k = Nvcc.compileCubin(name, kernel.source(), "sm_90").assertCleanCompile()
                .assertNoSpills(name);
        System.out.println(t.label() + ": " + k);
        assertEquals(t.localMemoryBytes() - dynamic, k.sharedMemoryBytes(), "static shared memory of " + name + " "
                + t.label());
        assertTrue(k.registers() <= 255, name + " " + t.label() + ": " + k.registers() + " registers");
        String ptx = Nvcc.compile(name, kernel.source(), "sm_90", Nvcc.Output.PTX, List.of()).assertCleanCompile()
                .artifactText();
        for (String instruction : new String[] {"ldmatrix.sync.aligned.m8n8.x4.shared.b16",
            "cp.async.cg.shared.global", "cp.async.commit_group", "cp.async.wait_group " + (t.stages() - 2),
            "mma.sync.aligned.m16n8k16"}) {
            assertTrue(ptx.contains(instruction), name + " " + t.label() + ": no " + instruction + " in the PTX");
        }
    }
}
