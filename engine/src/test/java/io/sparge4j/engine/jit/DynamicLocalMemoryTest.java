package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.device.SharedMemoryLimit;
import io.sparge4j.engine.device.cuda.CudaDevice;
import io.sparge4j.engine.kernel.KernelEmulator;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.types.arrays.IntArray;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Local arrays above CUDA's 48 KiB of static shared memory: the JIT carves them out of {@code extern __shared__}
 * memory and reports the bytes the launch must ask for, nvcc accepts the result for sm_90 with no static shared
 * memory left, the same kernel gives the reference result on the emulator, on OpenCL and (where there is one) on a
 * CUDA GPU, and the limit check names kernel, bytes asked and bytes available (on a GPU: a 320 KiB kernel is refused
 * at load).
 */
class DynamicLocalMemoryTest {
    private static final int GROUPS = 3;
    private static OpenClTestDevice cl;

    @BeforeAll
    static void open() {
        cl = OpenClTestDevice.open();
    }

    @AfterAll
    static void close() {
        cl.close();
    }

    @Test
    void cudaCarvesLocalArraysAbove48KiBOutOfDynamicSharedMemory() throws Exception {
        GeneratedKernel big = TransposedMatrixLoadsTest.compile("bigLocal", Dialect.CUDA, KernelJitCompileTest.H200,
                TransposedMatrixLoadKernels.BIG_GROUP);
        assertEquals(2L * TransposedMatrixLoadKernels.BIG * 4, big.localBytes());
        assertEquals(2 * TransposedMatrixLoadKernels.BIG * 4, big.dynamicLocalBytes());
        assertTrue(big.source().contains("extern __shared__") && !big.source().contains("__shared__ __align__(16) int"),
                big.source());
        // a small kernel stays static
        GeneratedKernel small = TransposedMatrixLoadsTest.compile("loadMatrixTrans", Dialect.CUDA,
                KernelJitCompileTest.H200, 64);
        assertEquals(TransposedMatrixLoadKernels.TILE * 4L, small.localBytes());
        assertEquals(0, small.dynamicLocalBytes());
        assertFalse(small.source().contains("extern __shared__"), small.source());
        GeneratedKernel opencl = TransposedMatrixLoadsTest.compile("bigLocal", Dialect.OPENCL,
                KernelJitCompileTest.POCL, TransposedMatrixLoadKernels.BIG_GROUP);
        assertEquals(big.localBytes(), opencl.localBytes());
        assertEquals(0, opencl.dynamicLocalBytes(), "OpenCL declares its local arrays statically at any size");
        Nvcc.assumePresent();
        Nvcc.KernelResources r = Nvcc.compileCubin(big.entryName(), big.source(), "sm_90").assertCleanCompile()
                .assertNoSpills(big.entryName());
        System.out.println(r);
        assertEquals(0, r.sharedMemoryBytes(), "static shared memory of " + r);
    }

    @Test
    void bigLocalArraysOnTheEmulator() {
        int[] in = TransposedMatrixLoadsTest.randomInts(3, GROUPS * TransposedMatrixLoadKernels.BIG);
        IntArray src = IntArray.fromArray(in);
        IntArray out = new IntArray(in.length);
        WorkerGrid1D grid = new WorkerGrid1D(GROUPS * TransposedMatrixLoadKernels.BIG_GROUP);
        grid.setLocalWork(TransposedMatrixLoadKernels.BIG_GROUP, 1, 1);
        new KernelEmulator().execute(grid, ctx -> TransposedMatrixLoadKernels.bigLocal(ctx, src, out));
        assertArrayEquals(TransposedMatrixLoadKernels.expectedBigLocal(in, GROUPS), out.toHeapArray());
    }

