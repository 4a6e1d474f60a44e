package io.sparge4j.engine.jit;

import io.sparge4j.engine.compute.DeviceBuffer;
import io.sparge4j.engine.compute.DeviceFeatures;
import io.sparge4j.engine.compute.Dialect;
import io.sparge4j.engine.compute.GeneratedKernel;
import io.sparge4j.engine.compute.KernelParameter;
import io.sparge4j.engine.device.BackendException;
import io.sparge4j.engine.kernel.KernelEmulator;
import io.sparge4j.kernels.KernelContext;
import io.sparge4j.kernels.WorkerGrid1D;
import io.sparge4j.kernels.types.arrays.IntArray;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.MemorySegment;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link KernelContext#mmaLoadMatrixX4} and the asynchronous copies against Java references built from PTX's
 * definitions (which lane gives which row address; which lane receives which elements), on the emulator and on
 * OpenCL (PoCL: the plain-load fallbacks); the CUDA form compiles with nvcc to {@code ldmatrix} and {@code cp.async}
 * for sm_90 and to plain loads for a device without tensor cores. Bit-exact comparisons on random ints.
 */
class SharedMemoryLoadsTest {
    /** sm_75-like: warps but no tensor-core MMA, so ldmatrix and cp.async take the fallbacks. */
    private static final DeviceFeatures TURING = new DeviceFeatures(32, true, false, true, 1024, 65536,
            "cuda|Turing|sm_75|test");
    private static OpenClTestDevice cl;

    @BeforeAll
    static void open() {
        cl = OpenClTestDevice.open();
    }

    @AfterAll
    static void close() {
        cl.close();
    }

    private static int[] randomInts(long seed, int n) {
        Random rnd = new Random(seed);
        int[] v = new int[n];
        for (int i = 0; i < n; i++) {
            v[i] = rnd.nextInt();
        }
        return v;
    }


    /** A: 16x16 from rows of 20 ints (offset 8); Bt: two 8-column tiles from rows of 12 ints (offset 4). */
    @ParameterizedTest(name = "offset {0} ld {1} steps {2} {3}")
    @CsvSource({"8, 20, 160, 4", "4, 12, 4, 96", "0, 36, 16, 288"})
    void loadMatrixOnTheEmulator(int offset, int ld, int step1, int step2) {
        int[] in = randomInts(31L * ld + step1, SharedMemoryLoadKernels.TILE);
        IntArray src = IntArray.fromArray(in);
        IntArray out = new IntArray(2 * 32 * 4);
        WorkerGrid1D grid = new WorkerGrid1D(64);
        grid.setLocalWork(64, 1, 1);
        new KernelEmulator().execute(grid, ctx -> SharedMemoryLoadKernels.loadMatrix(ctx, src, out, offset, ld,
                step1, step2));
        assertArrayEquals(SharedMemoryLoadKernels.expectedLoadMatrix(in, 2, offset, ld, step1, step2), out.toHeapArray());
    }

    /** The A and B conventions of the Javadoc give exactly mmaLoadA's and mmaLoadBTransposed's fragments. */
    @Test
    void loadMatrixGivesTheMmaFragmentsOfTheDocumentedConventions() {
        int ld = 20;
        int[] in = randomInts(5, 32 * ld);
        short[] halves = new short[2 * in.length];
        for (int i = 0; i < in.length; i++) {
            halves[2 * i] = (short) in[i];
            halves[2 * i + 1] = (short) (in[i] >>> 16);
        }
        List<String> mismatches = java.util.Collections.synchronizedList(new ArrayList<>());
        WorkerGrid1D grid = new WorkerGrid1D(32);
        grid.setLocalWork(32, 1, 1);
        new KernelEmulator().execute(grid, ctx -> {
            int[] tile = ctx.allocateIntLocalArray(in.length);
            System.arraycopy(in, 0, tile, 0, in.length);
            int[] regs = new int[4];
            short[] expected = new short[8];
            // A: rows 3 .. 18, k 8 .. 23 (int 4 of the row)
            ctx.mmaLoadMatrixX4(tile, 3 * ld + 4, ld, 8 * ld, 4, regs, 0);
            ctx.mmaLoadA(halves, 2 * (3 * ld + 4), 2 * ld, expected, 0);
            compare("A", ctx.simdLaneId(), regs, expected, 8, mismatches);
            // Bt: columns n 5 .. 20, k 0 .. 15: B fragments of columns 5 .. 12, then 13 .. 20
            ctx.mmaLoadMatrixX4(tile, 5 * ld, ld, 4, 8 * ld, regs, 0);
            ctx.mmaLoadBTransposed(halves, 2 * (5 * ld), 2 * ld, expected, 0);
            ctx.mmaLoadBTransposed(halves, 2 * (13 * ld), 2 * ld, expected, 4);
            compare("B", ctx.simdLaneId(), regs, expected, 8, mismatches);
        });
        assertTrue(mismatches.isEmpty(), () -> String.join("\n", mismatches));
    }

