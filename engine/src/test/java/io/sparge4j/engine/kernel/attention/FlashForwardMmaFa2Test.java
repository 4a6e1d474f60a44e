package io.sparge4j.engine.kernel.attention;

import io.sparge4j.engine.compute.ComputeDevice;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.device.cuda.CudaDevice;
import io.sparge4j.engine.execution.BackendSelection;
import io.sparge4j.engine.execution.ExecutionBackends;
import io.sparge4j.engine.device.opencl.OpenClDevice;
import io.sparge4j.engine.jit.KernelJit;
import io.sparge4j.engine.jit.Nvcc;
import io.sparge4j.engine.kernel.attention.FlashForwardMmaKernelsTest.Masks;
import io.sparge4j.engine.kernel.attention.FlashForwardMmaKernelsTest.Reference;
import io.sparge4j.engine.sparse.BlockMask;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.attention.FlashForwardMmaKernels;
import io.sparge4j.kernels.attention.FlashForwardMmaTasks;
import io.sparge4j.kernels.attention.FlashForwardMmaTasks.Variant;
import io.sparge4j.kernels.types.arrays.FloatArray;
import io.sparge4j.kernels.types.arrays.HalfWidthFloatArray;
import io.sparge4j.kernels.types.arrays.IntArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The FlashAttention-2-style tensor-core forward ({@link FlashForwardMmaKernels#flashForwardFa2BF16},
 * {@link FlashForwardMmaKernels#flashForwardFa2F16}, {@link Variant#FA2}) on the emulator (which delays each async
 * copy to the wait that covers it, so a wrong stage or wait count fails) and on the first OpenCL device, against
 * float64 attention on the same rounded inputs and masks as {@link FlashForwardMmaKernelsTest}, with its tolerances
 * (P rounded to 16 bits: {@code 1.25 u sum p |v| / l} plus f16 subnormals plus {@code 1e-5 (1 + |ref|)} per output,
 * lse within 5e-5). Masks: hybrid, dense, one block per row with a last row keeping none; N = 200, 1000 and 129
 * (none a multiple of 128), d = 64 and 128. The CUDA source must compile for sm_90 without spills, its local
 * arrays in dynamic shared memory at d = 128.
 */
@Timeout(value = 900, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FlashForwardMmaFa2Test {
    private static final Pattern LDMATRIX = Pattern.compile("ldmatrix\\.sync\\.aligned\\.m8n8\\.x4\\.shared");
    private static final Pattern LDMATRIX_TRANS = Pattern.compile("ldmatrix\\.sync\\.aligned\\.m8n8\\.x4\\.trans");
    private static final Pattern CP_ASYNC = Pattern.compile("cp\\.async\\.cg");

    /** (backend, bf16, heads, N, d, mask). */
    static List<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (Masks mask : Masks.values()) {
            for (int d : new int[] {64, 128}) {
                out.add(Arguments.of("emulator", d == 64, 2, 200, d, mask));
                out.add(Arguments.of("emulator", d == 128, 1, 1000, d, mask));
                out.add(Arguments.of("opencl", true, 3, 200, d, mask));
                out.add(Arguments.of("opencl", false, 3, 200, d, mask));
                out.add(Arguments.of("opencl", d == 128, 2, 1000, d, mask));
            }
            out.add(Arguments.of("emulator", false, 1, 129, 128, mask));
            out.add(Arguments.of("opencl", true, 2, 129, 64, mask));
            // on a GPU: the 96 KiB dynamic shared memory path (limit raised at load, bytes passed at launch)
            out.add(Arguments.of("cuda", true, 3, 1000, 128, mask));
            out.add(Arguments.of("cuda", false, 2, 129, 128, mask));
            out.add(Arguments.of("cuda", true, 2, 200, 64, mask));
        }
        return out;
    }

    @ParameterizedTest(name = "{0} bf16={1} heads={2} N={3} d={4} {5}")
    @MethodSource("cases")
    void matchesFloat64OnRoundedInputs(String backend, boolean bf16, int heads, int n, int d, Masks kind) {
        if (backend.equals("opencl")) {
            assumeTrue(!OpenClDevice.list().isEmpty(),
                    "no OpenCL device (install pocl-opencl-icd): OpenCL case skipped");
            // NVIDIA's OpenCL offers 48 KiB per work-group (no opt-in as in CUDA): FA2 at d = 128 needs 96 KiB there
            long needed = FlashForwardMmaTasks.localBytes(Variant.FA2, d);
            long available;
            try (ComputeDevice device = ExecutionBackends.openDevice(
                    BackendSelection.withOpenClDeviceFromEnvironment(backend))) {
                available = device.features().localMemoryBytes();
            }
            assumeTrue(available >= needed, () -> "the OpenCL device has " + available + " bytes of local memory, FA2 at"
                    + " d=" + d + " needs " + needed + ": OpenCL case skipped (the default variant serves this device)");
        }
        if (backend.equals("cuda")) {
            assumeTrue(CudaDevice.deviceCount() > 0, "no CUDA device: CUDA case skipped");
        }
        Random rnd = new Random(1000L * n + 10L * d + kind.ordinal() + 7L * heads + (bf16 ? 5 : 1) + 333);
        HalfWidthFloatArray q = FlashForwardMmaKernelsTest.rounded(rnd, heads * n * d, 1.5, bf16);
        HalfWidthFloatArray k = FlashForwardMmaKernelsTest.rounded(rnd, heads * n * d, 1.5, bf16);
        HalfWidthFloatArray v = FlashForwardMmaKernelsTest.rounded(rnd, heads * n * d, 1.0, bf16);
        BlockMask mask = FlashForwardMmaKernelsTest.mask(kind, q.toHeapArray(), k.toHeapArray(), heads, n, d, rnd);
        float scale = (float) (1 / Math.sqrt(d));

        float[][] got = FlashForwardMmaKernelsTest.runKernel(backend, bf16, q, k, v, mask, heads, n, d, scale,
                Variant.FA2);
        Reference ref = FlashForwardMmaKernelsTest.float64(q.toHeapArray(), k.toHeapArray(), v.toHeapArray(), mask,
                heads, n, d, scale, bf16);
        FlashForwardMmaKernelsTest.compare(backend + " fa2" + (bf16 ? " bf16" : " f16"), got[0], got[1], ref,
                heads, n, d);
    }

    @Test
    void fa2IsNamedByItsLabel() {
        assertEquals(Variant.FA2, Variant.of("fa2"));
        assertEquals("fa2", Variant.FA2.label());
    }

    /** localBytes agrees with what the JIT declares; fitting falls back to the register kernel where FA2 is too big. */
    @ParameterizedTest(name = "d={0}")
    @CsvSource({"64", "128"})
    void localBytesMatchTheJitAndFittingFallsBack(int d) throws Exception {
        for (Variant variant : Variant.values()) {
            String name = switch (variant) {
                case REGISTERS -> "flashForward" + d + "BF16";
                case ASYNC -> "flashForwardAsyncBF16";
                case FA2 -> "flashForwardFa2BF16";
            };
            boolean constantD = variant != Variant.REGISTERS;
            Method m = constantD
                    ? FlashForwardMmaKernels.class.getMethod(name, KernelContext.class, IntArray.class, IntArray.class,
                            IntArray.class, FloatArray.class, FloatArray.class, IntArray.class, IntArray.class,
                            int.class, float.class, int.class)
                    : FlashForwardMmaKernels.class.getMethod(name, KernelContext.class, IntArray.class, IntArray.class,
                            IntArray.class, FloatArray.class, FloatArray.class, IntArray.class, IntArray.class,
                            int.class, float.class);
            Object[] args = new Object[m.getParameterCount()];
            args[0] = new KernelContext();
            if (constantD) {
                args[10] = d;
            }
            GeneratedKernel kernel = KernelJit.shared().compile(m, args, Dialect.CUDA,
                    FlashForwardMmaKernelsTest.H200_NO_FP64, variant == Variant.FA2 ? FlashForwardMmaKernels.FA2_GROUP
                            : FlashForwardMmaKernels.GROUP);
            assertEquals(kernel.localBytes(), FlashForwardMmaTasks.localBytes(variant, d), variant + " d=" + d);
        }
        long fa2 = FlashForwardMmaTasks.localBytes(Variant.FA2, d);
        assertEquals(Variant.FA2, FlashForwardMmaTasks.fitting(Variant.FA2, d, 232448));
        assertEquals(Variant.FA2, FlashForwardMmaTasks.fitting(Variant.FA2, d, fa2));
        assertEquals(Variant.REGISTERS, FlashForwardMmaTasks.fitting(Variant.FA2, d, fa2 - 1));
        assertEquals(Variant.ASYNC, FlashForwardMmaTasks.fitting(Variant.ASYNC, d, 49152));
    }

    /**
     * Compiles for an H200 (sm_90) with nvcc: no spills, no stack frame, at most 255 registers (128 work-items, so
     * two work-groups per multiprocessor by registers); the local arrays are dynamic (96 KiB) at d = 128 and static
     * (48 KiB) at d = 64; the PTX has the 4 d MMAs of one unrolled trip, ldmatrix, ldmatrix.trans and cp.async.
     * Prints ptxas' registers and shared memory.
     */
    @ParameterizedTest(name = "d={0} bf16={1}")
    @CsvSource({"64, true", "128, true", "64, false", "128, false"})
    void compilesWithNvccWithoutSpills(int d, boolean bf16) throws Exception {
        Method m = FlashForwardMmaKernels.class.getMethod("flashForwardFa2" + (bf16 ? "BF16" : "F16"),
                KernelContext.class, IntArray.class, IntArray.class, IntArray.class, FloatArray.class,
                FloatArray.class, IntArray.class, IntArray.class, int.class, float.class, int.class);
        Object[] args = new Object[m.getParameterCount()];
        args[0] = new KernelContext();
        args[8] = 0;
        args[9] = 0f;
        args[10] = d;
        GeneratedKernel kernel = KernelJit.shared().compile(m, args, Dialect.CUDA,
                FlashForwardMmaKernelsTest.H200_NO_FP64, FlashForwardMmaKernels.FA2_GROUP);
        long tiles = (FlashForwardMmaKernels.QUERY_BLOCK + 4L * FlashForwardMmaKernels.KEY_BLOCK) * d * 2;
        assertEquals(tiles, kernel.localBytes(), "local bytes");
        assertEquals(d == 128 ? tiles : 0, kernel.dynamicLocalBytes(), "dynamic local bytes");
        // kept for reading its SASS without a GPU (bench/sass.sh)
        Path dir = Path.of("target", "jit-sources");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(m.getName() + "-d" + d + "-H200.cu"), kernel.source());
        Nvcc.assumePresent();
        Nvcc.Result result = Nvcc.compileCubin(m.getName(), kernel.source(), "sm_90").assertCleanCompile();
        Nvcc.KernelResources resources = result.assertNoSpills(m.getName());
        assertTrue(resources.registers() <= 255, resources.toString());
        assertEquals(d == 128 ? 0 : tiles, resources.sharedMemoryBytes(), "static shared memory: " + resources);
        String ptx = Nvcc.compile(m.getName(), kernel.source(), "sm_90", Nvcc.Output.PTX, List.of())
                .assertCleanCompile().artifactText();
        int mmas = FlashForwardMmaKernelsTest.count(FlashForwardMmaKernelsTest.MMA, ptx);
        assertEquals(2 * 2 * (d / 16) * 8, mmas, "MMAs in the PTX (the loop body, unrolled)");
        int ldmatrix = FlashForwardMmaKernelsTest.count(LDMATRIX, ptx);
        int trans = FlashForwardMmaKernelsTest.count(LDMATRIX_TRANS, ptx);
        int copies = FlashForwardMmaKernelsTest.count(CP_ASYNC, ptx);
        assertEquals(3 * d / 8, ldmatrix, "ldmatrix.x4 (Q: d/8, K: d/4 per trip)");
        assertEquals(d / 4, trans, "ldmatrix.x4.trans (V) per trip");
        assertTrue(copies > 0, "expected cp.async in the PTX");
        System.out.println("fa2 d=" + d + " bf16=" + bf16 + ": " + resources + ", " + kernel.dynamicLocalBytes()
                + " bytes dynamic shared; PTX: " + mmas + " mma.sync, " + ldmatrix + " ldmatrix, " + trans
                + " ldmatrix.trans, " + copies + " cp.async, "
                + FlashForwardMmaKernelsTest.count(FlashForwardMmaKernelsTest.LDS, ptx) + " scalar ld.shared");
    }
}
