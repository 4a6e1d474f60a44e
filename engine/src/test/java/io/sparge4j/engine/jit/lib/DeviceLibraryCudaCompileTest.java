package io.sparge4j.engine.jit.lib;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.jit.Nvcc;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.EnumSet;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Compiles the CUDA library (every function, called from generated driver kernels so that ptxas assembles the
 * inline PTX) with nvcc for sm_90 and sm_80, per feature set, and checks that the PTX takes the path the
 * features ask for. No GPU needed; skipped when nvcc is absent. Numerics of the shared C text are checked on
 * OpenCL ({@link DeviceLibraryOpenClTest}).
 */
class DeviceLibraryCudaCompileTest {
    @ParameterizedTest(name = "sub-group size {0}, tensor cores {1}, {2}")
    @CsvSource({"32, true, sm_90", "32, true, sm_80", "32, false, sm_90", "0, false, sm_90"})
    void everyFunctionCompilesAndTakesItsPath(int subGroupSize, boolean tensorCores, String arch) throws Exception {
        Nvcc.assumePresent();
        DeviceFeatures features = new DeviceFeatures(subGroupSize, true, tensorCores, true, 1024, 49152,
                "cuda|test|" + arch);
        DeviceLibrary library = DeviceLibrary.forTarget(Dialect.CUDA, features);
        DriverSources driver = new DriverSources(Dialect.CUDA, library);
        String source = library.functions(EnumSet.allOf(LibraryFunction.class))
                + driver.halves() + driver.simd(128) + driver.simdXor(128) + driver.mmaFragments(64, false)
                + driver.mmaFragments(64, true).replace("t_mma", "t_mma_bf16") + driver.mmaTile(2, false)
                + driver.mmaTile(2, true).replace("t_tile", "t_tile_bf16") + driver.atomics() + driver.sharedLoads()
                + driver.exp2Ftz();
        String text = Nvcc.compile("library", source, arch, Nvcc.Output.PTX, List.of()).assertCleanCompile()
                .artifactText();
        // The cubin too, so that ptxas assembles the inline PTX.
        Nvcc.compile("library", source, arch, Nvcc.Output.CUBIN, List.of()).assertCleanCompile();
        assertEquals(tensorCores, text.contains("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"),
                "f16 mma.sync in the PTX");
        assertEquals(tensorCores, text.contains("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"),
                "bf16 mma.sync in the PTX");
        assertEquals(subGroupSize > 0, text.contains("shfl.sync"), "warp shuffles in the PTX");
        assertEquals(subGroupSize > 0, text.contains("shfl.sync.bfly"), "butterfly (xor) shuffles in the PTX");
        assertEquals(tensorCores, text.contains("ldmatrix.sync.aligned.m8n8.x4.shared.b16"), "ldmatrix in the PTX");
        assertEquals(tensorCores, text.contains("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16"),
                "ldmatrix.trans in the PTX");
        assertEquals(tensorCores, text.contains("cp.async.cg.shared.global"), "cp.async in the PTX");
        assertTrue(text.contains("atom.global.add.f32") || text.contains("red.global.add.f32"),
                "a float atomic add in the PTX");
        assertTrue(text.contains("ex2.approx.ftz.f32"), "exp2 with flushed subnormals in the PTX");
    }
}