    private static void compare(String what, int lane, int[] regs, short[] expected, int n, List<String> out) {
        for (int i = 0; i < n; i++) {
            short got = (short) (regs[i / 2] >>> (16 * (i % 2)));
            if (got != expected[i]) {
                out.add(what + " lane " + lane + " element " + i + ": " + got + ", expected " + expected[i]);
            }
        }
    }

    @Test
    void loadMatrixRefusesUnalignedRows() {
        IntArray src = IntArray.fromArray(randomInts(6, SharedMemoryLoadKernels.TILE));
        IntArray out = new IntArray(2 * 32 * 4);
        WorkerGrid1D grid = new WorkerGrid1D(64);
        grid.setLocalWork(64, 1, 1);
        RuntimeException e = assertThrows(RuntimeException.class, () -> new KernelEmulator().execute(grid,
                ctx -> SharedMemoryLoadKernels.loadMatrix(ctx, src, out, 2, 20, 160, 4)));
        assertTrue(String.valueOf(rootMessage(e)).contains("multiples of 4"), rootMessage(e));
    }


    @Test
    void asyncCopyOnTheEmulator() {
        int groups = 3;
        int n = groups * 2 * SharedMemoryLoadKernels.COPY_GROUP * 4;
        int[] in = randomInts(7, n);
        IntArray src = IntArray.fromArray(in);
        IntArray out = new IntArray(n);
        WorkerGrid1D grid = new WorkerGrid1D(groups * SharedMemoryLoadKernels.COPY_GROUP);
        grid.setLocalWork(SharedMemoryLoadKernels.COPY_GROUP, 1, 1);
        new KernelEmulator().execute(grid, ctx -> SharedMemoryLoadKernels.asyncCopy(ctx, src, out, n));
        assertArrayEquals(SharedMemoryLoadKernels.expectedAsyncCopy(in, groups), out.toHeapArray());
    }

    /** The emulator performs a copy only at the wait that covers it, so reading early shows stale data. */
    @Test
    void asyncCopyLandsOnlyAtTheWaitOnTheEmulator() {
        IntArray src = IntArray.fromArray(randomInts(8, 4));
        int[][] seen = new int[3][];
        WorkerGrid1D grid = new WorkerGrid1D(1);
        grid.setLocalWork(1, 1, 1);
        new KernelEmulator().execute(grid, ctx -> {
            int[] tile = ctx.allocateIntLocalArray(8);
            ctx.asyncCopy16(tile, 0, src, 0, 4);
            ctx.asyncCommit();
            ctx.asyncCopy16(tile, 4, src, 0, 2);
            ctx.asyncCommit();
            seen[0] = tile.clone();
            ctx.asyncWait(1);
            seen[1] = tile.clone();
            ctx.asyncWait(0);
            seen[2] = tile.clone();
        });
        int[] s = src.toHeapArray();
        assertArrayEquals(new int[8], seen[0], "before any wait");
        assertArrayEquals(new int[] {s[0], s[1], s[2], s[3], 0, 0, 0, 0}, seen[1], "after wait(1)");
        assertArrayEquals(new int[] {s[0], s[1], s[2], s[3], s[0], s[1], 0, 0}, seen[2], "after wait(0)");
    }

    @Test
    void loadMatrixOnOpenCl() {
        cl.device("run the ldmatrix fallback on");
        int[][] cases = {{8, 20, 160, 4}, {4, 12, 4, 96}, {0, 36, 16, 288}};
        for (int[] c : cases) {
            int[] in = randomInts(41L * c[1] + c[2], SharedMemoryLoadKernels.TILE);
            int[] out = new int[2 * 32 * 4];
            GeneratedKernel k = compile("loadMatrix", Dialect.OPENCL, KernelJitCompileTest.POCL, 64);
            int[] got = launch(k, 64, 64, new Object[] {null, in, out, c[0], c[1], c[2], c[3]}, 2, out.length);
            assertArrayEquals(SharedMemoryLoadKernels.expectedLoadMatrix(in, 2, c[0], c[1], c[2], c[3]), got, "case " + c[1]);
        }
    }