    @Test
    void bigLocalArraysOnOpenCl() {
        cl.device("run a kernel with 64 KiB of local arrays on");
        int[] in = TransposedMatrixLoadsTest.randomInts(4, GROUPS * TransposedMatrixLoadKernels.BIG);
        GeneratedKernel k = TransposedMatrixLoadsTest.compile("bigLocal", Dialect.OPENCL, KernelJitCompileTest.POCL,
                TransposedMatrixLoadKernels.BIG_GROUP);
        long available = cl.device("check local memory on").features().localMemoryBytes();
        org.junit.jupiter.api.Assumptions.assumeTrue(available >= k.localBytes(), () -> "the OpenCL device has "
                + available + " bytes of local memory, the kernel needs " + k.localBytes());
        int[] got = TransposedMatrixLoadsTest.launch(cl, k, (long) GROUPS * TransposedMatrixLoadKernels.BIG_GROUP,
                TransposedMatrixLoadKernels.BIG_GROUP, new Object[] {null, in, new int[in.length]}, 2, in.length);
        assertArrayEquals(TransposedMatrixLoadKernels.expectedBigLocal(in, GROUPS), got);
    }

    /**
     * On a GPU: a kernel with 64 KiB of local arrays loads (the dynamic limit raised) and gives the reference result;
     * one with 320 KiB is refused at load, naming the kernel and the bytes.
     */
    @Test
    void cudaLaunchesDynamicSharedMemoryAndRefusesMoreThanTheOptInMaximum() {
        org.junit.jupiter.api.Assumptions.assumeTrue(CudaDevice.deviceCount() > 0, "no CUDA device: skipped");
        try (CudaDevice device = CudaDevice.open(0)) {
            GeneratedKernel big = KernelJit.shared().compile(method("bigLocal"), new Object[3], Dialect.CUDA,
                    device.features(), TransposedMatrixLoadKernels.BIG_GROUP);
            int[] in = TransposedMatrixLoadsTest.randomInts(5, GROUPS * TransposedMatrixLoadKernels.BIG);
            DeviceBuffer src = device.allocate(4L * in.length);
            DeviceBuffer dst = device.allocate(4L * in.length);
            device.copyToDevice(MemorySegment.ofArray(in), src, 0);
            device.launch(device.load(big), new long[] {(long) GROUPS * TransposedMatrixLoadKernels.BIG_GROUP},
                    new int[] {TransposedMatrixLoadKernels.BIG_GROUP},
                    big.parameters().stream().map(p -> (Object) (p.javaIndex() == 1 ? src : dst)).toList());
            int[] got = new int[in.length];
            device.copyToHost(dst, 0, MemorySegment.ofArray(got));
            assertArrayEquals(TransposedMatrixLoadKernels.expectedBigLocal(in, GROUPS), got);
            GeneratedKernel huge = KernelJit.shared().compile(method("hugeLocal"), new Object[3], Dialect.CUDA,
                    device.features(), TransposedMatrixLoadKernels.BIG_GROUP);
            BackendException e = assertThrows(BackendException.class, () -> device.load(huge));
            assertTrue(e.getMessage().contains("hugeLocal") && e.getMessage().contains("327680")
                    && e.getMessage().contains("OPTIN"), e.getMessage());
        }
    }

    private static java.lang.reflect.Method method(String name) {
        return java.util.Arrays.stream(TransposedMatrixLoadKernels.class.getMethods())
                .filter(m -> m.getName().equals(name)).findFirst().orElseThrow();
    }

    @Test
    void theLimitCheckNamesKernelBytesAskedAndAvailable() {
        assertDoesNotThrow(() -> SharedMemoryLimit.check("K.k", 232448, 232448, "NVIDIA H200 #0", "opt-in"));
        BackendException e = assertThrows(BackendException.class,
                () -> SharedMemoryLimit.check("FlashForwardMmaKernels.flashForwardFa2BF16", 98304, 65536,
                        "Some GPU #0", "CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN"));
        String m = e.getMessage();
        assertTrue(m.contains("FlashForwardMmaKernels.flashForwardFa2BF16") && m.contains("98304")
                && m.contains("65536") && m.contains("Some GPU #0")
                && m.contains("CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN"), m);
    }
}
