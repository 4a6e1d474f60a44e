package io.sparge4j.engine.jit.lib;

import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import org.junit.jupiter.api.Test;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The library's text-level contract: which definitions, prologues and paths each target gets. */
class DeviceLibraryTest {
    private static final DeviceFeatures H200 = new DeviceFeatures(32, true, true, true, 1024, 232448, "cuda|h200");
    private static final DeviceFeatures POCL = new DeviceFeatures(0, false, false, true, 4096, 65536, "opencl|pocl");
    private static final Set<LibraryFunction> ALL = EnumSet.allOf(LibraryFunction.class);

    @Test
    void everyUsedFunctionIsDefinedExactlyOnceWithItsHelpers() {
        for (Dialect dialect : Dialect.values()) {
            for (DeviceFeatures features : List.of(H200, POCL)) {
                String text = DeviceLibrary.forTarget(dialect, features).functions(ALL);
                for (LibraryFunction f : ALL) {
                    assertEquals(1, definitions(text, f.cName()), dialect + " " + features.identity() + ": "
                            + f.cName());
                }
                assertTrue(definitions(text, "sp_lib_pack") <= 1, "helpers once");
            }
        }
    }

    @Test
    void aTileMmaAloneBringsWhatItCalls() {
        String nativeTile = DeviceLibrary.forTarget(Dialect.CUDA, H200).functions(EnumSet.of(
                LibraryFunction.MMA_TILE_F16));
        assertEquals(1, definitions(nativeTile, "sp_mma_f16"), "the native tile calls the fragment MMA");
        String fallbackTile = DeviceLibrary.forTarget(Dialect.OPENCL, POCL).functions(EnumSet.of(
                LibraryFunction.MMA_TILE_F16));
        assertEquals(1, definitions(fallbackTile, "sp_half_to_float"), "the fallback tile converts halves");
        assertEquals("", DeviceLibrary.forTarget(Dialect.OPENCL, POCL).functions(Set.of()));
    }

    @Test
    void prologueSizesScratchForTheFallbacksOnly() {
        DeviceLibrary cuda = DeviceLibrary.forTarget(Dialect.CUDA, H200);
        assertEquals("", cuda.kernelPrologue(EnumSet.of(LibraryFunction.HALF_TO_FLOAT), 256), "no collective");
        String nativeOnly = cuda.kernelPrologue(EnumSet.of(LibraryFunction.SIMD_SUM, LibraryFunction.MMA_F16), 256);
        assertTrue(nativeOnly.contains("const int sp_llid = (int)(threadIdx.x"), nativeOnly);
        assertTrue(nativeOnly.contains("float* const sp_scratch = (float*)0;"), nativeOnly);

        DeviceLibrary cl = DeviceLibrary.forTarget(Dialect.OPENCL, POCL);
        assertTrue(cl.kernelPrologue(EnumSet.of(LibraryFunction.SIMD_SUM), 96)
                .contains("__local float sp_scratch[96];"));
        // 3 sub-groups (ceil(80 / 32)) of 192 floats each exceed the 80 the sub-group fallback needs
        assertTrue(cl.kernelPrologue(EnumSet.of(LibraryFunction.SIMD_SUM, LibraryFunction.MMA_BF16), 80)
                .contains("__local float sp_scratch[576];"));
        // the tile fallback needs no scratch
        assertTrue(cl.kernelPrologue(EnumSet.of(LibraryFunction.MMA_TILE_F16), 64)
                .contains("__local float* const sp_scratch = 0;"));
        DeviceLibrary noTensorCores = DeviceLibrary.forTarget(Dialect.CUDA,
                new DeviceFeatures(32, true, false, true, 1024, 49152, "cuda|old"));
        assertTrue(noTensorCores.kernelPrologue(EnumSet.of(LibraryFunction.MMA_F16), 33)
                .contains("__shared__ float sp_scratch[384];"));
    }

    @Test
    void prologueRefusesAnEmptyWorkGroup() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DeviceLibrary
                .forTarget(Dialect.OPENCL, POCL).kernelPrologue(EnumSet.of(LibraryFunction.SIMD_SUM), 0));
        assertTrue(e.getMessage().contains("workGroupSize is 0"), e.getMessage());
    }

    @Test
    void pathsNameWhatRuns() {
        assertEquals(List.of("half: bit-exact conversions (bit operations)", "sub-groups: native warp shuffles",
                "mma: tensor cores (mma.sync m16n8k16)"), DeviceLibrary.forTarget(Dialect.CUDA, H200)
                .paths(EnumSet.of(LibraryFunction.FLOAT_TO_HALF, LibraryFunction.SIMD_SUM, LibraryFunction.MMA_F16)));
        assertEquals(List.of("atomics: atomic_add, float through an atomic_cmpxchg loop",
                "sub-groups: local-memory fallback (32 wide)", "mma: FMA fallback through local memory"),
                DeviceLibrary.forTarget(Dialect.OPENCL, POCL).paths(EnumSet.of(LibraryFunction.ATOMIC_ADD_GLOBAL_FLOAT,
                        LibraryFunction.SIMD_BROADCAST_FIRST, LibraryFunction.MMA_TILE_BF16)));
        assertTrue(DeviceLibrary.forTarget(Dialect.OPENCL, POCL).paths(Set.of()).isEmpty());
        assertEquals(List.of("exp2, subnormals flushed: ex2.approx.ftz"), DeviceLibrary.forTarget(Dialect.CUDA, H200)
                .paths(EnumSet.of(LibraryFunction.EXP2_FTZ)));
        assertEquals(List.of("exp2, subnormals flushed: exp2 and a range check"), DeviceLibrary.forTarget(
                Dialect.OPENCL, POCL).paths(EnumSet.of(LibraryFunction.EXP2_FTZ)));
    }

    @Test
    void openClNeverUsesCudaOnlyForms() {
        String text = DeviceLibrary.forTarget(Dialect.OPENCL, H200).functions(ALL);
        for (String cudaOnly : List.of("__shfl", "asm", "__device__", "__syncwarp", "atomicAdd", "__fmaf_rn")) {
            assertFalse(text.contains(cudaOnly), cudaOnly);
        }
    }

    private static int definitions(String text, String name) {
        Matcher m = Pattern.compile("\\b(void|float|short|int|unsigned int) " + name + "\\(").matcher(text);
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }
}