    @Test
    void asyncCopyOnOpenCl() {
        cl.device("run the cp.async fallback on");
        int groups = 3;
        int n = groups * 2 * SharedMemoryLoadKernels.COPY_GROUP * 4;
        int[] in = randomInts(9, n);
        GeneratedKernel k = compile("asyncCopy", Dialect.OPENCL, KernelJitCompileTest.POCL,
                SharedMemoryLoadKernels.COPY_GROUP);
        int[] got = launch(k, groups * SharedMemoryLoadKernels.COPY_GROUP, SharedMemoryLoadKernels.COPY_GROUP,
                new Object[] {null, in, new int[n], n}, 2, n);
        assertArrayEquals(SharedMemoryLoadKernels.expectedAsyncCopy(in, groups), got);
    }

    @Test
    void cudaCompilesToLdmatrixAndCpAsyncOnSm90AndPlainLoadsWithoutTensorCores() throws Exception {
        GeneratedKernel load = compile("loadMatrix", Dialect.CUDA, KernelJitCompileTest.H200, 64);
        GeneratedKernel copy = compile("asyncCopy", Dialect.CUDA, KernelJitCompileTest.H200,
                SharedMemoryLoadKernels.COPY_GROUP);
        GeneratedKernel loadOld = compile("loadMatrix", Dialect.CUDA, TURING, 64);
        GeneratedKernel copyOld = compile("asyncCopy", Dialect.CUDA, TURING, SharedMemoryLoadKernels.COPY_GROUP);
        assertTrue(!loadOld.source().contains("ldmatrix.sync") && !copyOld.source().contains("cp.async."),
                "no ldmatrix or cp.async below sm_80:\n" + loadOld.source() + copyOld.source());
        Nvcc.assumePresent();
        String ptxLoad = Nvcc.compile("loadMatrix", load.source(), "sm_90", Nvcc.Output.PTX, List.of())
                .assertCleanCompile().artifactText();
        String ptxCopy = Nvcc.compile("asyncCopy", copy.source(), "sm_90", Nvcc.Output.PTX, List.of())
                .assertCleanCompile().artifactText();
        assertTrue(ptxLoad.contains("ldmatrix.sync.aligned.m8n8.x4.shared.b16"), ptxLoad);
        assertTrue(ptxCopy.contains("cp.async.cg.shared.global") && ptxCopy.contains("cp.async.wait_group 1")
                && ptxCopy.contains("cp.async.wait_group 0") && ptxCopy.contains("cp.async.commit_group"), ptxCopy);
        for (GeneratedKernel k : List.of(load, copy)) {
            System.out.println(Nvcc.compileCubin(k.entryName(), k.source(), "sm_90").assertCleanCompile()
                    .assertNoSpills(k.entryName()));
        }
        for (GeneratedKernel k : List.of(loadOld, copyOld)) {
            System.out.println(Nvcc.compileCubin(k.entryName(), k.source(), "sm_75").assertCleanCompile()
                    .assertNoSpills(k.entryName()));
        }
    }

    private static GeneratedKernel compile(String name, Dialect d, DeviceFeatures f,
            int group) {
        Method m = java.util.Arrays.stream(SharedMemoryLoadKernels.class.getMethods())
                .filter(x -> x.getName().equals(name)).findFirst().orElseThrow();
        Object[] args = new Object[m.getParameterCount()];
        args[0] = new KernelContext();
        return KernelJit.shared().compile(m, args, d, f, group);
    }

    /** Launches on OpenCL with int[] arrays as buffers by Java index; returns the int buffer at {@code outIndex}. */
    private static int[] launch(GeneratedKernel k, long global, int local, Object[] javaArgs, int outIndex, int n) {
        List<DeviceBuffer> buffers = new ArrayList<>();
        List<Object> args = new ArrayList<>();
        DeviceBuffer out = null;
        for (KernelParameter p : k.parameters()) {
            Object a = javaArgs[p.javaIndex()];
            switch (p.role()) {
                case BUFFER -> {
                    DeviceBuffer b = cl.upload(MemorySegment.ofArray((int[]) a));
                    buffers.add(b);
                    args.add(b);
                    if (p.javaIndex() == outIndex) {
                        out = b;
                    }
                }
                case BUFFER_SIZE -> args.add(((int[]) a).length);
                case SCALAR -> args.add(a);
            }
        }
        try {
            cl.device("launch on").launch(cl.device("launch on").load(k), new long[] {global}, new int[] {local},
                    args);
        } catch (BackendException e) {
            throw new AssertionError(e.getMessage() + "\n" + Nvcc.numbered(k.source()), e);
        }
        int[] result = new int[n];
        cl.read(out, MemorySegment.ofArray(result));
        return result;
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return t.getMessage();
    }
}
